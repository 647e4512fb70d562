"""No PHI and no secrets in logs, whatever happens during a call (contract, issue 5).

One full run against the real server with auth on and FHIR fetching on: successful calls
(prefetch and fetched), invalid resources, envelope errors that carry patient data in the
wrong place, feedback with free text, a replayed and a forged JWT. Everything logged anywhere
in the process (root logger and every named logger at DEBUG, plus raw stdout/stderr) is
searched for the patient's name, birth date, MRN, free-text note, the FHIR access token and
every JWT sent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from cds_service.config import Settings
from tests.security.hook_data import (
    ACCESS_TOKEN,
    BIRTH_DATE,
    FREE_TEXT,
    MRN,
    PATIENT_NAME_FAMILY,
    PHI_STRINGS,
    SERVICE_ID,
    feedback_body,
    fhir_resources,
    order_sign_request,
)
from tests.security.jwt_support import ISSUER, EhrIssuer
from tests.support.fhir_stub import start_fhir_stub
from tests.support.server import LiveServer, free_loopback_port


class CaptureAll(logging.Handler):
    """Keeps the message and every attribute of every record (extras included)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is still evidence
            message = f"{record.msg!r} {record.args!r}"
        self.lines.append(f"{record.name} {message} {record.__dict__!r}")


@pytest.fixture
def capture() -> Iterator[CaptureAll]:
    handler = CaptureAll()
    names = ["", "uvicorn", "uvicorn.error", "uvicorn.access", "cds_service", "httpx", "httpcore"]
    loggers = [logging.getLogger(name) for name in names]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)
    yield handler
    for lg, level in saved:
        lg.removeHandler(handler)
        lg.setLevel(level)


def test_full_run_logs_no_phi_and_no_secrets(
    tmp_path: Path,
    capture: CaptureAll,
    capfd: pytest.CaptureFixture[str],
    live_server_factory: Callable[..., LiveServer],
) -> None:
    issuer = EhrIssuer.create()
    stub = start_fhir_stub(fhir_resources(), status_by_type={"MedicationStatement": 500})
    try:
        port = free_loopback_port()
        settings = Settings(
            auth_required=True,
            trusted_issuers={ISSUER: issuer.write_jwks(tmp_path / "jwks.json")},
            allowed_fhir_servers=[stub.base_url],
            database_url=f"sqlite:///{tmp_path / 'feedback.db'}",
            log_level="DEBUG",
            public_base_url=f"http://127.0.0.1:{port}",
        )
        server = live_server_factory(settings, port)
        for lg in (logging.getLogger("cds_service"), logging.getLogger()):
            lg.setLevel(logging.DEBUG)  # create_app set cds_service to the settings level
        service = f"{server.url}/cds-services/{SERVICE_ID}"
        feedback = f"{service}/feedback"
        tokens: list[str] = []

        def post(url: str, body: object | bytes, token: str | None = None) -> httpx.Response:
            token = token or issuer.token(url)
            tokens.append(token)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            return httpx.post(url, content=content, headers=headers, timeout=30)

        statuses: dict[str, int] = {}
        discovery_token = issuer.token(f"{server.url}/cds-services")
        tokens.append(discovery_token)
        statuses["discovery"] = httpx.get(
            f"{server.url}/cds-services", headers={"Authorization": f"Bearer {discovery_token}"}
        ).status_code
        statuses["prefetched"] = post(service, order_sign_request()).status_code
        fetched = order_sign_request(prefetch=False, fhir_server=stub.base_url)
        statuses["fetched"] = post(service, fetched).status_code

        broken = order_sign_request()
        broken["prefetch"]["patient"]["birthDate"] = f"born {BIRTH_DATE} as {PATIENT_NAME_FAMILY}"
        broken["prefetch"]["conditions"]["entry"].append(
            {"resource": {"resourceType": "Condition", "code": MRN, "note": FREE_TEXT}}
        )
        statuses["invalid resources"] = post(service, broken).status_code

        misplaced = order_sign_request()
        misplaced["context"]["patientId"] = {"name": PATIENT_NAME_FAMILY, "mrn": MRN}
        statuses["phi in envelope"] = post(service, misplaced).status_code
        wrong_hook = order_sign_request()
        wrong_hook["hook"] = f"{PATIENT_NAME_FAMILY} {MRN}"
        statuses["phi as hook"] = post(service, wrong_hook).status_code
        statuses["not json"] = post(service, f"{{{FREE_TEXT} {MRN}".encode()).status_code
        statuses["no data"] = post(service, order_sign_request(prefetch=False)).status_code
        bad_token = order_sign_request()
        bad_token["fhirAuthorization"]["access_token"] = 12345
        bad_token["fhirAuthorization"]["scope"] = ACCESS_TOKEN
        statuses["bad fhirAuthorization"] = post(service, bad_token).status_code

        statuses["feedback"] = post(feedback, feedback_body(2)).status_code
        bad_feedback = feedback_body()
        bad_feedback["feedback"][0]["outcome"] = FREE_TEXT
        statuses["bad feedback"] = post(feedback, bad_feedback).status_code

        replayed = issuer.token(service)
        post(service, order_sign_request(), replayed)
        statuses["replayed jwt"] = post(service, order_sign_request(), replayed).status_code
        forged = EhrIssuer.create(ISSUER).token(service)
        statuses["forged jwt"] = post(service, order_sign_request(), forged).status_code
    finally:
        stub.stop()

    assert statuses == {
        "discovery": 200,
        "prefetched": 200,
        "fetched": 200,
        "invalid resources": 200,
        "phi in envelope": 400,
        "phi as hook": 400,
        "not json": 400,
        "no data": 412,
        # Contract v2: an unusable token is no token (it matters only for fetching).
        "bad fhirAuthorization": 200,
        "feedback": 200,
        "bad feedback": 400,
        "replayed jwt": 401,
        "forged jwt": 401,
    }
    assert any(r.authorization == f"Bearer {ACCESS_TOKEN}" for r in stub.recorded())
    out, err = capfd.readouterr()
    logged = "\n".join([*capture.lines, out, err])
    # The capture works: the access lines and the auth failure reasons are in it.
    assert "cds_service.access" in logged
    assert "authentication failed: jti replayed" in logged
    secrets = [*PHI_STRINGS, ACCESS_TOKEN, *tokens]
    secrets += [t.split(".")[1] for t in tokens] + [t.split(".")[2] for t in tokens]
    leaked = [s[:40] for s in secrets if s.lower() in logged.lower()]
    assert leaked == []
