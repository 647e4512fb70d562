"""JWT authentication over real HTTP: the service under uvicorn on loopback, as an EHR sees it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds_service.config import Settings
from tests.security.hook_data import SERVICE_ID, feedback_body, order_sign_request
from tests.security.jwt_support import ALGORITHMS, ISSUER, EhrIssuer, serve_jwks
from tests.support.server import LiveServer, free_loopback_port

UNAUTHORIZED = {"error": "unauthorized", "message": "Authentication failed."}

Factory = Callable[..., LiveServer]


@pytest.fixture(scope="module")
def issuer() -> EhrIssuer:
    return EhrIssuer.create()


def auth_settings(tmp_path: Path, trusted: dict[str, str], **extra: Any) -> Settings:
    return Settings(
        auth_required=True,
        trusted_issuers=trusted,
        database_url=f"sqlite:///{tmp_path / 'feedback.db'}",
        **extra,
    )


def start_auth_server(
    factory: Factory, tmp_path: Path, trusted: dict[str, str], **extra: Any
) -> LiveServer:
    """Auth on requires CDS_PUBLIC_BASE_URL: by default the server's own loopback URL."""
    port = free_loopback_port()
    extra.setdefault("public_base_url", f"http://127.0.0.1:{port}")
    return factory(auth_settings(tmp_path, trusted, **extra), port)


@pytest.fixture
def server(issuer: EhrIssuer, tmp_path: Path, live_server_factory: Factory) -> LiveServer:
    uri = issuer.write_jwks(tmp_path / "jwks.json")
    return start_auth_server(live_server_factory, tmp_path, {ISSUER: uri})


def service_url(server: LiveServer) -> str:
    return f"{server.url}/cds-services/{SERVICE_ID}"


def call(
    server: LiveServer, token: str | None, *, headers: dict[str, str] | None = None
) -> httpx.Response:
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return httpx.post(service_url(server), json=order_sign_request(), headers=sent, timeout=30)


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_valid_token_is_accepted(server: LiveServer, issuer: EhrIssuer, alg: str) -> None:
    response = call(server, issuer.token(service_url(server), alg))
    assert response.status_code == 200
    assert "cards" in response.json()


def test_discovery_and_feedback_are_protected(server: LiveServer, issuer: EhrIssuer) -> None:
    discovery = f"{server.url}/cds-services"
    assert_unauthorized(httpx.get(discovery, timeout=10))
    ok = httpx.get(discovery, headers={"Authorization": f"Bearer {issuer.token(discovery)}"})
    assert ok.status_code == 200
    assert len(ok.json()["services"]) == 3
    feedback = f"{service_url(server)}/feedback"
    assert_unauthorized(httpx.post(feedback, json=feedback_body(), timeout=10))
    # A token for the service endpoint is not a token for its feedback endpoint.
    wrong = issuer.token(service_url(server))
    assert_unauthorized(
        httpx.post(feedback, json=feedback_body(), headers={"Authorization": f"Bearer {wrong}"})
    )
    good = issuer.token(feedback)
    stored = httpx.post(
        feedback, json=feedback_body(), headers={"Authorization": f"Bearer {good}"}, timeout=10
    )
    assert stored.status_code == 200


