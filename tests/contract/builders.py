"""Hook requests shaped after the CDS Hooks spec examples, for the HTTP and protocol tests.

The natalizumab order and the RRMS patient are the minimal valid scenario of the issue:
an RxNorm 354770 draft MedicationRequest, a Patient with a birth date, and an active
relapsing-remitting MS Condition (SNOMED 426373005).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
TOPIC_SYSTEM = "https://natalizumab-cds.example/fhir/CodeSystem/card-topic"

SERVICE_BY_HOOK = {
    "order-select": "natalizumab-order-select",
    "order-sign": "natalizumab-order-sign",
    "medication-prescribe": "natalizumab-medication-prescribe",
}

PATIENT_ID = "p1"


def natalizumab_order(order_id: str = "nat-1", patient_id: str = PATIENT_ID) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": order_id,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": "354770", "display": "natalizumab"}],
            "text": "Tysabri 300 mg IV",
        },
    }


def other_order(order_id: str = "amox-1", patient_id: str = PATIENT_ID) -> dict[str, Any]:
    """A draft order for a drug that is not natalizumab (amoxicillin, RxNorm 723)."""
    return {
        "resourceType": "MedicationRequest",
        "id": order_id,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": "723", "display": "amoxicillin"}],
            "text": "Amoxicillin 500 mg oral capsule",
        },
    }


def patient(patient_id: str = PATIENT_ID) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": patient_id, "birthDate": "1985-04-02"}


def rrms_condition(patient_id: str = PATIENT_ID) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "rrms-1",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "confirmed",
                }
            ]
        },
        "code": {
            "coding": [
                {
                    "system": SNOMED,
                    "code": "426373005",
                    "display": "Relapsing remitting multiple sclerosis",
                }
            ]
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "recordedDate": "2019-03-01",
    }


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": resource} for resource in resources],
    }


def full_prefetch() -> dict[str, Any]:
    """Every declared key supplied: the RRMS patient, the rest ``null`` (no data)."""
    return {
        "patient": patient(),
        "conditions": searchset(rrms_condition()),
        "observations": None,
        "medicationRequests": None,
        "medicationStatements": None,
        "medicationAdministrations": None,
        "allergies": None,
        "diagnosticReports": None,
        "procedures": None,
    }


def hook_request(
    hook: str,
    orders: list[dict[str, Any]] | None = None,
    *,
    selections: list[str] | None = None,
    prefetch: dict[str, Any] | None = None,
    with_prefetch: bool = True,
) -> dict[str, Any]:
    """A CDS Hooks 2.0 request for ``hook`` with ``orders`` as the draft orders.

    order-select selects every order unless ``selections`` is given.
    """
    orders = [natalizumab_order()] if orders is None else orders
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": copy.deepcopy(order)} for order in orders],
    }
    context: dict[str, Any] = {
        "userId": "PractitionerRole/123",
        "patientId": PATIENT_ID,
        "encounterId": "89284",
    }
    if hook == "medication-prescribe":
        context["medications"] = bundle
    else:
        context["draftOrders"] = bundle
    if hook == "order-select":
        context["selections"] = (
            selections
            if selections is not None
            else [f"{order['resourceType']}/{order['id']}" for order in orders]
        )
    request: dict[str, Any] = {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": context,
    }
    if with_prefetch:
        request["prefetch"] = full_prefetch() if prefetch is None else prefetch
    return request


def card_topics(body: dict[str, Any]) -> list[str]:
    return [card["source"]["topic"]["code"] for card in body["cards"]]


def assert_card_structure(card: dict[str, Any]) -> None:
    """The card invariants of contract section 3 that hold for every topic."""
    assert isinstance(card["uuid"], str) and card["uuid"]
    assert isinstance(card["summary"], str) and 0 < len(card["summary"]) < 140
    assert card["indicator"] in {"info", "warning", "critical"}
    assert isinstance(card["source"]["label"], str) and card["source"]["label"]
    topic = card["source"]["topic"]
    assert topic["system"] == TOPIC_SYSTEM
    assert isinstance(topic["code"], str) and topic["code"]
    assert isinstance(topic.get("display"), str) and topic["display"]
    assert isinstance(card["detail"], str) and card["detail"]
    if card["indicator"] in {"warning", "critical"}:
        reasons = card["overrideReasons"]
        assert reasons, "warning and critical cards carry overrideReasons"
        assert all(isinstance(reason.get("display"), str) for reason in reasons)
    for suggestion in card.get("suggestions", []):
        assert suggestion["uuid"] and suggestion["label"]
        for action in suggestion.get("actions", []):
            assert action["type"] and action["description"]
    if card.get("suggestions"):
        assert card["selectionBehavior"]
