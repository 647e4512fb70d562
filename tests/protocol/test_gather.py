"""Pooling, trigger selection and fetch decisions of protocol.gather (no engine involved)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from cds_service.config import Settings
from cds_service.protocol.budget import ResourceBudget
from cds_service.protocol.errors import ProtocolError
from cds_service.protocol.fhir_client import FhirFetcher, build_http_client
from cds_service.protocol.gather import GatheredData, gather
from cds_service.protocol.models import parse_context, parse_hook_request
from tests.contract.builders import (
    full_prefetch,
    hook_request,
    natalizumab_order,
    other_order,
    patient,
    rrms_condition,
    searchset,
)
from tests.support.fhir_stub import FhirStub, start_fhir_stub


def run_gather(body: dict[str, Any], settings: Settings | None = None) -> GatheredData:
    settings = settings or Settings()

    async def go() -> GatheredData:
        request = parse_hook_request(body)
        context = parse_context(request.hook, request.context)
        async with build_http_client(settings) as client:
            return await gather(request, context, settings, FhirFetcher(client, settings))

    return asyncio.run(go())


def ids(resources: Any) -> list[str]:
    return [f"{r['resourceType']}/{r['id']}" for r in resources]


@pytest.fixture
def stub() -> Iterator[FhirStub]:
    server = start_fhir_stub([patient(), rrms_condition()])
    yield server
    server.stop()


def test_pools_every_prefetch_key_and_draft_orders() -> None:
    prefetch = full_prefetch()
    prefetch["somethingElse"] = {"resourceType": "Observation", "id": "o1", "status": "final"}
    prefetch["observations"] = searchset({"resourceType": "Observation", "id": "o2"})
    data = run_gather(hook_request("order-sign", prefetch=prefetch))
    assert ids(data.resources) == [
        "MedicationRequest/nat-1",
        "Patient/p1",
        "Condition/rrms-1",
        "Observation/o2",
        "Observation/o1",
    ]
    assert data.unavailable == frozenset()
    assert data.patient_id == "p1"
    assert data.skipped_entries == 0


def test_null_values_mean_no_data_and_are_not_unavailable() -> None:
    data = run_gather(hook_request("order-sign"))
    assert data.unavailable == frozenset()
    assert ids(data.resources) == ["MedicationRequest/nat-1", "Patient/p1", "Condition/rrms-1"]


def test_non_object_entries_are_skipped_and_counted() -> None:
    prefetch = full_prefetch()
    prefetch["conditions"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": rrms_condition()}, "junk", {"fullUrl": "x"}, 7],
    }
    request = hook_request("order-sign", prefetch=prefetch)
    request["context"]["draftOrders"]["entry"].append("not an entry")
    data = run_gather(request)
    assert ids(data.resources) == ["MedicationRequest/nat-1", "Patient/p1", "Condition/rrms-1"]
    assert data.skipped_entries == 4


def test_duplicates_keep_the_draft_order_version() -> None:
    stored = natalizumab_order()
    stored["status"] = "active"
    prefetch = full_prefetch()
    prefetch["medicationRequests"] = searchset(stored)
    data = run_gather(hook_request("order-sign", prefetch=prefetch))
    copies = [r for r in data.resources if r["resourceType"] == "MedicationRequest"]
    assert len(copies) == 1
    assert copies[0]["status"] == "draft"


def test_order_select_triggers_only_selected_orders() -> None:
    orders = [natalizumab_order(), other_order()]
    data = run_gather(hook_request("order-select", orders, selections=["MedicationRequest/amox-1"]))
    assert ids(data.trigger_orders) == ["MedicationRequest/amox-1"]
    assert ids(data.draft_orders) == ["MedicationRequest/nat-1", "MedicationRequest/amox-1"]
    assert "MedicationRequest/nat-1" in ids(data.resources)


def test_order_select_accepts_absolute_selection_urls() -> None:
    request = hook_request(
        "order-select",
        [natalizumab_order()],
        selections=["https://ehr.example.org/fhir/MedicationRequest/nat-1"],
    )
    assert ids(run_gather(request).trigger_orders) == ["MedicationRequest/nat-1"]


def test_order_sign_triggers_all_draft_orders() -> None:
    data = run_gather(hook_request("order-sign", [natalizumab_order(), other_order()]))
    assert ids(data.trigger_orders) == ["MedicationRequest/nat-1", "MedicationRequest/amox-1"]


def test_medication_prescribe_accepts_a_bare_array_and_legacy_user() -> None:
    request = hook_request("medication-prescribe")
    context = request["context"]
    context["medications"] = [natalizumab_order(), {"resource": other_order()}]
    context["user"] = context.pop("userId")
    context["encounterId"] = None
    data = run_gather(request)
    assert ids(data.trigger_orders) == ["MedicationRequest/nat-1", "MedicationRequest/amox-1"]


def test_required_key_absent_without_fhir_server_is_412() -> None:
    prefetch = full_prefetch()
    del prefetch["observations"]
    with pytest.raises(ProtocolError) as caught:
        run_gather(hook_request("order-sign", prefetch=prefetch))
    assert caught.value.status_code == 412
    assert "observations" in caught.value.message


def test_required_key_reported_as_operation_outcome_is_412_even_with_a_server(
    stub: FhirStub,
) -> None:
    prefetch = full_prefetch()
    prefetch["conditions"] = {"resourceType": "OperationOutcome", "issue": []}
    request = hook_request("order-sign", prefetch=prefetch)
    request["fhirServer"] = stub.base_url
    with pytest.raises(ProtocolError) as caught:
        run_gather(request, Settings(allowed_fhir_servers=[stub.base_url]))
    assert caught.value.status_code == 412
    assert stub.recorded() == []


def test_optional_keys_absent_are_listed_as_unavailable() -> None:
    prefetch = full_prefetch()
    del prefetch["allergies"]
    del prefetch["procedures"]
    prefetch["diagnosticReports"] = {"resourceType": "OperationOutcome"}
    data = run_gather(hook_request("order-sign", prefetch=prefetch))
    assert data.unavailable == {"allergies", "procedures", "diagnosticReports"}
    assert data.sent_only  # nothing fetched: the request alone decides the pool


def test_absent_keys_are_fetched_with_the_token(stub: FhirStub) -> None:
    request = hook_request("order-sign", with_prefetch=False)
    request["fhirServer"] = stub.base_url
    request["fhirAuthorization"] = {
        "access_token": "tok-123",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "user/*.read",
        "subject": "cds",
    }
    data = run_gather(request, Settings(allowed_fhir_servers=[stub.base_url]))
    assert sorted(data.fetched_keys) == sorted(
        [
            "patient",
            "conditions",
            "observations",
            "medicationRequests",
            "medicationStatements",
            "medicationAdministrations",
            "allergies",
            "diagnosticReports",
            "procedures",
        ]
    )
    assert ids(data.resources) == ["MedicationRequest/nat-1", "Patient/p1", "Condition/rrms-1"]
    assert data.unavailable == frozenset()
    assert not data.sent_only
    recorded = stub.recorded()
    assert len(recorded) == 9
    assert {r.authorization for r in recorded} == {"Bearer tok-123"}
    assert "/fhir/Patient/p1" in {r.path for r in recorded}
    assert "/fhir/Condition?patient=p1" in {r.path for r in recorded}


def test_only_absent_keys_are_fetched(stub: FhirStub) -> None:
    prefetch = full_prefetch()
    del prefetch["conditions"]
    request = hook_request("order-sign", prefetch=prefetch)
    request["fhirServer"] = stub.base_url
    data = run_gather(request, Settings(allowed_fhir_servers=[stub.base_url]))
    assert [r.path for r in stub.recorded()] == ["/fhir/Condition?patient=p1"]
    assert stub.recorded()[0].authorization is None  # no fhirAuthorization given
    assert data.fetched_keys == ("conditions",)
    assert not data.sent_only


def test_server_not_allow_listed_means_no_connection_and_412(stub: FhirStub) -> None:
    request = hook_request("order-sign", with_prefetch=False)
    request["fhirServer"] = stub.base_url
    for allowed in ([], [stub.base_url.replace("/fhir", "/other")]):
        with pytest.raises(ProtocolError) as caught:
            run_gather(request, Settings(allowed_fhir_servers=allowed))
        assert caught.value.status_code == 412
    assert stub.recorded() == []


def test_failed_optional_fetch_is_unavailable_and_failed_required_is_412(stub: FhirStub) -> None:
    settings = Settings(allowed_fhir_servers=[stub.base_url])
    prefetch = full_prefetch()
    del prefetch["allergies"]
    del prefetch["procedures"]
    request = hook_request("order-sign", prefetch=prefetch)
    request["fhirServer"] = stub.base_url
    stub.status_by_type["AllergyIntolerance"] = 500
    stub.redirect_types.add("Procedure")
    data = run_gather(request, settings)
    assert data.unavailable == {"allergies", "procedures"}
    assert data.fetch_failures == {"allergies": "http_5xx", "procedures": "http_3xx"}
    assert not data.sent_only  # a fetch that failed now may answer next time

    del prefetch["observations"]
    stub.status_by_type["Observation"] = 403
    with pytest.raises(ProtocolError) as caught:
        run_gather(
            hook_request("order-sign", prefetch=prefetch) | {"fhirServer": stub.base_url}, settings
        )
    assert caught.value.status_code == 412
    assert "observations" in caught.value.message


def test_unsafe_patient_id_is_never_put_in_a_url(stub: FhirStub) -> None:
    prefetch = full_prefetch()
    del prefetch["conditions"]
    request = hook_request("order-sign", prefetch=prefetch)
    request["context"]["patientId"] = "../admin"
    request["fhirServer"] = stub.base_url
    with pytest.raises(ProtocolError) as caught:
        run_gather(request, Settings(allowed_fhir_servers=[stub.base_url]))
    assert caught.value.status_code == 412
    assert stub.recorded() == []


# --- incomplete data and the call-wide resource budget (contract v2 section 2) ----------


def run_gather_budget(
    body: dict[str, Any], settings: Settings, budget: ResourceBudget
) -> GatheredData:
    async def go() -> GatheredData:
        request = parse_hook_request(body)
        context = parse_context(request.hook, request.context)
        async with build_http_client(settings) as client:
            return await gather(
                request, context, settings, FhirFetcher(client, settings), budget=budget
            )

    return asyncio.run(go())


def observation(index: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"obs-{index}",
        "status": "final",
        "code": {"text": "JC virus antibody index"},
        "subject": {"reference": "Patient/p1"},
    }


def paged_prefetch(next_url: str) -> dict[str, Any]:
    prefetch = full_prefetch()
    page = searchset(*(observation(i) for i in range(2)))
    page["link"] = [{"relation": "next", "url": next_url}]
    prefetch["observations"] = page
    return prefetch


@pytest.fixture
def observations_stub() -> Iterator[FhirStub]:
    server = start_fhir_stub([observation(i) for i in range(7)], page_size=2)
    yield server
    server.stop()


def test_prefetched_next_page_without_a_server_is_named_incomplete() -> None:
    """The issue's case: a searchset with an unreadable next page is not the whole record."""
    prefetch = paged_prefetch("https://ehr.example.org/fhir/Observation?patient=p1&page=2")
    data = run_gather(hook_request("order-sign", prefetch=prefetch))
    assert data.incomplete == {"observations": "next_page_not_fetchable"}
    assert "Observation/obs-1" in ids(data.resources)
    assert data.sent_only  # no page could be asked for