def test_public_endpoints_stay_open(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert httpx.get(f"{server.url}/fhir/CodeSystem/card-topic").status_code == 200


def _cases(issuer: EhrIssuer, aud: str) -> dict[str, tuple[str | None, dict[str, str]]]:
    now = int(time.time())
    stranger = EhrIssuer.create("https://stranger.example/")
    impostor = EhrIssuer.create(ISSUER)
    import base64
    import hashlib
    import hmac
    import json

    from cryptography.hazmat.primitives import serialization

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    payload = {"iss": ISSUER, "sub": "s", "aud": aud, "iat": now, "exp": now + 300, "jti": "x"}
    none_token = (
        b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "ES384-key"}).encode())
        + "."
        + b64(json.dumps(payload).encode())
        + "."
    )
    pem = (
        issuer.keys["RS256"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    hs_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "RS256-key"}).encode())
        + "."
        + b64(json.dumps({**payload, "jti": "y"}).encode())
    )
    hs_token = f"{hs_input}.{b64(hmac.new(pem, hs_input.encode(), hashlib.sha256).digest())}"
    return {
        "missing header": (None, {}),
        "basic scheme": (None, {"Authorization": "Basic dXNlcjpwYXNz"}),
        "malformed": ("not.a.jwt", {}),
        "garbage": ("%%%", {}),
        "expired": (issuer.token(aud, claims={"iat": now - 900, "exp": now - 120}), {}),
        "iat in future": (issuer.token(aud, claims={"iat": now + 600, "exp": now + 900}), {}),
        "wrong aud": (issuer.token(aud + "-other"), {}),
        "discovery aud": (issuer.token(aud.rsplit("/", 1)[0]), {}),
        "unknown iss": (stranger.token(aud), {}),
        "unknown kid": (issuer.token(aud, header={"kid": "nope"}), {}),
        "bad signature": (impostor.token(aud), {}),
        "alg none": (none_token, {}),
        "hs256 with public pem": (hs_token, {}),
        "jku elsewhere": (issuer.token(aud, header={"jku": "http://127.0.0.1:9/jwks"}), {}),
        "empty sub": (issuer.token(aud, claims={"sub": ""}), {}),
        "missing jti": (issuer.token(aud, drop=("jti",)), {}),
        "lifetime over an hour": (issuer.token(aud, claims={"iat": now, "exp": now + 3601}), {}),
        "ten-year token": (issuer.token(aud, claims={"exp": now + 10 * 365 * 86400}), {}),
    }


def test_every_invalid_token_gets_the_same_401(server: LiveServer, issuer: EhrIssuer) -> None:
    failures = []
    for name, (token, headers) in _cases(issuer, service_url(server)).items():
        response = call(server, token, headers=headers)
        if response.status_code != 401 or response.json() != UNAUTHORIZED:
            failures.append((name, response.status_code, response.text[:200]))
    assert failures == []


def test_replayed_jti_is_rejected(server: LiveServer, issuer: EhrIssuer) -> None:
    token = issuer.token(service_url(server))
    assert call(server, token).status_code == 200
    assert_unauthorized(call(server, token))


def test_jwks_served_over_loopback_http(
    issuer: EhrIssuer, tmp_path: Path, live_server_factory: Factory
) -> None:
    with serve_jwks(issuer.jwks()) as stub:
        server = start_auth_server(live_server_factory, tmp_path, {ISSUER: stub.url})
        aud = service_url(server)
        assert call(server, issuer.token(aud, "RS384")).status_code == 200
        assert call(server, issuer.token(aud, "ES256", header={"jku": stub.url})).status_code == 200
        assert_unauthorized(call(server, issuer.token(aud, header={"jku": stub.url + "?x=1"})))
        assert stub.hits == 1


def test_public_base_url_sets_the_audience(
    issuer: EhrIssuer, tmp_path: Path, live_server_factory: Factory
) -> None:
    uri = issuer.write_jwks(tmp_path / "jwks.json")
    public = "https://cds.hospital.example/natalizumab/"
    server = start_auth_server(live_server_factory, tmp_path, {ISSUER: uri}, public_base_url=public)
    expected = f"https://cds.hospital.example/natalizumab/cds-services/{SERVICE_ID}"
    assert call(server, issuer.token(expected)).status_code == 200
    assert_unauthorized(call(server, issuer.token(service_url(server))))


@pytest.fixture
def shared_db_servers(
    issuer: EhrIssuer, tmp_path: Path, live_server_factory: Factory
) -> tuple[LiveServer, LiveServer]:
    uri = issuer.write_jwks(tmp_path / "jwks.json")
    settings = auth_settings(
        tmp_path, {ISSUER: uri}, jti_store="database", public_base_url="https://cds.test.example"
    )
    return live_server_factory(settings), live_server_factory(settings.model_copy())


