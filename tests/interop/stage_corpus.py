"""Check, and refresh, the interop corpus: the third-party files of ``sources.json``.

The corpus (``tests/interop/corpus/<id>.txt``, committed) is other people's published data:
CDS Hooks spec and hook pages, the Da Vinci CRD reference implementation, the Inferno CRD
test kit, HAPI FHIR and Oracle Health (Cerner) examples. ``sources.json`` is its provenance
index: for each file the repository, path and commit it was read at, the id of that version
in the search tool's file index, for a hook page the index of the ``json`` block, and the
SHA-256 of the file's text.

**Checking** (what CI does, through the tests, and ``--check``): every file named in
``sources.json`` is present and has its SHA-256, and the folder holds nothing else.

**Refreshing** needs the text itself, which was read with the search tool's ``read_file``
(repository, path, commit; pages joined by ``offset``). That tool serves developers, not CI,
so a refresh is a developer's step: save each ``read_file`` answer (the JSON object it
returns, one file per page) in a folder, then

    python -m tests.interop.stage_corpus --answers DIR --out tests/interop/corpus

which joins the pages of each file version (by its index id), takes the ``block``-th fenced
``json`` block of a hook page, or converts one Ruby constant of a Cerner example to JSON
(``ruby_literal``, after checking the Ruby file's own SHA-256), and writes the result only if
its SHA-256 is the one ``sources.json`` records.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.interop.ruby_literal import ruby_constants

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "sources.json"
CORPUS = HERE / "corpus"
_JSON_BLOCK = re.compile(r"^```json[ \t]*\n(.*?)^```", re.S | re.M)


def load_sources(path: Path = SOURCES) -> list[dict[str, Any]]:
    sources: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["sources"]
    return sources


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def corpus_file(directory: Path, source_id: str) -> Path:
    return directory / f"{source_id}.txt"


def json_block(markdown: str, block: int) -> str:
    """The ``block``-th fenced ``json`` block of a page, verbatim (fence lines excluded).

    A fence closes only at the start of a line, as Markdown renders it, so a block whose
    closing fence follows its last character (the spec has one: ``}```) runs on to the next
    fence at a line start; block numbers count the blocks this rule finds.
    """
    blocks: list[str] = _JSON_BLOCK.findall(markdown)
    return blocks[block]


def join_pages(pages: Iterable[dict[str, Any]]) -> str:
    """The whole text of one file version from its ``read_file`` answers (any order)."""
    ordered = sorted(pages, key=lambda page: int(page["offset"]))
    text = ""
    for page in ordered:
        if int(page["offset"]) != len(text):
            raise ValueError(f"index id {page['id']}: a page is missing before {page['offset']}")
        text += page["text"]
    total = int(ordered[-1]["total_chars"])
    if len(text) != total:
        raise ValueError(f"index id {ordered[-1]['id']}: {len(text)} of {total} characters")
    return text


def read_answers(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Saved ``read_file`` answers, grouped by the index id of the file version."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.json")):
        answer = json.loads(path.read_text(encoding="utf-8"))
        grouped.setdefault(str(answer["id"]), []).append(answer)
    return grouped


def converted_json(value: Any) -> str:
    """The one serialisation used for converted files (so their SHA-256 is reproducible)."""
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def published_text(item: dict[str, Any], answers: dict[str, list[dict[str, Any]]]) -> str:
    """The text of one corpus file, from the saved answers of its file version."""
    text = join_pages(answers[str(item["index_id"])])
    conversion = item.get("convert")
    if conversion is not None:
        if sha256(text) != conversion["source_sha256"]:
            raise ValueError(f"{item['id']}: the Ruby file's SHA-256 differs from sources.json")
        return converted_json(ruby_constants(text)[conversion["constant"]])
    if item.get("block") is not None:
        return json_block(text, int(item["block"]))
    return text


def problem_with(directory: Path, item: dict[str, Any]) -> str | None:
    """Why the corpus file of one entry cannot be used as published, or None."""
    path = corpus_file(directory, item["id"])
    if not path.is_file():
        return f"{item['id']}: {path} is missing"
    if hashlib.sha256(path.read_bytes()).hexdigest() != item["sha256"]:
        return f"{item['id']}: {path} differs from its SHA-256 in sources.json"
    return None


def check(directory: Path = CORPUS, sources: list[dict[str, Any]] | None = None) -> list[str]:
    """Every problem with a corpus folder: missing files, changed files, stray files."""
    entries = load_sources() if sources is None else sources
    problems = [p for p in (problem_with(directory, item) for item in entries) if p is not None]
    known = {corpus_file(directory, item["id"]).name for item in entries} | {"sources.json"}
    stray = sorted(p.name for p in directory.iterdir() if p.name not in known)
    problems += [f"{name}: not in sources.json" for name in stray]
    return problems


def refresh(answers_folder: Path, out: Path) -> tuple[int, list[str]]:
    answers = read_answers(answers_folder)
    out.mkdir(parents=True, exist_ok=True)
    written, problems = 0, []
    for item in load_sources():
        try:
            text = published_text(item, answers)
        except (KeyError, IndexError, ValueError) as error:
            problems.append(f"{item['id']}: {error!r}")
            continue
        if sha256(text) != item["sha256"]:
            problems.append(f"{item['id']}: SHA-256 {sha256(text)} differs from sources.json")
            continue
        # newline="" keeps the published line endings byte for byte.
        with corpus_file(out, item["id"]).open("w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        written += 1
    return written, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=Path, help="folder of saved read_file answers")
    parser.add_argument("--out", type=Path, default=CORPUS, help="corpus folder to write")
    parser.add_argument("--check", type=Path, nargs="?", const=CORPUS, help="folder to check")
    args = parser.parse_args()
    if args.answers is not None:
        written, problems = refresh(args.answers, args.out)
        print(f"wrote {written} of {len(load_sources())} files into {args.out}")
    else:
        problems = check(args.check or CORPUS)
        print(f"checked {len(load_sources())} files in {args.check or CORPUS}")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
