"""Stage the interop corpus: the third-party files of ``sources.json``, exactly as published.

The corpus is other people's data (CDS Hooks spec pages, the Da Vinci CRD reference
implementation, the Inferno CRD test kit, HAPI FHIR), so it is not committed to this
repository; ``sources.json`` (committed) names each file by repository, path and commit with
the SHA-256 of its published text, and this script writes them to a corpus folder that the
interop tests read (``corpus.find_corpus``).

Where the text comes from: a bare git mirror of the repository (``<mirror>/<owner>+<name>/repo``,
read with ``git show COMMIT:PATH``), else a file already placed under ``--manual`` by hand
(``<manual>/<id>.txt``; used for HAPI FHIR, read from a file index). Either way the SHA-256
must match ``sources.json``, so nothing but the published text is ever staged. For a hook
page (markdown) the file is the ``block``-th fenced ``json`` block, verbatim.

    python -m tests.interop.stage_corpus --mirror /work/.mirror --out tests/interop/corpus
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "sources.json"
_JSON_BLOCK = re.compile(r"^```json[ \t]*\n(.*?)^```", re.S | re.M)


def load_sources() -> list[dict[str, Any]]:
    sources: list[dict[str, Any]] = json.loads(SOURCES.read_text(encoding="utf-8"))["sources"]
    return sources


def _git_show(mirror: str, repo: str, commit: str, path: str) -> str:
    git_dir = Path(mirror) / repo.replace("/", "+") / "repo"
    if not git_dir.is_dir():
        raise FileNotFoundError(f"no mirror of {repo} at {git_dir}")
    result = subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", f"{commit}:{path}"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return result.stdout.decode("utf-8")


def published_text(item: dict[str, Any], mirror: str, manual: str | None) -> str:
    """The published text of one source: the whole file, or one ``json`` block of a page."""
    manual_file = Path(manual) / f"{item['id']}.txt" if manual else None
    if manual_file is not None and manual_file.is_file():
        text = manual_file.read_text(encoding="utf-8")
    else:
        text = _git_show(mirror, item["repo"], item["commit"], item["path"])
        if "block" in item:
            text = _JSON_BLOCK.findall(text)[item["block"]]
    return text


def stage(mirror: str, out: Path, manual: str | None) -> tuple[int, list[str]]:
    out.mkdir(parents=True, exist_ok=True)
    staged, problems = 0, []
    for item in load_sources():
        try:
            text = published_text(item, mirror, manual)
        except (OSError, subprocess.SubprocessError, IndexError) as error:
            problems.append(f"{item['id']}: {error}")
            continue
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if digest != item["sha256"]:
            problems.append(f"{item['id']}: sha256 {digest} differs from sources.json")
            continue
        (out / f"{item['id']}.txt").write_text(text, encoding="utf-8")
        staged += 1
    return staged, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", default="/work/.mirror", help="folder of bare git mirrors")
    parser.add_argument("--manual", default=None, help="folder of hand-placed <id>.txt files")
    parser.add_argument("--out", default=str(HERE / "corpus"), help="corpus folder to write")
    args = parser.parse_args()
    staged, problems = stage(args.mirror, Path(args.out), args.manual)
    for problem in problems:
        print(f"not staged: {problem}", file=sys.stderr)
    print(f"staged {staged} of {len(load_sources())} files into {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
