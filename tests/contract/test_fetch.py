"""Prefetch absent: data is fetched from an allow-listed fhirServer (a loopback stub)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds_service.config import Settings
from tests.contract.builders import (
    card_topics,
    full_prefetch,
    hook_request,
    natalizumab_order,
    patient,
    rrms_condition,
)
from tests.support.fhir_stub import FhirStub, start_fhir_stub
from tests.support.server import LiveServer

SIGN = "/cds-services/natalizumab-order-sign"
TOKEN = "opaque-fhir-token-7f3a"


@pytest.fixture
def stub() -> Iterator[FhirStub]:
    # The stored copy of the order is active, as an EHR would hold it; the draft order in
    # context has the same id and must win.
    stored = natalizumab_order("nat-old") | {"status": "completed"}
    server = start_fhir_stub([patient(), rrms_condition(), stored], page_size=1)
    yield server
    server.stop()


def fetching_server(
    tmp_path: Path, factory: Callable[[Settings], LiveServer], allowed: list[str]
) -> LiveServer:
    return factory(
        Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}", allowed_fhir_servers=allowed)
    )


def without_prefetch(server_url: str) -> dict[str, Any]:
    body = hook_request("order-sign", with_prefetch=False)
    body["fhirServer"] = server_url
    body["fhirAuthorization"] = {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "user/Patient.read user/Condition.read user/Observation.read",
        "subject": "natalizumab-cds",
    }
    return body


def test_fetched_data_gives_the_same_cards_as_prefetch(
    stub: FhirStub,
    tmp_path: Path,
    live_server_factory: Callable[[Settings], LiveServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = fetching_server(tmp_path, live_server_factory, [stub.base_url])
    with_prefetch = hook_request("order-sign")
    with_prefetch["prefetch"]["medicationRequests"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": natalizumab_order("nat-old") | {"status": "completed"}}],
    }
    expected = httpx.post(f"{server.url}{SIGN}", json=with_prefetch, timeout=30)
    assert expected.status_code == 200
    assert stub.recorded() == []

    fetched = httpx.post(f"{server.url}{SIGN}", json=without_prefetch(stub.base_url), timeout=30)
    assert fetched.status_code == 200, fetched.text
    assert card_topics(fetched.json()) == card_topics(expected.json())
    assert [c["indicator"] for c in fetched.json()["cards"]] == [
        c["indicator"] for c in expected.json()["cards"]
    ]

    recorded = stub.recorded()
    paths = {r.path for r in recorded}
    assert "/fhir/Patient/p1" in paths
    assert "/fhir/Condition?patient=p1" in paths
    assert any("_offset=" in path for path in paths) is False  # one result per type: no paging
    assert len(recorded) == 9
    assert {r.authorization for r in recorded} == {f"Bearer {TOKEN}"}
    assert TOKEN not in caplog.text


def test_paged_search_results_are_all_read(
    stub: FhirStub, tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer]
) -> None:
    extra = rrms_condition() | {"id": "rrms-2", "recordedDate": "2021-01-01"}
    stub.resources.append(extra)
    server = fetching_server(tmp_path, live_server_factory, [stub.base_url])
    response = httpx.post(f"{server.url}{SIGN}", json=without_prefetch(stub.base_url), timeout=30)
    assert response.status_code == 200
    assert "/fhir/Condition?patient=p1&_offset=1" in {r.path for r in stub.recorded()}


def test_not_allow_listed_server_is_412_without_any_connection(
    stub: FhirStub, tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer]
) -> None:
    elsewhere = stub.base_url.rsplit(":", 1)[0] + ":1/fhir"
    for allowed in ([], [elsewhere], [stub.base_url + "2"]):
        server = fetching_server(tmp_path, live_server_factory, allowed)
        response = httpx.post(f"{server.url}{SIGN}", json=without_prefetch(stub.base_url))
        assert response.status_code == 412
        assert response.json()["error"] == "prefetch_unavailable"
    assert stub.recorded() == []


def test_fhir_server_answering_errors_is_412(
    stub: FhirStub, tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer]
) -> None:
    stub.status_by_type["Condition"] = 500
    server = fetching_server(tmp_path, live_server_factory, [stub.base_url])
    response = httpx.post(f"{server.url}{SIGN}", json=without_prefetch(stub.base_url), timeout=30)
    assert response.status_code == 412
    assert "conditions" in response.json()["message"]


def test_optional_fetch_failure_still_answers(
    stub: FhirStub, tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer]
) -> None:
    stub.status_by_type["AllergyIntolerance"] = 503
    stub.redirect_types.add("Procedure")
    server = fetching_server(tmp_path, live_server_factory, [stub.base_url])
    response = httpx.post(f"{server.url}{SIGN}", json=without_prefetch(stub.base_url), timeout=30)
    assert response.status_code == 200, response.text
    assert "natalizumab-indicated" in card_topics(response.json())
    assert not any("elsewhere" in r.path for r in stub.recorded())
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'cds_fhir_fetch_failures_total{key="allergies",reason="http_5xx"} 1.0' in metrics
    assert 'cds_fhir_fetch_failures_total{key="procedures",reason="http_3xx"} 1.0' in metrics


def test_prefetch_given_means_no_fetch_even_when_allowed(
    stub: FhirStub, tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer]
) -> None:
    server = fetching_server(tmp_path, live_server_factory, [stub.base_url])
    body = hook_request("order-sign", prefetch=full_prefetch())
    body["fhirServer"] = stub.base_url
    assert httpx.post(f"{server.url}{SIGN}", json=body, timeout=30).status_code == 200
    assert stub.recorded() == []
