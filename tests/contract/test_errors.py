"""Every error status of contract section 1 over real HTTP, each with the JSON error body."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from cds_service.config import Settings
from tests.contract.builders import card_topics, full_prefetch, hook_request
from tests.support.server import LiveServer

SIGN = "/cds-services/natalizumab-order-sign"


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "message"}
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in response.text
    if code is not None:
        assert body["error"] == code


def post(server: LiveServer, path: str, content: bytes, content_type: str | None) -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return httpx.post(f"{server.url}{path}", content=content, headers=headers, timeout=30)


def test_unknown_service_is_404(live_server: LiveServer) -> None:
    response = httpx.post(
        f"{live_server.url}/cds-services/no-such-service", json=hook_request("order-sign")
    )
    assert_error(response, 404, "unknown_service")
    feedback = httpx.post(
        f"{live_server.url}/cds-services/no-such-service/feedback", json={"feedback": []}
    )
    assert_error(feedback, 404, "unknown_service")


def test_unknown_path_and_method_are_json_errors(live_server: LiveServer) -> None:
    assert_error(httpx.get(f"{live_server.url}/nothing-here"), 404)
    assert_error(httpx.delete(f"{live_server.url}/cds-services"), 405)


def _without(key: str) -> dict[str, Any]:
    body = hook_request("order-sign")
    del body[key]
    return body


def _context_without(key: str) -> dict[str, Any]:
    body = hook_request("order-sign")
    del body["context"][key]
    return body


BAD_BODIES: list[tuple[str, bytes]] = [
    ("not json", b"{not json"),
    ("empty", b""),
    ("invalid utf-8", b'{"hook": "\xff"}'),
    ("array", b"[1, 2]"),
    ("string", b'"order-sign"'),
    ("number", b"42"),
    ("null", b"null"),
    ("missing hook", orjson.dumps(_without("hook"))),
    ("missing hookInstance", orjson.dumps(_without("hookInstance"))),
    ("missing context", orjson.dumps(_without("context"))),
    ("hook not a string", orjson.dumps(hook_request("order-sign") | {"hook": 7})),
    ("hookInstance not a string", orjson.dumps(hook_request("order-sign") | {"hookInstance": []})),
    ("context not an object", orjson.dumps(hook_request("order-sign") | {"context": "x"})),
    ("prefetch not an object", orjson.dumps(hook_request("order-sign") | {"prefetch": [1]})),
    ("fhirServer not a string", orjson.dumps(hook_request("order-sign") | {"fhirServer": 1})),
    ("context without patientId", orjson.dumps(_context_without("patientId"))),
    ("context without draftOrders", orjson.dumps(_context_without("draftOrders"))),
]


@pytest.mark.parametrize(("label", "content"), BAD_BODIES, ids=[label for label, _ in BAD_BODIES])
def test_malformed_requests_are_400(live_server: LiveServer, label: str, content: bytes) -> None:
    assert_error(post(live_server, SIGN, content, "application/json"), 400)


LENIENT_BODIES: list[tuple[str, dict[str, object]]] = [
    ("context without userId", _context_without("userId")),
    ("fhirAuthorization without token", hook_request("order-sign") | {"fhirAuthorization": {}}),
    ("legacy user at the top level", _context_without("userId") | {"user": "Practitioner/1"}),
]


@pytest.mark.parametrize(
    ("label", "body"), LENIENT_BODIES, ids=[label for label, _ in LENIENT_BODIES]
)
def test_fields_the_service_does_not_need_are_never_a_400(
    live_server: LiveServer, label: str, body: dict[str, object]
) -> None:
    """Contract v2 section 1: userId optional, legacy user accepted, token only for fetching."""
    response = post(live_server, SIGN, orjson.dumps(body), "application/json")
    assert response.status_code == 200
    assert "natalizumab-indicated" in card_topics(response.json())


def test_hook_of_another_service_is_400(live_server: LiveServer) -> None:
    response = httpx.post(f"{live_server.url}{SIGN}", json=hook_request("order-select"))
    assert_error(response, 400, "hook_mismatch")


def test_order_select_needs_selections(live_server: LiveServer) -> None:
    body = hook_request("order-select")
    del body["context"]["selections"]
    response = httpx.post(f"{live_server.url}/cds-services/natalizumab-order-select", json=body)
    assert_error(response, 400)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(live_server: LiveServer, content_type: str | None) -> None:
    content = orjson.dumps(hook_request("order-sign"))
    assert_error(post(live_server, SIGN, content, content_type), 415, "unsupported_media_type")


def test_json_with_charset_and_fhir_json_are_accepted(live_server: LiveServer) -> None:
    content = orjson.dumps(hook_request("order-sign"))
    for content_type in ("application/json; charset=utf-8", "application/fhir+json"):
        assert post(live_server, SIGN, content, content_type).status_code == 200


def test_body_over_the_default_5_mib_is_413(live_server: LiveServer) -> None:
    body = hook_request("order-sign")
    body["padding"] = "x" * (5 * 1024 * 1024)
    response = post(live_server, SIGN, orjson.dumps(body), "application/json")
    assert_error(response, 413, "payload_too_large")


@pytest.fixture
def small_limit_server(
    tmp_path: Any, live_server_factory: Callable[[Settings], LiveServer]
) -> LiveServer:
    return live_server_factory(
        Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}", max_body_bytes=2000)
    )


def test_configured_limit_applies_to_chunked_bodies_too(small_limit_server: LiveServer) -> None:
    payload = orjson.dumps(hook_request("order-sign") | {"padding": "x" * 5000})

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(payload), 1000):
            yield payload[start : start + 1000]

    response = httpx.post(
        f"{small_limit_server.url}{SIGN}",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413)
    feedback = httpx.post(
        f"{small_limit_server.url}{SIGN}/feedback",
        json={"feedback": [], "padding": "x" * 5000},
    )
    assert_error(feedback, 413)


@pytest.mark.parametrize("key", ["patient", "conditions", "observations", "medicationRequests"])
def test_required_prefetch_absent_without_fhir_server_is_412(
    live_server: LiveServer, key: str
) -> None:
    prefetch = full_prefetch()
    del prefetch[key]
    response = httpx.post(
        f"{live_server.url}{SIGN}", json=hook_request("order-sign", prefetch=prefetch)
    )
    assert_error(response, 412, "prefetch_unavailable")
    assert key in response.json()["message"]


def test_optional_prefetch_absent_is_not_an_error(live_server: LiveServer) -> None:
    prefetch = full_prefetch()
    for key in ("medicationStatements", "medicationAdministrations", "allergies", "procedures"):
        del prefetch[key]
    response = httpx.post(
        f"{live_server.url}{SIGN}", json=hook_request("order-sign", prefetch=prefetch)
    )
    assert response.status_code == 200


def test_an_engine_failure_is_a_json_500_without_details(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cds_service.hook_call

    def explode(*_: object) -> None:
        raise RuntimeError("patient Jane Secret born 1985-04-02")

    monkeypatch.setattr(cds_service.hook_call, "_evaluate", explode)
    response = httpx.post(f"{live_server.url}{SIGN}", json=hook_request("order-sign"))
    assert_error(response, 500, "internal_error")
    assert "Secret" not in response.text
    assert "RuntimeError" not in response.text
