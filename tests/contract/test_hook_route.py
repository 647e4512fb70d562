"""The hook route is a plain Starlette route in front of the documented FastAPI one.

It must answer exactly as the FastAPI route did: the auth check before the service lookup,
JSON errors for wrong methods, the operation still documented in ``/openapi.json``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from starlette.routing import Route

from cds_service.app import SERVICE_PATH, create_app
from cds_service.config import Settings
from tests.security.hook_data import SERVICE_ID, order_sign_request
from tests.security.jwt_support import EhrIssuer


def test_the_lean_route_serves_the_post_and_the_fastapi_route_documents_it(
    tmp_path: Path,
) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}"))
    first = app.router.routes[0]
    assert isinstance(first, Route)
    assert (first.path, first.methods) == (SERVICE_PATH, {"POST"})
    with TestClient(app) as client:
        operation = client.get("/openapi.json").json()["paths"][SERVICE_PATH]["post"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert {"hook", "hookInstance", "context"} <= set(schema["required"])
        answer = client.post(f"/cds-services/{SERVICE_ID}", json=order_sign_request())
        assert answer.status_code == 200
        assert answer.json()["cards"]
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"
        wrong_method = client.put(f"/cds-services/{SERVICE_ID}", json={})
        assert wrong_method.status_code == 405
        assert wrong_method.json()["error"] == "method_not_allowed"


def test_auth_is_checked_before_the_service_id(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'f.db'}",
        auth_required=True,
        trusted_issuers={"https://ehr.example": "https://ehr.example/jwks.json"},
        public_base_url="http://testserver",
    )
    with TestClient(create_app(settings)) as client:
        for path in (f"/cds-services/{SERVICE_ID}", "/cds-services/no-such-service"):
            answer = client.post(path, json=order_sign_request())
            assert answer.status_code == 401
            assert answer.json() == {"error": "unauthorized", "message": "Authentication failed."}


def test_each_route_checks_a_valid_token_once(tmp_path: Path) -> None:
    """Both routes accept a valid token: the lean route that serves the call, and the
    documented FastAPI route should it ever be reached (its dependency checks auth; checking
    again would refuse the token's jti as a replay)."""
    issuer = EhrIssuer.create()
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'f.db'}",
        auth_required=True,
        trusted_issuers={issuer.iss: issuer.write_jwks(tmp_path / "jwks.json")},
        public_base_url="http://testserver",
    )
    audience = f"http://testserver/cds-services/{SERVICE_ID}"
    for lean in (True, False):
        app = create_app(settings)
        if not lean:
            app.router.routes.pop(0)  # the documented route now answers
        with TestClient(app) as client:
            answer = client.post(
                f"/cds-services/{SERVICE_ID}",
                json=order_sign_request(),
                headers={"Authorization": f"Bearer {issuer.token(audience)}"},
            )
            assert answer.status_code == 200, (lean, answer.text)
            assert answer.json()["cards"]
