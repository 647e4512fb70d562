"""The service runs as the chart runs it: read-only root filesystem, no capabilities.

The chart sets ``readOnlyRootFilesystem``, drops every capability and mounts only an emptyDir
at ``/tmp`` and (SQLite) the data volume at ``/data``. Here the real ``cds-service serve
--workers 2`` runs in a private mount namespace whose root is remounted read-only, with fresh
tmpfs mounts standing in for those two volumes, capabilities dropped and ``no_new_privs``
set, and with the settings of the chart's default ConfigMap. It must become ready, answer a
hook call with the expected cards, and store feedback -- in the data volume.

Not covered: the non-root UID (the test interpreter may live under a 0700 home directory);
the chart's runAsUser matches the Dockerfile's numeric USER, checked in test_chart_render.
Needs root and ``unshare`` (Linux); skipped where mount namespaces are not available.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from cds_service.examples import load_example
from tests.deploy.chart import render
from tests.deploy.processes import REPO_ROOT, ServiceProcess

#: Stand-in for the chart's /data volume (an existing directory, to mount a tmpfs over).
DATA_DIR = Path("/mnt")
EXAMPLE = "topic-pml-risk"

# Runs as root inside the new mount namespace, then execs the service without privileges.
LAUNCHER = r"""
set -eu
mount -o bind,remount,ro /
# A checkout (or its venv) under /tmp would vanish under the new /tmp: keep a handle on each
# such directory, then bind it back, read-only, at its own path inside the new tmpfs.
kept=0
for dir in ${CDS_TEST_KEEP_UNDER_TMP:-}; do
  eval "exec $((3 + kept))< \"\$dir\""
  kept=$((kept + 1))
done
mount -t tmpfs -o size=64m,mode=1777 cds-tmp /tmp
kept=0
for dir in ${CDS_TEST_KEEP_UNDER_TMP:-}; do
  mkdir -p "$dir"
  mount --no-canonicalize --bind "/proc/self/fd/$((3 + kept))" "$dir"
  mount -o bind,remount,ro "$dir"
  eval "exec $((3 + kept))<&-"
  kept=$((kept + 1))
done
mount -t tmpfs -o size=64m,mode=0700 cds-data "$CDS_TEST_DATA_DIR"
if touch "$CDS_TEST_REPO/.read-only-probe" 2>/dev/null; then
  rm -f "$CDS_TEST_REPO/.read-only-probe"
  echo "the root filesystem is still writable" >&2
  exit 97
fi
exec setpriv --no-new-privs --bounding-set=-all --inh-caps=-all "$@"
"""


def _under_tmp(*paths: Path) -> list[Path]:
    """The top directories below /tmp that hold any of ``paths`` (a clone made with
    ``mktemp -d`` lives there); the launcher keeps them visible over the new /tmp."""
    tops = {Path("/tmp", p.resolve().relative_to("/tmp").parts[0]) for p in paths if _in_tmp(p)}
    return sorted(tops)


def _in_tmp(path: Path) -> bool:
    resolved = path.resolve()
    return resolved.is_relative_to("/tmp") and resolved != Path("/tmp")


def mount_namespaces_available() -> str | None:
    """None when this test can run here, else why not."""
    if os.geteuid() != 0:
        return "needs root to create a mount namespace"
    for tool in ("unshare", "setpriv", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not DATA_DIR.is_dir():
        return f"{DATA_DIR} does not exist"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"],
        capture_output=True,
        timeout=10,
        check=False,
    )
    if probe.returncode != 0:
        return f"unshare --mount is not permitted here: {probe.stderr.decode()[-200:]}"
    return None


@pytest.fixture
def read_only_service(tmp_path: Path) -> Iterator[ServiceProcess]:
    reason = mount_namespaces_available()
    if reason:
        pytest.skip(reason)
    settings = dict(render().config())  # the chart's default ConfigMap, as the pod gets it
    assert settings["CDS_DATABASE_URL"] == "sqlite:////data/cds_feedback.db"
    settings["CDS_DATABASE_URL"] = f"sqlite:///{DATA_DIR / 'cds_feedback.db'}"
    settings.update(
        CDS_TEST_DATA_DIR=str(DATA_DIR),
        CDS_TEST_REPO=str(REPO_ROOT),
        CDS_TEST_KEEP_UNDER_TMP=" ".join(str(d) for d in _under_tmp(REPO_ROOT, Path(sys.prefix))),
    )
    service = ServiceProcess(
        name="read-only",
        settings=settings,
        log_dir=tmp_path,
        wrapper=(
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "bash",
            "-c",
            LAUNCHER,
            "launcher",
        ),
    )
    try:
        service.start()
        yield service
    finally:
        service.stop()


def test_service_runs_with_a_read_only_root_filesystem(
    read_only_service: ServiceProcess,
) -> None:
    url = read_only_service.url
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/readyz").json() == {"status": "ready"}
        example = load_example(EXAMPLE, datetime.now(UTC))
        answer = client.post(f"/cds-services/{example.service}", json=example.request)
        assert answer.status_code == 200, answer.text
        cards = {(c["source"]["topic"]["code"], c["indicator"]) for c in answer.json()["cards"]}
        assert cards == example.expected_cards
        item = {
            "card": str(uuid.uuid4()),
            "outcome": "overridden",
            "outcomeTimestamp": "2026-11-26T02:00:00Z",
        }
        path = f"/cds-services/{example.service}/feedback"
        first = client.post(path, json={"feedback": [item]})
        assert first.status_code == 200, first.text
        assert first.json() == {"stored": 1, "duplicates": 0}
        # Written for good: the resend is recognised (by whichever worker answers it).
        assert client.post(path, json={"feedback": [item]}).json() == {
            "stored": 0,
            "duplicates": 1,
        }
    log = read_only_service.log_tail(200)
    assert "Read-only file system" not in log and "Traceback" not in log, log