def test_prefetched_next_pages_are_read_from_the_allowed_server(
    observations_stub: FhirStub,
) -> None:
    base = observations_stub.base_url
    prefetch = paged_prefetch(f"{base}/Observation?patient=p1&_offset=2")
    request = hook_request("order-sign", prefetch=prefetch) | {"fhirServer": base}
    data = run_gather(request, Settings(allowed_fhir_servers=[base]))
    assert data.incomplete == {}
    found = {i for i in ids(data.resources) if i.startswith("Observation/")}
    assert found == {f"Observation/obs-{i}" for i in range(7)}
    assert len(observations_stub.recorded()) == 3  # offsets 2, 4 and 6
    assert not data.sent_only


def test_prefetched_next_pages_stop_at_the_page_cap(observations_stub: FhirStub) -> None:
    base = observations_stub.base_url
    prefetch = paged_prefetch(f"{base}/Observation?patient=p1&_offset=2")
    request = hook_request("order-sign", prefetch=prefetch) | {"fhirServer": base}
    data = run_gather(request, Settings(allowed_fhir_servers=[base], fhir_max_pages=2))
    assert data.incomplete == {"observations": "too_many_pages"}
    assert len(observations_stub.recorded()) == 1  # the prefetched page counts as the first


def test_failing_next_page_is_named_incomplete(observations_stub: FhirStub) -> None:
    base = observations_stub.base_url
    observations_stub.status_by_type["Observation"] = 503
    prefetch = paged_prefetch(f"{base}/Observation?patient=p1&_offset=2")
    request = hook_request("order-sign", prefetch=prefetch) | {"fhirServer": base}
    data = run_gather(request, Settings(allowed_fhir_servers=[base]))
    assert data.incomplete == {"observations": "http_5xx"}


