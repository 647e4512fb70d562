"""Policy scan with checkov: the rendered chart, the Dockerfile and the chart's files.

checkov runs from its own virtual environment (``.ci/run`` creates ``.ci/.venv-checkov``
from ``.ci/checkov-requirements.txt`` and exports ``CDS_CHECKOV``): it pins some sixty
packages, among them ``packaging<24``, that would downgrade the test environment's.

Three scans, each must report zero failures and no parse errors:

* ``kubernetes`` on the manifests Helm's engine renders for the default values,
  ``values-production.yaml`` and an everything-on variant (checkov's own ``helm`` framework
  would shell out to a ``helm`` binary for exactly this rendering step);
* ``dockerfile`` on the Dockerfile;
* ``secrets`` on the chart's source files (no credential in values or templates).

Every skipped check must carry its justification where it is skipped (a
``checkov.io/skipN: ID=reason`` annotation in a template, a ``# checkov:skip=ID:reason``
comment in a file), and the set of skipped checks is pinned here so a new skip is reviewed.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.chart import CHART_DIR, REPO_ROOT, render
from tests.deploy.test_manifests_valid import VARIANTS

DEFAULT_CHECKOV = REPO_ROOT / ".ci" / ".venv-checkov" / "bin" / "checkov"

#: Each skipped check, with where its reason is written.
EXPECTED_SKIPS = {
    "kubernetes": {
        # templates/deployment.yaml: the service reads settings from env vars only.
        "CKV_K8S_35",
        # templates/deployment.yaml: image pinned by tag unless image.digest is set
        # (only the renders without a digest skip it).
        "CKV_K8S_43",
    },
    "dockerfile": set(),
    # values-production.yaml: a Secret's name flagged as a high-entropy string.
    "secrets": {"CKV_SECRET_6"},
}
#: A scan that passes nothing did not scan anything.
MIN_PASSED = {"kubernetes": 100, "dockerfile": 20, "secrets": 0}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


@pytest.fixture(scope="module")
def checkov() -> Path:
    path = Path(os.environ.get("CDS_CHECKOV") or DEFAULT_CHECKOV)
    if not path.is_file():
        message = f"checkov not found at {path}: `bash .ci/run` creates .ci/.venv-checkov"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_checkov(checkov: Path, frameworks: list[str], *targets: str) -> dict[str, Any]:
    """One checkov run; its report per framework."""
    environment = dict(os.environ)
    # Offline: no update check, no download of the platform's check metadata.
    environment.update(CKV_SKIP_PACKAGE_UPDATE_CHECK="true", BC_SKIP_MAPPING="TRUE")
    environment.pop("BC_API_KEY", None)
    completed = subprocess.run(
        [str(checkov), *targets, "--framework", *frameworks, "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        check=False,
    )
    assert completed.stdout.strip(), completed.stderr[-2000:]
    parsed = json.loads(completed.stdout)
    reports = parsed if isinstance(parsed, list) else [parsed]
    by_framework = {report["check_type"]: report for report in reports}
    assert set(by_framework) == set(frameworks), completed.stderr[-2000:]
    return by_framework


def assert_clean(report: dict[str, Any], framework: str) -> None:
    results = report["results"]
    failed = [
        (c["check_id"], c["check_name"], c["file_path"], c["resource"])
        for c in results["failed_checks"]
    ]
    assert failed == []
    assert results["parsing_errors"] == []
    assert report["summary"]["passed"] >= MIN_PASSED[framework]
    skipped = results["skipped_checks"]
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert reason and reason != "No comment provided", check["check_id"]
    assert {c["check_id"] for c in skipped} <= EXPECTED_SKIPS[framework]


def only(report: dict[str, Any], folder: str) -> dict[str, Any]:
    """The part of a report about files under ``/folder/``."""
    results = {
        key: [c for c in checks if c["file_path"].startswith(f"/{folder}/")]
        for key, checks in report["results"].items()
        if key != "parsing_errors"
    }
    results["parsing_errors"] = report["results"].get("parsing_errors", [])
    summary = dict(report["summary"], passed=len(results.get("passed_checks", [])))
    return {"check_type": report["check_type"], "results": results, "summary": summary}


def test_rendered_chart_passes_the_kubernetes_policies(checkov: Path, tmp_path: Path) -> None:
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for name, values in VARIANTS.items():
        (shipped / f"{name}.yaml").write_text(render(values).yaml_text(), encoding="utf-8")
    # The scan can fail: the same chart with a container allowed to escalate privileges.
    text = render().yaml_text()
    weakened = text.replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true")
    assert weakened != text
    (tmp_path / "weakened").mkdir()
    (tmp_path / "weakened" / "default.yaml").write_text(weakened, encoding="utf-8")

    report = run_checkov(checkov, ["kubernetes"], "-d", str(tmp_path))["kubernetes"]
    assert_clean(only(report, "shipped"), "kubernetes")
    # Every variant was checked.
    checked = {c["file_path"] for c in only(report, "shipped")["results"]["passed_checks"]}
    assert checked == {f"/shipped/{name}.yaml" for name in VARIANTS}
    failed = {c["check_id"] for c in only(report, "weakened")["results"]["failed_checks"]}
    assert "CKV_K8S_20" in failed


def test_dockerfile_passes_the_dockerfile_policies(checkov: Path) -> None:
    dockerfile = str(REPO_ROOT / "Dockerfile")
    report = run_checkov(checkov, ["dockerfile"], "-f", dockerfile)["dockerfile"]
    assert_clean(report, "dockerfile")


def test_chart_files_hold_no_secret(checkov: Path) -> None:
    report = run_checkov(checkov, ["secrets"], "-d", str(CHART_DIR))["secrets"]
    assert_clean(report, "secrets")
