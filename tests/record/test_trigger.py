"""The trigger on raw JSON (record.trigger): every shape a real EHR sends, and hostile ones."""

from __future__ import annotations

from typing import Any

import pytest

from cds_service.record.trigger import pooled_medications, product_name, scan_orders

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def order(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"resourceType": "MedicationRequest", "id": "o1", "status": "draft"}
    return base | fields


def natalizumab_concept() -> dict[str, Any]:
    return {"coding": [{"system": RXNORM, "code": "354770"}]}


def is_trigger(resource: Any, medications: dict[str, Any] | None = None) -> bool:
    return bool(scan_orders([resource], medications or {}).orders)


@pytest.mark.parametrize(
    "concept",
    [
        natalizumab_concept(),
        {"text": "Tysabri 300 mg in 100 mL sodium chloride IV"},
        {"coding": [{"display": "TYRUKO (natalizumab-sztn) injection"}]},
        {"coding": {"system": RXNORM, "code": "354770"}},  # coding as an object
        [{"text": "natalizumab"}],  # a list of concepts where one belongs
    ],
)
def test_natalizumab_by_code_text_or_display(concept: Any) -> None:
    assert is_trigger(order(medicationCodeableConcept=concept))


@pytest.mark.parametrize(
    "concept",
    [
        {"coding": [5, {"system": RXNORM, "code": "354770"}]},
        {"coding": [{"system": {}, "code": "x"}, {"display": "natalizumab"}]},
        {"coding": [{"system": RXNORM, "code": []}, None, "text"], "text": "Tysabri"},
        {"coding": [{"system": 17, "code": 354770}], "text": "natalizumab"},
        {"coding": [{"display": ["natalizumab"]}], "text": "tyruko"},
    ],
)
def test_ill_typed_neighbours_never_hide_the_order(concept: Any) -> None:
    assert is_trigger(order(medicationCodeableConcept=concept))


@pytest.mark.parametrize(
    "concept",
    [
        {"coding": [{"system": RXNORM, "code": "723", "display": "amoxicillin"}]},
        {"coding": [{"system": {}, "code": "354770"}]},  # a code whose system cannot be read
        {"coding": [{"code": "354770"}]},  # a code without a system is not RxNorm
        {"coding": [5], "text": 42},
        "natalizumab",
        None,
        [],
    ],
)
def test_not_natalizumab_and_never_raises(concept: Any) -> None:
    assert not is_trigger(order(medicationCodeableConcept=concept))


def test_dstu2_medication_order_is_an_order() -> None:
    dstu2 = {
        "resourceType": "MedicationOrder",
        "id": "mo1",
        "status": "draft",
        "patient": {"reference": "Patient/1"},
        "dateWritten": "2016-05-01",
        "medicationCodeableConcept": natalizumab_concept(),
    }
    assert is_trigger(dstu2)


@pytest.mark.parametrize(
    "kind",
    # Lists and objects are unhashable: found by the mutation fuzzer as a 500 (never a set key).
    ["ServiceRequest", "NutritionOrder", "DeviceRequest", 5, None, [None], {}, [["x"]]],
)
def test_other_resources_are_never_triggers(kind: Any) -> None:
    assert not is_trigger({"resourceType": kind, "medicationCodeableConcept": {"text": "tysabri"}})


def test_entered_in_error_order_is_ignored() -> None:
    assert not is_trigger(
        order(status="entered-in-error", medicationCodeableConcept={"text": "Tysabri"})
    )


def test_medication_reference_display() -> None:
    assert is_trigger(
        order(medicationReference={"reference": "Medication/m1", "display": "Tysabri"})
    )


def test_contained_medication() -> None:
    contained = [{"resourceType": "Medication", "id": "med", "code": natalizumab_concept()}]
    resource = order(contained=contained, medicationReference={"reference": "#med"})
    assert is_trigger(resource)
    assert scan_orders([resource], {}).unresolved == ()


def test_pooled_medication_by_relative_or_absolute_reference() -> None:
    medication = {"resourceType": "Medication", "id": "m1", "code": {"text": "Tyruko 300 mg"}}
    pooled = pooled_medications([{"resourceType": "Bundle", "entry": [{"resource": medication}]}])
    assert is_trigger(order(medicationReference={"reference": "Medication/m1"}), pooled)
    absolute = "https://ehr.example.org/fhir/Medication/m1/_history/2"
    assert is_trigger(order(medicationReference={"reference": absolute}), pooled)


def test_medication_by_ingredient() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "m2",
        "code": {"text": "Pharmacy compounded bag 2417"},
        "ingredient": [{"itemCodeableConcept": natalizumab_concept()}],
    }
    assert is_trigger(
        order(medicationReference={"reference": "Medication/m2"}), {"Medication/m2": medication}
    )


def test_unresolved_reference_is_reported_for_fetching() -> None:
    scan = scan_orders(
        [
            order(medicationReference={"reference": "Medication/only-on-server"}),
            order(id="o2", medicationReference={"reference": "Medication/only-on-server"}),
            order(id="o3", medicationReference={"reference": "Substance/x"}),
        ],
        {},
    )
    assert scan.orders == ()
    assert scan.unresolved == ("only-on-server",)


def test_r5_codeable_reference() -> None:
    assert is_trigger(order(medication={"concept": {"text": "natalizumab"}}))
    scan = scan_orders([order(medication={"reference": {"reference": "Medication/r5"}})], {})
    assert scan.unresolved == ("r5",)


def test_pooled_medications_tolerates_junk() -> None:
    values: list[Any] = [
        None,
        5,
        "x",
        [{"resource": {"resourceType": "Medication", "id": "a"}}, 7, {"resource": 3}],
        {"resourceType": "Bundle", "entry": "nope"},
        {"resourceType": "Bundle", "entry": [None, {"resource": {"resourceType": "Medication"}}]},
        {"resourceType": "Medication", "id": 9},
        {"resourceType": "Medication", "id": "b"},
    ]
    assert sorted(pooled_medications(values)) == ["Medication/a", "Medication/b"]


@pytest.mark.parametrize(
    ("concept", "expected"),
    [
        ({"text": "Tyruko 300 mg"}, "Tyruko"),
        ({"coding": [{"display": "TYSABRI"}]}, "Tysabri"),
        (natalizumab_concept(), "natalizumab"),
        ({"coding": [5], "text": None}, "natalizumab"),
    ],
)
def test_product_name(concept: Any, expected: str) -> None:
    assert product_name(order(medicationCodeableConcept=concept), {}) == expected


def test_scan_is_linear_in_orders_and_copies_nothing() -> None:
    orders = [
        order(id=f"o{i}", medicationCodeableConcept={"text": "amoxicillin"}) for i in range(500)
    ]
    orders.append(order(id="nat", medicationCodeableConcept={"text": "natalizumab"}))
    scan = scan_orders(orders, {})
    assert len(scan.orders) == 1
    assert scan.orders[0] is orders[-1]
