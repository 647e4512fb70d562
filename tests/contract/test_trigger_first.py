"""Contract v2 sections 1-2 over real HTTP: the trigger first, Medication fetch, never silent.

A loopback FHIR stub stands in for the EHR's server; the service and its engine are real.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds_service.config import Settings
from tests.contract.builders import (
    RXNORM,
    SERVICE_BY_HOOK,
    card_topics,
    hook_request,
    natalizumab_order,
    other_order,
    patient,
    rrms_condition,
)
from tests.support.fhir_stub import FhirStub, start_fhir_stub
from tests.support.server import LiveServer

TOKEN = "opaque-fhir-token-19c2"


@pytest.fixture
def stub() -> Iterator[FhirStub]:
    medication = {
        "resourceType": "Medication",
        "id": "tysabri-300",
        "code": {"coding": [{"system": RXNORM, "code": "354770", "display": "natalizumab"}]},
    }
    other = {"resourceType": "Medication", "id": "amox-500", "code": {"text": "amoxicillin"}}
    server = start_fhir_stub([patient(), rrms_condition(), medication, other])
    yield server
    server.stop()


@pytest.fixture
def fetching(
    stub: FhirStub, tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer]
) -> LiveServer:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'f.db'}", allowed_fhir_servers=[stub.base_url]
    )
    return live_server_factory(settings)


def post(server: LiveServer, body: dict[str, Any]) -> httpx.Response:
    service = SERVICE_BY_HOOK[body["hook"]]
    return httpx.post(f"{server.url}/cds-services/{service}", json=body, timeout=30)


def with_server(body: dict[str, Any], stub: FhirStub) -> dict[str, Any]:
    return body | {"fhirServer": stub.base_url, "fhirAuthorization": {"access_token": TOKEN}}


@pytest.mark.parametrize("hook", ["order-select", "order-sign", "medication-prescribe"])
def test_other_order_without_prefetch_is_200_empty_at_once(
    fetching: LiveServer, stub: FhirStub, hook: str
) -> None:
    """No 412 and no fetch for an order this service has nothing to say about."""
    body = with_server(hook_request(hook, [other_order()], with_prefetch=False), stub)
    response = post(fetching, body)
    assert response.status_code == 200
    assert response.json() == {"cards": []}
    assert stub.recorded() == []


def test_other_order_without_prefetch_or_server_is_200_empty(live_server: LiveServer) -> None:
    body = hook_request("order-sign", [other_order()], with_prefetch=False)
    response = post(live_server, body)
    assert (response.status_code, response.json()) == (200, {"cards": []})


def test_natalizumab_not_selected_is_200_empty_without_prefetch(live_server: LiveServer) -> None:
    body = hook_request(
        "order-select",
        [natalizumab_order(), other_order()],
        selections=["MedicationRequest/amox-1"],
        with_prefetch=False,
    )
    assert post(live_server, body).json() == {"cards": []}


def test_natalizumab_order_without_data_is_still_412(live_server: LiveServer) -> None:
    response = post(live_server, hook_request("order-sign", with_prefetch=False))
    assert response.status_code == 412


def test_medication_only_on_the_fhir_server_is_fetched(
    fetching: LiveServer, stub: FhirStub
) -> None:
    order = natalizumab_order()
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "Medication/tysabri-300"}
    body = with_server(hook_request("order-sign", [order]), stub)
    response = post(fetching, body)
    assert response.status_code == 200, response.text
    assert "natalizumab-indicated" in card_topics(response.json())
    reads = [r for r in stub.recorded() if r.path.startswith("/fhir/Medication/")]
    assert [r.path for r in reads] == ["/fhir/Medication/tysabri-300"]
    assert reads[0].authorization == f"Bearer {TOKEN}"


def test_fetched_medication_that_is_not_natalizumab_is_200_empty(
    fetching: LiveServer, stub: FhirStub
) -> None:
    order = other_order()
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "Medication/amox-500"}
    body = with_server(hook_request("order-sign", [order], with_prefetch=False), stub)
    response = post(fetching, body)
    assert (response.status_code, response.json()) == (200, {"cards": []})
    assert [r.path for r in stub.recorded()] == ["/fhir/Medication/amox-500"]


@pytest.mark.parametrize(
    "reference",
    ["Medication/../Patient/p1", "Medication/a b", "Medication/" + "x" * 65, "Medication/%2e%2e"],
)
def test_medication_id_that_is_not_a_fhir_id_is_never_fetched(
    fetching: LiveServer, stub: FhirStub, reference: str
) -> None:
    order = natalizumab_order()
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": reference}
    body = with_server(hook_request("order-sign", [order], with_prefetch=False), stub)
    response = post(fetching, body)
    assert (response.status_code, response.json()) == (200, {"cards": []})
    assert stub.recorded() == []


def test_unfetchable_medication_is_not_known_to_be_natalizumab(live_server: LiveServer) -> None:
    """No allow-listed server: the order cannot be told apart, so it is not a trigger."""
    order = natalizumab_order()
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "Medication/tysabri-300"}
    body = hook_request("order-sign", [order]) | {"fhirServer": "https://ehr.invalid/fhir"}
    assert post(live_server, body).json() == {"cards": []}


@pytest.mark.parametrize(
    "medication",
    [
        {"coding": [5], "text": "natalizumab"},
        {"coding": [{"system": {}, "code": "x"}, {"display": "Tysabri"}]},
        {"coding": {"system": RXNORM, "code": "354770"}},
    ],
    ids=["coding-holds-a-number", "system-is-an-object", "coding-is-an-object"],
)
def test_ill_typed_natalizumab_order_gets_its_cards_and_a_note(
    live_server: LiveServer, medication: dict[str, Any]
) -> None:
    order = natalizumab_order() | {"medicationCodeableConcept": medication}
    response = post(live_server, hook_request("order-sign", [order]))
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert "natalizumab-indicated" in card_topics(response.json())
    for card in cards:
        assert "could not be read and were left out: medicationCodeableConcept" in card["detail"]


def test_stu3_order_without_intent_and_with_stu3_dosage(live_server: LiveServer) -> None:
    order = natalizumab_order()
    del order["intent"]
    order["category"] = {"coding": [{"code": "outpatient"}]}
    order["dosageInstruction"] = [
        {
            "doseQuantity": {"value": 300, "unit": "mg"},
            "timing": {"repeat": {"frequency": 1, "period": 4, "periodUnits": "wk"}},
        }
    ]
    response = post(live_server, hook_request("order-sign", [order]))
    cards = response.json()["cards"]
    assert "natalizumab-indicated" in card_topics(response.json())
    assert not any("could not be read" in card["detail"] for card in cards)


def test_dstu2_medication_order_gets_its_cards(live_server: LiveServer) -> None:
    order = {
        "resourceType": "MedicationOrder",
        "id": "mo-1",
        "status": "draft",
        "patient": {"reference": "Patient/p1"},
        "dateWritten": "2017-05-05",
        "medicationCodeableConcept": {"text": "Tysabri 300 mg"},
    }
    body = hook_request("medication-prescribe", [order])
    body["context"]["user"] = body["context"].pop("userId")
    response = post(live_server, body)
    assert "natalizumab-indicated" in card_topics(response.json())


def test_medication_pooled_from_prefetch_needs_no_fetch(
    fetching: LiveServer, stub: FhirStub
) -> None:
    """A Medication anywhere in prefetch (here under a key discovery does not declare)."""
    order = natalizumab_order()
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "https://ehr.example.org/fhir/Medication/m-77"}
    body = with_server(hook_request("order-sign", [order]), stub)
    body["prefetch"]["medications"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": {"resourceType": "Medication", "id": "m-77", "code": {"text": "Tyruko"}}}
        ],
    }
    response = post(fetching, body)
    assert "natalizumab-indicated" in card_topics(response.json())
    assert stub.recorded() == []
    indicated = next(
        c
        for c in response.json()["cards"]
        if c["source"]["topic"]["code"] == "natalizumab-indicated"
    )
    assert any(
        "REMS" in link["label"] or "Tyruko" in link["label"] for link in indicated.get("links", [])
    )
