"""Contraindications and warnings (contract section 3): independent of the indication."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from cds_service.pipeline import HookData, evaluate
from tests.clinical.fhir import (
    ICD,
    NOW,
    PATIENT,
    RXNORM,
    SNOMED,
    TODAY,
    Resource,
    card,
    concept,
    condition,
    days_ago,
    medication,
    order,
    patient,
    rrms,
    run,
    topics,
)


def _birth_for_age(years: int, extra_days: int = 0) -> str:
    return (
        date(TODAY.year - years, TODAY.month, TODAY.day) + timedelta(days=extra_days)
    ).isoformat()


def _run_with_birth(birth: str) -> dict[str, str]:
    pool = [patient(birth), rrms(recorded=days_ago(10)), order()]
    return topics(evaluate(HookData(pool, [order()], [order()], patient_id="p1"), NOW))


@pytest.mark.parametrize(
    ("birth", "pediatric"),
    [
        (_birth_for_age(17), True),
        (_birth_for_age(18, extra_days=1), True),  # 18th birthday tomorrow
        (_birth_for_age(18), False),  # 18 today
        (_birth_for_age(40), False),
    ],
)
def test_pediatric_boundary(birth: str, pediatric: bool) -> None:
    assert ("pediatric-patient" in _run_with_birth(birth)) is pediatric


def test_year_only_birth_date_errs_towards_minor() -> None:
    assert "pediatric-patient" in _run_with_birth(str(TODAY.year - 18))


def test_pediatric_card_states_age() -> None:
    pool = [patient(_birth_for_age(16)), order()]
    evaluation = evaluate(HookData(pool, [order()], [order()], patient_id="p1"), NOW)
    assert "16" in card(evaluation, "pediatric-patient")["summary"]


@pytest.mark.parametrize("clinical", ["active", "resolved", "inactive", None])
@pytest.mark.parametrize(
    "code",
    [
        concept(SNOMED, "22255007"),
        concept(ICD, "A81.2"),
        concept(text="Progressive multifocal leukoencephalopathy"),
    ],
)
def test_pml_history_any_clinical_status_is_critical(code: Resource, clinical: str | None) -> None:
    found = topics(run([rrms(), condition(code, clinical=clinical, recorded=days_ago(2000))]))
    assert found["pml-history"] == "critical"
    assert "natalizumab-indicated" in found  # does not suppress other cards


def test_refuted_pml_is_ignored() -> None:
    found = topics(run([rrms(), condition(concept(SNOMED, "22255007"), verification="refuted")]))
    assert "pml-history" not in found


def _allergy(clinical: str | None = "active", code: Resource | None = None) -> Resource:
    resource = {
        "resourceType": "AllergyIntolerance",
        "id": "allergy-1",
        "patient": PATIENT,
        "code": code or concept(RXNORM, "354770", "natalizumab"),
    }
    if clinical:
        resource["clinicalStatus"] = concept(
            "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", clinical
        )
    return resource


@pytest.mark.parametrize("clinical", ["active", None])
def test_hypersensitivity_is_critical(clinical: str | None) -> None:
    assert topics(run([rrms(), _allergy(clinical)]))["natalizumab-hypersensitivity"] == "critical"


def test_hypersensitivity_by_brand_text() -> None:
    found = topics(run([rrms(), _allergy(code=concept(text="Tyruko infusion reaction"))]))
    assert found["natalizumab-hypersensitivity"] == "critical"


@pytest.mark.parametrize("clinical", ["inactive", "resolved"])
def test_inactive_allergy_is_ignored(clinical: str) -> None:
    assert "natalizumab-hypersensitivity" not in topics(run([rrms(), _allergy(clinical)]))


def test_other_allergy_is_ignored() -> None:
    found = topics(run([rrms(), _allergy(code=concept(text="Penicillin"))]))
    assert "natalizumab-hypersensitivity" not in found


@pytest.mark.parametrize(
    "code",
    [
        concept(ICD, "B20"),
        concept(ICD, "C91.10"),
        concept(ICD, "C83.30"),
        concept(ICD, "Z94.0"),
        concept(text="HIV infection"),
        concept(text="Chronic lymphocytic leukemia"),
        concept(text="Kidney transplant status"),
    ],
)
def test_immunocompromising_conditions(code: Resource) -> None:
    assert topics(run([rrms(), condition(code)]))["immunocompromised"] == "warning"


@pytest.mark.parametrize(
    "code", [concept(ICD, "C80.1"), concept(ICD, "C97"), concept(ICD, "K51.90")]
)
def test_conditions_outside_the_immunocompromising_set(code: Resource) -> None:
    assert "immunocompromised" not in topics(run([rrms(), condition(code)]))


FINGOLIMOD = concept(text="Fingolimod 0.5 mg capsule")
AZATHIOPRINE = concept(RXNORM, "1256", "azathioprine")


def test_active_dmt_is_concomitant_and_named() -> None:
    evaluation = run([rrms(), medication("MedicationStatement", FINGOLIMOD, status="active")])
    assert topics(evaluation)["concomitant-immunotherapy"] == "warning"
    assert "Fingolimod" in card(evaluation, "concomitant-immunotherapy")["summary"]


@pytest.mark.parametrize("status", ["completed", "stopped", "draft", "entered-in-error"])
def test_inactive_dmt_is_not_concomitant(status: str) -> None:
    resources = [rrms(), medication("MedicationRequest", FINGOLIMOD, status=status)]
    assert "concomitant-immunotherapy" not in topics(run(resources))


def test_unselected_draft_order_is_concomitant() -> None:
    other = medication("MedicationRequest", FINGOLIMOD, status="draft")
    evaluation = run([rrms()], orders=[order()], drafts=[order(), other])
    assert topics(evaluation)["concomitant-immunotherapy"] == "warning"


def test_corticosteroids_are_not_concomitant_immunotherapy() -> None:
    steroid = medication("MedicationRequest", concept(text="Methylprednisolone 1 g IV"))
    assert "concomitant-immunotherapy" not in topics(run([rrms(), steroid]))


def test_concomitant_immunosuppressant_is_critical_in_crohns() -> None:
    resources = [
        condition(concept(SNOMED, "34000006")),
        medication("MedicationStatement", AZATHIOPRINE, status="active"),
    ]
    found = topics(run(resources))
    assert found["concomitant-immunotherapy"] == "critical"
    assert found["natalizumab-indicated"] == "info"


def test_tnf_inhibitor_by_text() -> None:
    resources = [rrms(), medication("MedicationRequest", concept(text="Infliximab 5 mg/kg"))]
    assert "concomitant-immunotherapy" in topics(run(resources))


@pytest.mark.parametrize(
    "text", ["HIV test negative", "HIV screening", "HIV pre-exposure prophylaxis", "Walking aids"]
)
def test_hiv_mentions_that_are_not_infection_do_not_fire(text: str) -> None:
    assert "immunocompromised" not in topics(run([rrms(), condition(concept(text=text))]))


def test_aids_by_abbreviation() -> None:
    found = topics(run([rrms(), condition(concept(text="AIDS"))]))
    assert found["immunocompromised"] == "warning"


@pytest.mark.parametrize("verification", ["provisional", "differential"])
def test_provisional_or_differential_pml_is_suspected_pml(verification: str) -> None:
    pml = condition(concept(SNOMED, "22255007"), verification=verification, recorded=days_ago(3))
    evaluation = run([rrms(), pml])
    assert topics(evaluation)["pml-history"] == "critical"
    suspected = card(evaluation, "pml-history")
    assert "until PML is excluded" in suspected["summary"]
    assert "contraindicated" not in suspected["detail"].lower()


def _jcv_dna(value: dict[str, object], text: str = "JC virus DNA, CSF (PCR)") -> Resource:
    return {
        "resourceType": "Observation",
        "id": "obs-jcv-dna",
        "status": "final",
        "subject": PATIENT,
        "code": concept(text=text),
        "effectiveDateTime": days_ago(7),
        **value,
    }


@pytest.mark.parametrize(
    ("value", "suspected"),
    [
        ({"valueString": "Detected"}, True),
        ({"valueCodeableConcept": concept(text="Positive")}, True),
        ({"valueQuantity": {"value": 120, "unit": "copies/mL"}}, True),
        ({"valueString": "Not detected"}, False),
        ({"valueQuantity": {"value": 500, "comparator": "<", "unit": "copies/mL"}}, False),
    ],
)
def test_jcv_dna_pcr_detected_is_suspected_pml(value: dict[str, object], suspected: bool) -> None:
    found = topics(run([rrms(), _jcv_dna(value)]))
    assert ("pml-history" in found) is suspected
    assert "pml-risk" not in found  # a DNA test is not an antibody result


def test_hypersensitivity_card_says_any_reaction() -> None:
    hyper = card(run([rrms(), _allergy()]), "natalizumab-hypersensitivity")
    assert "a hypersensitivity reaction" in hyper["summary"]


def test_a_preliminary_detected_jcv_dna_is_already_suspicion() -> None:
    preliminary = {**_jcv_dna({"valueString": "Detected"}), "status": "preliminary"}
    assert topics(run([rrms(), preliminary]))["pml-history"] == "critical"
