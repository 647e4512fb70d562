"""Input limits: size, content type, nesting depth, resource count, absurd strings/arrays."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.protocol.errors import ProtocolError
from cds_service.protocol.limits import MAX_ARRAY_ITEMS, MAX_STRING_CHARS, check_json_limits
from tests.security.hook_data import SERVICE_ID, order_sign_request


def nested(depth: int, as_object: bool = False) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value} if as_object else [value]
    return value


def limit_error(document: Any, **limits: int) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        check_json_limits(
            document, max_depth=limits.get("depth", 64), max_resources=limits.get("res", 100)
        )
    return info.value


def test_depth_limit_is_exact() -> None:
    check_json_limits(nested(63), max_depth=64, max_resources=10)  # 63 lists + the int
    check_json_limits(nested(64, as_object=True), max_depth=64, max_resources=10)
    error = limit_error(nested(65))
    assert (error.status_code, error.error) == (400, "too_deep")


def test_depth_check_is_iterative_and_fast() -> None:
    """100,000 levels would blow any recursive walk; the check must stop at the limit."""
    deep = nested(100_000)
    started = time.perf_counter()
    assert limit_error(deep).error == "too_deep"
    assert time.perf_counter() - started < 0.5


def test_wide_document_is_checked_in_linear_time() -> None:
    wide = {"entry": [{"resource": {"resourceType": "Basic", "id": str(i)}} for i in range(19_000)]}
    started = time.perf_counter()
    check_json_limits(wide, max_depth=64, max_resources=20_000)
    assert time.perf_counter() - started < 0.5


def test_resource_count_limit() -> None:
    bundle = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Basic"}}] * 10}
    check_json_limits(bundle, max_depth=64, max_resources=11)
    error = limit_error(bundle, res=10)
    assert (error.status_code, error.error) == (413, "too_many_resources")
    # Only objects with a string resourceType count.
    check_json_limits([{"resourceType": 1}] * 50, max_depth=64, max_resources=10)


def test_absurd_strings_and_arrays() -> None:
    for document in (
        {"note": "x" * (MAX_STRING_CHARS + 1)},
        {"k" * (MAX_STRING_CHARS + 1): 1},
        "x" * (MAX_STRING_CHARS + 1),
        {"list": [0] * (MAX_ARRAY_ITEMS + 1)},
    ):
        error = limit_error(document)
        assert (error.status_code, error.error) == (413, "value_too_large")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'f.db'}", max_body_bytes=200_000, max_resources=50
    )
    loop = asyncio.new_event_loop()
    transport = httpx.ASGITransport(app=create_app(settings))
    http = httpx.AsyncClient(transport=transport, base_url="http://cds.test")
    yield loop, http
    loop.run_until_complete(http.aclose())
    loop.close()


def post(
    client: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient],
    content: bytes,
    content_type: str = "application/json",
    path: str = f"/cds-services/{SERVICE_ID}",
) -> httpx.Response:
    loop, http = client
    return loop.run_until_complete(
        http.post(path, content=content, headers={"Content-Type": content_type})
    )


@pytest.mark.parametrize(
    "path", [f"/cds-services/{SERVICE_ID}", f"/cds-services/{SERVICE_ID}/feedback"]
)
def test_limits_over_http(
    client: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient], path: str
) -> None:
    def status(content: bytes, content_type: str = "application/json") -> tuple[int, str]:
        response = post(client, content, content_type, path)
        body = response.json()
        assert isinstance(body["message"], str)
        return response.status_code, body["error"]

    assert status(b"x" * 200_001) == (413, "payload_too_large")
    assert status(b"{}", "text/plain") == (415, "unsupported_media_type")
    assert status(b"{}", "application/x-www-form-urlencoded") == (415, "unsupported_media_type")
    assert status(json.dumps({"feedback": nested(80)}).encode()) == (400, "too_deep")
    assert status(("[" * 5000 + "]" * 5000).encode()) == (400, "invalid_json")
    many = {"feedback": [{"resourceType": "Basic"}] * 51}
    assert status(json.dumps(many).encode()) == (413, "too_many_resources")


def test_limits_leave_a_normal_call_alone(
    client: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient],
) -> None:
    response = post(client, json.dumps(order_sign_request()).encode())
    assert response.status_code == 200
    assert response.json()["cards"]


def test_string_checks_follow_the_body_size() -> None:
    """Skipping per-string checks is only sound when the body cannot hold a long string."""
    document = {"note": "x" * 10}
    with pytest.raises(ProtocolError):
        check_json_limits(
            document, max_depth=64, max_resources=10, max_string_chars=5, body_bytes=100
        )
    check_json_limits(document, max_depth=64, max_resources=10, max_string_chars=5, body_bytes=5)
    deep: Any = {"a": 1}
    for _ in range(70):
        deep = [deep]
    with pytest.raises(ProtocolError):
        check_json_limits(deep, max_depth=64, max_resources=10, body_bytes=300)
