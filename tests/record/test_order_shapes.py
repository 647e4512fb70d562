"""Lenient reading of natalizumab orders in R4, STU3 and DSTU2 shapes (record.order_shapes)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cds_service.record.order_shapes import WHOLE_ORDER, r4_view, read_order


def r4() -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "nat-1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/1"},
        "medicationCodeableConcept": {"text": "natalizumab"},
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": 1, "period": 4, "periodUnit": "wk"}},
                "doseAndRate": [{"doseQuantity": {"value": 300, "unit": "mg"}}],
            }
        ],
    }


def test_valid_r4_order_is_read_whole() -> None:
    assert read_order(r4()).unread == ()


def test_stu3_shapes_are_read_without_complaint() -> None:
    """STU3: category an object, dose directly on the dosage, requester.agent, context."""
    stu3 = {
        "resourceType": "MedicationRequest",
        "id": "stu3",
        "status": "draft",
        "intent": "order",
        "category": {"coding": [{"code": "outpatient"}]},
        "subject": {"reference": "Patient/1"},
        "context": {"reference": "Encounter/1"},
        "requester": {"agent": {"reference": "Practitioner/1"}},
        "medicationCodeableConcept": {"text": "natalizumab"},
        "dosageInstruction": [
            {
                "doseQuantity": {"value": 300, "unit": "mg"},
                "timing": {"repeat": {"frequency": 1, "period": 28, "periodUnit": "d"}},
            }
        ],
    }
    reading = read_order(stu3)
    assert reading.unread == ()
    assert reading.view["category"] == [stu3["category"]]
    assert reading.view["requester"] == {"reference": "Practitioner/1"}


def test_dstu2_medication_order_is_read_without_complaint() -> None:
    dstu2 = {
        "resourceType": "MedicationOrder",
        "id": "dstu2",
        "status": "draft",
        "patient": {"reference": "Patient/1"},
        "prescriber": {"reference": "Practitioner/1"},
        "dateWritten": "2016-05-01",
        "note": "infuse over one hour",
        "reasonCodeableConcept": {"text": "relapsing MS"},
        "medicationCodeableConcept": {"text": "Tysabri"},
        "dosageInstruction": [
            {
                "doseQuantity": {"value": 300, "unit": "mg"},
                "asNeededBoolean": False,
                "timing": {"repeat": {"frequency": 1, "period": 4, "periodUnits": "wk"}},
                "siteCodeableConcept": {"text": "left arm"},
            }
        ],
    }
    reading = read_order(dstu2)
    assert reading.unread == ()
    assert reading.view["resourceType"] == "MedicationRequest"
    assert reading.view["subject"] == {"reference": "Patient/1"}
    assert reading.view["authoredOn"] == "2016-05-01"
    assert reading.view["intent"] == "order"


def test_the_ehrs_json_is_never_changed() -> None:
    order = {
        **r4(),
        "category": {"text": "x"},
        "dosageInstruction": [{"doseQuantity": {"value": 1}}],
    }
    before = copy.deepcopy(order)
    r4_view(order)
    read_order(order)
    assert order == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("intent", 42),
        ("authoredOn", "yesterday"),
        ("dosageInstruction", [{"timing": {"repeat": {"frequency": "monthly"}}}]),
        ("medicationCodeableConcept", {"coding": [5], "text": "natalizumab"}),
        ("medicationCodeableConcept", {"coding": [{"system": {}, "code": "354770"}]}),
        ("subject", "Patient/1"),
    ],
)
def test_unreadable_fields_are_named_and_left_out(field: str, value: Any) -> None:
    order = r4() | {field: value}
    reading = read_order(order)
    assert reading.unread == (field,)
    assert field not in reading.view


def test_dstu2_field_is_named_as_the_ehr_sent_it() -> None:
    order = {**r4(), "resourceType": "MedicationOrder", "dateWritten": "not a date"}
    del order["intent"]
    assert read_order(order).unread == ("dateWritten",)


def test_cross_field_rule_names_the_order_as_a_whole() -> None:
    order = r4() | {"medicationReference": {"reference": "Medication/1"}}
    assert read_order(order).unread == (WHOLE_ORDER,)


def test_missing_fields_are_not_parts_that_could_not_be_read() -> None:
    order = r4()
    del order["subject"]
    assert read_order(order).unread == ()


@pytest.mark.parametrize(
    "junk", [{"contained": [{"resourceType": "Nope"}]}, {"meta": 5}, {"id": []}]
)
def test_hostile_orders_never_raise(junk: dict[str, Any]) -> None:
    reading = read_order(r4() | junk)
    assert reading.unread


def test_remembered_verdicts_follow_the_orders_content() -> None:
    """The same order read again gets the same verdict; a changed one is judged afresh."""
    broken = r4() | {"authoredOn": "yesterday"}
    for _ in range(2):
        assert read_order(r4()).unread == ()
        assert read_order(broken).unread == ("authoredOn",)
        assert read_order(r4() | {"authoredOn": "2026-01-01"}).unread == ()
        assert read_order(broken | {"intent": 42}).unread in {
            ("authoredOn", "intent"),
            ("intent", "authoredOn"),
        }
