"""Ill-typed values inside one resource skip that resource (with a note), never the call.

A red-team call with ``coding.system`` set to an object answered 500: ``system in frozenset``
raised TypeError. Every such value, wherever a coding or a reference is read from raw JSON,
now makes that one resource unreadable: it is skipped, the cards say how many were, and
every other resource is read as usual.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.clinical.fhir import (
    PATIENT,
    RXNORM,
    SNOMED,
    concept,
    condition,
    order,
    rrms,
    run,
    topics,
)
from tests.contract.builders import hook_request, patient, rrms_condition, searchset
from tests.support.server import LiveServer

ILL_TYPED: list[Any] = [{"x": 1}, [1, 2], ["426373005"], 5, 2.5, True, False]
NOTE = "could not be read"


def _with_coding(field: str, value: Any, system: str = SNOMED, code: str = "24700007") -> Any:
    coding: dict[str, Any] = {"system": system, "code": code, "display": "Multiple sclerosis"}
    coding[field] = value
    return condition({"coding": [coding]})


@pytest.mark.parametrize("value", ILL_TYPED, ids=repr)
@pytest.mark.parametrize("field", ["system", "code", "display"])
def test_ill_typed_coding_skips_the_resource_with_a_note(field: str, value: Any) -> None:
    evaluation = run([rrms(), _with_coding(field, value)])
    assert "natalizumab-indicated" in topics(evaluation)
    assert all(NOTE in card["detail"] for card in evaluation.cards)


@pytest.mark.parametrize("value", ILL_TYPED, ids=repr)
def test_ill_typed_system_of_an_unrelated_code_is_skipped_too(value: Any) -> None:
    """It could have been a code the rules use: what cannot be read is said, not guessed."""
    unrelated = condition({"coding": [{"system": value, "code": "38341003"}]})
    evaluation = run([rrms(), unrelated])
    assert "natalizumab-indicated" in topics(evaluation)
    assert all(NOTE in card["detail"] for card in evaluation.cards)


def test_absent_and_null_values_are_not_ill_typed() -> None:
    nulls = condition({"coding": [{"system": None, "code": None, "display": None}], "text": None})
    evaluation = run([rrms(), nulls, condition({"coding": [{"code": "x"}]})])
    assert all(NOTE not in card["detail"] for card in evaluation.cards)


@pytest.mark.parametrize("contained", [5, "x", {"id": "m"}, [5, None, "m"]], ids=repr)
def test_ill_typed_contained_medications_never_fail_the_call(contained: Any) -> None:
    request = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "intent": "order",
        "subject": PATIENT,
        "medicationReference": {"reference": "#m"},
        "contained": contained,
    }
    assert "natalizumab-indicated" in topics(run([rrms(), request]))


@pytest.mark.parametrize(
    "reference", [{"reference": ["#m"]}, {"reference": 5}, "Medication/x", 7, {"display": 3}]
)
def test_ill_typed_medication_references_never_fail_the_call(reference: Any) -> None:
    request = {
        "resourceType": "MedicationStatement",
        "id": "s1",
        "status": "active",
        "subject": PATIENT,
        "medicationReference": reference,
    }
    assert "natalizumab-indicated" in topics(run([rrms(), request]))


def test_ill_typed_codes_in_medication_and_status_concepts_never_fail_the_call() -> None:
    drug = {"coding": [{"system": RXNORM, "code": {"no": "pe"}}], "text": ["natalizumab"]}
    request = {
        "resourceType": "MedicationRequest",
        "id": "m2",
        "status": "active",
        "intent": "order",
        "subject": PATIENT,
        "medicationCodeableConcept": drug,
    }
    weird = rrms()
    weird["clinicalStatus"] = {"coding": [{"system": [], "code": {"a": 1}}]}
    weird["verificationStatus"] = {"coding": [{"code": ["refuted"]}]}
    evaluation = run([rrms(), request, weird], orders=[order(concept(RXNORM, "354770"))])
    assert "natalizumab-indicated" in topics(evaluation)


def test_one_ill_typed_coding_in_prefetch_answers_200_over_http(live_server: LiveServer) -> None:
    broken = rrms_condition()
    broken["id"] = "broken"
    broken["code"]["coding"][0]["system"] = {"not": "a string"}
    prefetch = {
        "patient": patient(),
        "conditions": searchset(rrms_condition(), broken),
        "observations": None,
        "medicationRequests": None,
    }
    response = httpx.post(
        f"{live_server.url}/cds-services/natalizumab-order-sign",
        json=hook_request("order-sign", prefetch=prefetch),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert "natalizumab-indicated" in [card["source"]["topic"]["code"] for card in cards]
    assert all(NOTE in card["detail"] for card in cards)