def test_fetched_key_cut_by_its_page_cap_is_used_and_named(observations_stub: FhirStub) -> None:
    """A required key read in part is used (a note, not a 412): partial data said to be so."""
    base = observations_stub.base_url
    prefetch = full_prefetch()
    del prefetch["observations"]
    request = hook_request("order-sign", prefetch=prefetch) | {"fhirServer": base}
    data = run_gather(request, Settings(allowed_fhir_servers=[base], fhir_max_pages=2))
    assert data.incomplete == {"observations": "too_many_pages"}
    assert data.fetched_keys == ("observations",)
    assert len([i for i in ids(data.resources) if i.startswith("Observation/")]) == 4


def test_budget_counts_all_pages_of_all_keys_together(observations_stub: FhirStub) -> None:
    base = observations_stub.base_url
    prefetch = full_prefetch()
    for key in ("observations", "allergies", "procedures"):
        del prefetch[key]
    request = hook_request("order-sign", prefetch=prefetch) | {"fhirServer": base}
    settings = Settings(allowed_fhir_servers=[base])
    # 7 observations on 4 pages (+4 Bundles) and two empty searchsets: 13 fetched resources.
    with pytest.raises(ProtocolError) as caught:
        run_gather_budget(request, settings, ResourceBudget(limit=12, already_used=3))
    assert caught.value.status_code == 413
    assert caught.value.error == "too_many_resources"
    data = run_gather_budget(request, settings, ResourceBudget(limit=100, already_used=3))
    assert len([i for i in ids(data.resources) if i.startswith("Observation/")]) == 7


def test_budget_counts_the_request_body_first() -> None:
    body = hook_request("order-sign")
    # draftOrders Bundle, the order, the Patient, the conditions Bundle and its Condition
    assert ResourceBudget.for_body(body, 100).used == 5


def test_resources_the_trigger_fetched_are_not_the_request_s_own() -> None:
    """Medications read from fhirServer for the trigger are pooled: then not sent only."""
    body = hook_request("order-sign", prefetch=full_prefetch())
    medication = {"resourceType": "Medication", "id": "med-9", "code": {"text": "natalizumab"}}

    async def go() -> GatheredData:
        request = parse_hook_request(body)
        context = parse_context(request.hook, request.context)
        return await gather(request, context, Settings(), None, extra_resources=[medication])

    data = asyncio.run(go())
    assert "Medication/med-9" in ids(data.resources)
    assert not data.sent_only
