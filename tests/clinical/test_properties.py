"""Property-based tests: unrelated data and resource order never change cards; nothing raises."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.pipeline import HookData, evaluate
from tests.clinical.fhir import (
    NOW,
    PATIENT,
    concept,
    days_ago,
    infusions,
    jcv,
    mri_activity,
    mri_report,
    order,
    patient,
    relapse,
    spms,
)
from tests.support.cards import without_uuids

UNRELATED_LABS = ["Hemoglobin", "Sodium", "Creatinine", "ALT", "Platelet count", "Vitamin D"]
UNRELATED_PROBLEMS = ["Hypertension", "Asthma", "Migraine", "Type 2 diabetes mellitus"]
UNRELATED_DRUGS = ["Amoxicillin 500 mg", "Lisinopril 10 mg", "Vitamin D3 1000 IU", "Baclofen 10 mg"]


def _cards(resources: list[dict[str, Any]]) -> Any:
    nat = order()
    data = HookData([patient(), *resources, nat], [nat], [nat], patient_id="p1")
    return without_uuids(evaluate(data, NOW).cards)


BASE = [
    spms(recorded=days_ago(700)),
    relapse(days_ago(200)),
    mri_activity(days_ago(100), 0),
    mri_report(days_ago(300)),
    jcv(days_ago(250), 1.2),
    jcv(days_ago(20), 0.8),
    *infusions(26),
]


@st.composite
def unrelated_resource(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["Observation", "Condition", "MedicationRequest"]))
    rid = f"u-{draw(st.integers(0, 10**6))}"
    when = days_ago(draw(st.integers(0, 3000)))
    if kind == "Observation":
        code = f"{draw(st.integers(1000, 99999))}-{draw(st.integers(0, 9))}"
        return {
            "resourceType": "Observation",
            "id": rid,
            "status": "final",
            "subject": PATIENT,
            "code": concept("http://loinc.org", code, draw(st.sampled_from(UNRELATED_LABS))),
            "effectiveDateTime": when,
            "valueQuantity": {"value": draw(st.floats(0, 500, allow_nan=False))},
        }
    if kind == "Condition":
        return {
            "resourceType": "Condition",
            "id": rid,
            "subject": PATIENT,
            "code": concept(text=draw(st.sampled_from(UNRELATED_PROBLEMS))),
            "recordedDate": when,
        }
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": draw(st.sampled_from(["active", "completed"])),
        "intent": "order",
        "subject": PATIENT,
        "medicationCodeableConcept": concept(text=draw(st.sampled_from(UNRELATED_DRUGS))),
        "authoredOn": when,
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(unrelated_resource(), max_size=25))
def test_unrelated_resources_never_change_the_cards(extra: list[dict[str, Any]]) -> None:
    assert _cards([*BASE, *extra]) == _cards(BASE)


@settings(max_examples=60, deadline=None)
@given(st.permutations(BASE))
def test_resource_order_never_changes_the_cards(shuffled: list[dict[str, Any]]) -> None:
    assert _cards(list(shuffled)) == _cards(BASE)


JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["2024-01-01", "2024", "2024-13-45", "natalizumab", "final", "active", "G35.C1"]
    ),
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = [
    "id",
    "status",
    "code",
    "subject",
    "clinicalStatus",
    "verificationStatus",
    "recordedDate",
    "onsetDateTime",
    "effectiveDateTime",
    "effectivePeriod",
    "valueQuantity",
    "valueString",
    "interpretation",
    "medicationCodeableConcept",
    "medicationReference",
    "authoredOn",
    "birthDate",
    "patient",
    "contained",
    "dispenseRequest",
    "valueInteger",
]


@st.composite
def fhirish(draw: st.DrawFn) -> Any:
    if draw(st.booleans()):
        return draw(JSON_VALUE)
    resource: dict[str, Any] = {
        "resourceType": draw(
            st.sampled_from(
                [
                    "Patient",
                    "Condition",
                    "Observation",
                    "MedicationRequest",
                    "MedicationStatement",
                    "MedicationAdministration",
                    "AllergyIntolerance",
                    "DiagnosticReport",
                    "Procedure",
                    "ImagingStudy",
                    "Medication",
                    "Bundle",
                    7,
                ]
            )
        )
    }
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=6)):
        resource[name] = draw(JSON_VALUE)
    if draw(st.booleans()):
        resource["code"] = {
            "text": draw(
                st.sampled_from(
                    ["natalizumab", "SPMS secondary progressive", "JCV antibody", "MRI brain"]
                )
            )
        }
    return resource


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(fhirish(), max_size=8), st.lists(fhirish(), max_size=3))
def test_no_input_makes_the_engine_raise(resources: list[Any], orders: list[Any]) -> None:
    nat = order()
    data = HookData([*resources, nat], [*orders, nat], [*orders, nat], patient_id="p1")
    cards = evaluate(data, NOW).cards
    assert cards  # the valid natalizumab order always yields cards
