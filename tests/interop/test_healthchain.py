"""The corpus's order-sign and order-select requests through an independent client:
HealthChain's ``SandboxClient`` (``healthchain_client.py``), in its own virtual environment.

HealthChain pins older FastAPI and fhir.resources than the service, so it cannot share the
project venv: ``.ci/run`` builds ``.ci/.venv-healthchain`` from
``bench/requirements-healthchain.txt`` (or set ``CDS_HEALTHCHAIN_PYTHON``). Without it the test
is skipped with that reason. HealthChain sends no JWT, so the service runs with auth off; the
patient's data goes in prefetch (HealthChain does not send ``fhirServer``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.interop.corpus import REPO_ROOT, Case, patient_id_of, stand_in_resources
from tests.interop.test_interop import CASES
from tests.support.server import LiveServer

HC_PYTHON = Path(
    os.environ.get(
        "CDS_HEALTHCHAIN_PYTHON", REPO_ROOT / ".ci" / ".venv-healthchain" / "bin" / "python"
    )
)
SCRIPT = Path(__file__).with_name("healthchain_client.py")
pytestmark = pytest.mark.skipif(
    not HC_PYTHON.exists(),
    reason=f"HealthChain venv not found at {HC_PYTHON} (.ci/run builds it)",
)


def prefetch_for(body: dict[str, Any]) -> dict[str, Any]:
    """The request's own prefetch, or for a natalizumab variant the stand-in's patient data."""
    patient, condition = stand_in_resources(patient_id_of(body) or "smart-1288992")
    return {
        "patient": patient,
        "conditions": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": condition}],
        },
        **{
            key: None
            for key in (
                "observations",
                "medicationRequests",
                "medicationStatements",
                "medicationAdministrations",
                "allergies",
                "diagnosticReports",
                "procedures",
            )
        },
    }


def selected(case: Case) -> bool:
    body = case.body
    return (
        isinstance(body, dict)
        and body.get("hook") in ("order-sign", "order-select")
        and case.expect_status == 200
        and "~with-data" not in case.id
        and not case.id.endswith("~no-prefetch")
    )


def test_corpus_through_healthchain_sandbox_client(live_server: LiveServer, tmp_path: Path) -> None:
    # Originals and natalizumab variants of the corpus, and the sandbox-built requests.
    chosen = [
        case
        for case in CASES
        if selected(case)
        or (case.natalizumab and "~with-data" in case.id and case.source == "cds-hooks/sandbox")
    ]
    assert chosen
    payload = []
    for case in chosen:
        body = case.body
        payload.append(
            {
                "id": case.id,
                "url": f"{live_server.url}/cds-services/{case.service}",
                "hook": body["hook"],
                "context": body["context"],
                "prefetch": prefetch_for(body)
                if case.natalizumab
                else (body.get("prefetch") or {}),
            }
        )
    cases_file, out_file = tmp_path / "cases.json", tmp_path / "out.json"
    cases_file.write_text(json.dumps(payload))
    subprocess.run(
        [str(HC_PYTHON), str(SCRIPT), str(cases_file), str(out_file)],
        check=True,
        timeout=300,
        cwd=tmp_path,
    )
    results = json.loads(out_file.read_text())
    failures = []
    for case in chosen:
        answer = results[case.id]
        topics = [
            card.get("source", {}).get("topic", {}).get("code") for card in answer.get("cards", [])
        ]
        if case.natalizumab:
            good = "natalizumab-indicated" in topics and {"jcv-test-due", "mri-due"} <= set(topics)
        else:
            good = answer == {"cards": []}
        if not good:
            failures.append((case.id, topics or answer))
    print(
        f"\nhealthchain SandboxClient: {len(chosen) - len(failures)} passed, {len(failures)} failed"
    )
    assert failures == []