def test_database_jti_store_rejects_replay_across_instances(
    shared_db_servers: tuple[LiveServer, LiveServer], issuer: EhrIssuer
) -> None:
    first, second = shared_db_servers
    aud = f"https://cds.test.example/cds-services/{SERVICE_ID}"
    token = issuer.token(aud)
    assert call(first, token).status_code == 200
    assert_unauthorized(call(second, token))
    assert_unauthorized(call(first, token))
    fresh = issuer.token(aud)
    assert call(second, fresh).status_code == 200
    assert_unauthorized(call(first, fresh))


def test_unreachable_jti_store_answers_503_not_500(
    issuer: EhrIssuer, tmp_path: Path, live_server_factory: Factory
) -> None:
    uri = issuer.write_jwks(tmp_path / "jwks.json")
    port = free_loopback_port()
    settings = Settings(
        auth_required=True,
        trusted_issuers={ISSUER: uri},
        jti_store="database",
        database_url=f"sqlite:///{tmp_path / 'no-such-dir' / 'feedback.db'}",
        public_base_url=f"http://127.0.0.1:{port}",
    )
    server = live_server_factory(settings, port)
    discovery = f"{server.url}/cds-services"
    response = httpx.get(discovery, headers={"Authorization": f"Bearer {issuer.token(discovery)}"})
    assert response.status_code == 503
    assert response.json()["error"] == "service_unavailable"
    # A bad token is still a 401: the store is consulted only after the signature checks out.
    assert_unauthorized(httpx.get(discovery, headers={"Authorization": "Bearer x.y.z"}))


def test_token_without_sub_is_accepted(server: LiveServer, issuer: EhrIssuer) -> None:
    assert call(server, issuer.token(service_url(server), drop=("sub",))).status_code == 200


def test_two_authorization_headers_are_refused(server: LiveServer, issuer: EhrIssuer) -> None:
    """Exactly one Authorization header: never "the first one wins", even if both are good."""
    good = issuer.token(service_url(server))
    other = issuer.token(service_url(server))
    headers = [("Authorization", f"Bearer {good}"), ("Authorization", f"Bearer {other}")]
    response = httpx.post(service_url(server), json=order_sign_request(), headers=headers)
    assert_unauthorized(response)
    assert call(server, good).status_code == 200  # the token itself was fine and unused


def test_configured_lifetime_cap_applies(
    issuer: EhrIssuer, tmp_path: Path, live_server_factory: Factory
) -> None:
    uri = issuer.write_jwks(tmp_path / "jwks.json")
    server = start_auth_server(live_server_factory, tmp_path, {ISSUER: uri}, jwt_max_lifetime_s=120)
    now = int(time.time())
    aud = service_url(server)
    assert call(server, issuer.token(aud, claims={"iat": now, "exp": now + 120})).status_code == 200
    assert_unauthorized(call(server, issuer.token(aud, claims={"iat": now, "exp": now + 121})))


def test_auth_on_without_public_base_url_refuses_to_start(
    issuer: EhrIssuer, tmp_path: Path
) -> None:
    """Contract v2 section 0, in the app factory (uvicorn --factory and every worker)."""
    from cds_service.app import create_app
    from cds_service.config import ConfigurationError

    uri = issuer.write_jwks(tmp_path / "jwks.json")
    with pytest.raises(ConfigurationError, match="CDS_PUBLIC_BASE_URL"):
        create_app(auth_settings(tmp_path, {ISSUER: uri}))
    with pytest.raises(ConfigurationError):
        create_app(auth_settings(tmp_path, {ISSUER: uri}, public_base_url="  "))
    create_app(auth_settings(tmp_path, {ISSUER: uri}, public_base_url="https://cds.example"))
