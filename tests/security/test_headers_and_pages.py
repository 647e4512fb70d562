"""Security headers on every answer, and which pages exist (issue 11, items 7 and 12).

* ``X-Content-Type-Options: nosniff`` on every answer, errors and preflights included;
* ``Cache-Control: no-store`` on hook and feedback answers (they may carry patient facts);
* a strict Content-Security-Policy on every HTML page: no inline script, nothing from
  another origin;
* no page loads a script from a CDN: ``/docs`` and ``/redoc`` (Swagger UI and ReDoc from
  jsDelivr) are not served; the OpenAPI document stays at ``/openapi.json``;
* with ``CDS_AUTH_REQUIRED=true`` the unauthenticated ``/demo`` is off unless
  ``CDS_DEMO_ENABLED=true`` says otherwise.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cds_service.app import create_app
from cds_service.config import Settings
from tests.contract.builders import hook_request
from tests.support.asgi import InProcessClient
from tests.support.server import LiveServer

SIGN = "natalizumab-order-sign"
FEEDBACK = {
    "feedback": [
        {
            "card": str(uuid.uuid4()),
            "outcome": "overridden",
            "outcomeTimestamp": "2026-11-26T02:00:00Z",
        }
    ]
}
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessClient]:
    database = tmp_path_factory.mktemp("headers") / "f.db"
    in_process = InProcessClient(create_app(Settings(database_url=f"sqlite:///{database}")))
    yield in_process
    in_process.close()


def _answers(client: InProcessClient) -> dict[str, httpx.Response]:
    return {
        "healthz": client.get("/healthz"),
        "readyz": client.get("/readyz"),
        "metrics": client.get("/metrics"),
        "discovery": client.get("/cds-services"),
        "hook": client.post(f"/cds-services/{SIGN}", json=hook_request("order-sign")),
        "hook 400": client.post(f"/cds-services/{SIGN}", content=b"[]", headers=JSON),
        "hook 415": client.post(f"/cds-services/{SIGN}", content=b"{}"),
        "hook 404": client.post("/cds-services/nope", json=hook_request("order-sign")),
        "feedback": client.post(f"/cds-services/{SIGN}/feedback", json=FEEDBACK),
        "feedback 400": client.post(f"/cds-services/{SIGN}/feedback", json={"feedback": 1}),
        "codesystem": client.get("/fhir/CodeSystem/card-topic"),
        "openapi": client.get("/openapi.json"),
        "404": client.get("/no/such/path"),
        "405": client.request("DELETE", "/cds-services"),
        "demo": client.get("/demo"),
        "demo stories": client.get("/demo/stories"),
        "demo script": client.get("/demo/static/demo.js"),
        "demo static html": client.get("/demo/static/index.html"),
        "preflight": client.request(
            "OPTIONS",
            f"/cds-services/{SIGN}",
            headers={
                "Origin": "https://sandbox.cds-hooks.org",
                "Access-Control-Request-Method": "POST",
            },
        ),
    }


def test_every_answer_says_nosniff(client: InProcessClient) -> None:
    for name, response in _answers(client).items():
        assert response.headers.get("x-content-type-options") == "nosniff", name


def test_hook_and_feedback_answers_are_never_stored(client: InProcessClient) -> None:
    answers = _answers(client)
    for name in ("hook", "hook 400", "hook 415", "hook 404", "feedback", "feedback 400"):
        assert answers[name].headers.get("cache-control") == "no-store", name
    assert answers["hook"].status_code == 200 and answers["feedback"].status_code == 200


def test_every_html_page_has_a_strict_policy(client: InProcessClient) -> None:
    pages = {
        name: response
        for name, response in _answers(client).items()
        if response.headers.get("content-type", "").startswith("text/html")
    }
    assert {"demo", "demo static html"} <= set(pages)
    for name, response in pages.items():
        policy = response.headers.get("content-security-policy", "")
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
        assert directives.get("default-src") == "'none'", name
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, name
        assert directives.get("frame-ancestors") == "'none'", name
        for value in directives.values():
            assert not re.search(r"https?:|\*", value), (name, value)


def test_no_page_loads_scripts_from_a_cdn(client: InProcessClient) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404, path
    assert client.get("/openapi.json").json()["openapi"].startswith("3.")
    for path in ("/demo",):
        page = client.get(path).text
        assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", page)


def _auth_on(tmp_path: Path, **extra: object) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'f.db'}",
        auth_required=True,
        trusted_issuers={"https://ehr.example.org/": "file:///nonexistent/jwks.json"},
        public_base_url="https://cds.example.org",
        **extra,  # type: ignore[arg-type]
    )


def test_demo_is_off_with_auth_on_unless_asked_for(tmp_path: Path) -> None:
    assert Settings().demo_served is True
    assert _auth_on(tmp_path).demo_served is False
    assert _auth_on(tmp_path, demo_enabled=True).demo_served is True
    assert Settings(demo_enabled=False).demo_served is False
    off = InProcessClient(create_app(_auth_on(tmp_path)))
    try:
        for path in ("/demo", "/demo/stories", "/demo/static/demo.js"):
            assert off.get(path).status_code == 404, path
        assert off.get("/cds-services").status_code == 401
        for path in ("/healthz", "/metrics", "/fhir/CodeSystem/card-topic"):
            assert off.get(path).status_code == 200, path
    finally:
        off.close()


def test_demo_enabled_by_environment_with_auth_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDS_AUTH_REQUIRED", "true")
    monkeypatch.delenv("CDS_DEMO_ENABLED", raising=False)
    assert Settings().demo_served is False
    monkeypatch.setenv("CDS_DEMO_ENABLED", "true")
    assert Settings().demo_served is True


def test_headers_over_real_http(live_server: LiveServer) -> None:
    response = httpx.post(
        f"{live_server.url}/cds-services/{SIGN}", json=hook_request("order-sign"), timeout=30
    )
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
