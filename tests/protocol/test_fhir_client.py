"""FhirFetcher against a real loopback FHIR stub: paging, caps, timeouts, redirects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cds_service.config import Settings
from cds_service.protocol.budget import ResourceBudget
from cds_service.protocol.errors import ProtocolError
from cds_service.protocol.fhir_client import FetchError, FetchResult, FhirFetcher, build_http_client
from tests.support.fhir_stub import FhirStub, start_fhir_stub


def observations(count: int) -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "Observation",
            "id": f"o{index}",
            "status": "final",
            "subject": {"reference": "Patient/p1"},
        }
        for index in range(count)
    ]


def fetch_result(
    stub: FhirStub,
    query: str,
    settings: Settings,
    token: str | None = None,
    budget: ResourceBudget | None = None,
) -> FetchResult:
    async def go() -> FetchResult:
        async with build_http_client(settings) as client:
            return await FhirFetcher(client, settings).fetch(stub.base_url, query, token, budget)

    return asyncio.run(go())


def fetch(stub: FhirStub, query: str, settings: Settings, token: str | None = None) -> list[Any]:
    """The pages of a fetch that must have read everything."""
    result = fetch_result(stub, query, settings, token)
    assert result.incomplete is None
    return result.documents


def ids_read(result: FetchResult) -> list[str]:
    return [entry["resource"]["id"] for page in result.documents for entry in page["entry"]]


@pytest.fixture
def stub() -> Iterator[FhirStub]:
    server = start_fhir_stub(observations(25), page_size=10)
    yield server
    server.stop()


def test_follows_next_links_and_sends_the_token_on_every_page(stub: FhirStub) -> None:
    pages = fetch(stub, "Observation?patient=p1", Settings(), token="secret-token")
    assert len(pages) == 3
    found = [entry["resource"]["id"] for page in pages for entry in page["entry"]]
    assert found == [f"o{index}" for index in range(25)]
    assert [r.authorization for r in stub.recorded()] == ["Bearer secret-token"] * 3


def test_too_many_pages_keeps_what_was_read_and_says_it_is_incomplete(stub: FhirStub) -> None:
    result = fetch_result(stub, "Observation?patient=p1", Settings(fhir_max_pages=2))
    assert result.incomplete == "too_many_pages"
    assert ids_read(result) == [f"o{index}" for index in range(20)]
    assert len(stub.recorded()) == 2


def test_next_link_to_another_server_is_not_followed(stub: FhirStub) -> None:
    stub.foreign_next_types.add("Observation")
    result = fetch_result(stub, "Observation?patient=p1", Settings(), token="secret-token")
    assert result.incomplete == "next_link_outside_server"
    assert ids_read(result) == [f"o{index}" for index in range(10)]
    assert len(stub.recorded()) == 1


def test_redirect_is_a_failure_and_not_followed(stub: FhirStub) -> None:
    stub.redirect_types.add("Observation")
    with pytest.raises(FetchError) as caught:
        fetch(stub, "Observation?patient=p1", Settings())
    assert caught.value.reason == "http_3xx"
    assert [r.path for r in stub.recorded()] == ["/fhir/Observation?patient=p1"]


def test_error_status_is_a_failure(stub: FhirStub) -> None:
    stub.status_by_type["Observation"] = 401
    with pytest.raises(FetchError) as caught:
        fetch(stub, "Observation?patient=p1", Settings())
    assert caught.value.reason == "http_4xx"


def test_oversized_response_is_aborted(stub: FhirStub) -> None:
    stub.padding_by_type["Observation"] = 50_000
    with pytest.raises(FetchError) as caught:
        fetch(stub, "Observation?patient=p1", Settings(fhir_max_response_bytes=20_000))
    assert caught.value.reason == "too_large"


def test_size_cap_counts_all_pages_together(stub: FhirStub) -> None:
    stub.padding_by_type["Observation"] = 4_000
    result = fetch_result(stub, "Observation?patient=p1", Settings(fhir_max_response_bytes=10_000))
    assert result.incomplete == "too_large"
    assert 1 <= len(result.documents) <= 2  # the page that crossed the cap is dropped whole
    assert 2 <= len(stub.recorded()) <= 3


def test_resources_count_against_the_call_budget_across_pages(stub: FhirStub) -> None:
    """25 resources on three pages: a budget of 15 left is exhausted on page two (413)."""
    budget = ResourceBudget(limit=20, already_used=5)
    with pytest.raises(ProtocolError) as caught:
        fetch_result(stub, "Observation?patient=p1", Settings(), budget=budget)
    assert caught.value.status_code == 413
    assert caught.value.error == "too_many_resources"
    assert len(stub.recorded()) == 2


def test_budget_is_spent_by_what_was_read(stub: FhirStub) -> None:
    budget = ResourceBudget(limit=100)
    fetch_result(stub, "Observation?patient=p1", Settings(), budget=budget)
    assert budget.used == 25 + 3  # the observations and the three searchset Bundles


def test_slow_server_times_out_within_the_total_budget(stub: FhirStub) -> None:
    stub.delay_by_type["Observation"] = 2.0
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetch(stub, "Observation?patient=p1", Settings(fhir_total_timeout_s=0.3))
    assert caught.value.reason == "timeout"
    assert time.monotonic() - started < 1.5


def test_unreachable_server_is_a_connection_failure() -> None:
    settings = Settings(fhir_connect_timeout_s=0.5, fhir_total_timeout_s=1.0)
    stub = start_fhir_stub([])
    stub.stop()  # the port is now closed

    with pytest.raises(FetchError) as caught:
        fetch(stub, "Observation?patient=p1", settings)
    assert caught.value.reason in {"connection", "timeout"}


def test_read_returns_the_single_resource() -> None:
    stub = start_fhir_stub([{"resourceType": "Patient", "id": "p1", "birthDate": "1985-04-02"}])
    try:
        pages = fetch(stub, "Patient/p1", Settings())
    finally:
        stub.stop()
    assert pages == [{"resourceType": "Patient", "id": "p1", "birthDate": "1985-04-02"}]


def test_fetched_json_meets_the_request_limits() -> None:
    """A server on the allow-list still cannot hand the service absurdly nested JSON."""
    nested: Any = {"url": "x"}
    for _ in range(80):
        nested = {"url": "x", "extension": [nested]}
    deep = {**observations(1)[0], "extension": [nested]}
    server = start_fhir_stub([deep], page_size=10)
    try:
        with pytest.raises(FetchError) as caught:
            fetch(server, "Observation?patient=p1", Settings(max_json_depth=64))
        assert caught.value.reason == "too_deep"
        assert fetch(server, "Observation?patient=p1", Settings(max_json_depth=400))
    finally:
        server.stop()
