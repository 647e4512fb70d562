"""The four safety topics from FHIR JSON: codes, text, statuses, units and ranges as EHRs send
them, through the real record building, terminology, rules and card rendering."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clinical.fhir import (
    ICD,
    SNOMED,
    V3,
    Resource,
    card,
    concept,
    condition,
    days_ago,
    observation,
    rrms,
    run,
    topics,
)

LOINC = "http://loinc.org"
PROCEDURE_STATUS = "completed"


def found(*resources: Resource) -> dict[str, str]:
    evaluation = run([rrms(), *resources])
    assert evaluation.card_fallbacks == []
    return topics(evaluation)


def detail(topic: str, *resources: Resource) -> str:
    evaluation = run([rrms(), *resources])
    assert evaluation.card_fallbacks == []
    text: str = card(evaluation, topic)["detail"]
    return text


def icd(code: str, text: str | None = None) -> Resource:
    return concept(ICD, code, text)


def lab(code: str, value: float | None, unit: str | None, days: int = 5, **extra: Any) -> Resource:
    body: dict[str, Any] = dict(extra)
    if value is not None:
        quantity: dict[str, Any] = {"value": value}
        if unit:
            quantity["unit"] = unit
        body["valueQuantity"] = quantity
    return observation(concept(LOINC, code), days_ago(days), **body)


def high(value: float, unit: str | None = "U/L") -> list[dict[str, Any]]:
    quantity: dict[str, Any] = {"value": value}
    if unit:
        quantity["unit"] = unit
    return [{"high": quantity}]


# -- herpes-infection ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (icd("B02.9"), "warning"),
        (icd("B00.1"), "warning"),
        (icd("A60.04"), "warning"),
        (icd("B01.9"), "warning"),
        (icd("B02.21"), None),  # postherpetic (contract v2; see research note 6.1)
        (icd("B02.22"), None),
        (icd("B0223"), None),  # written without its dot
        (icd("B02.29"), None),
        (icd("B02.22", "Herpes zoster trigeminal neuralgia"), None),  # the code excludes it
        (concept(text="Herpes zoster"), "warning"),
        (concept(text="Shingles, left T6"), "warning"),
        (concept(text="Genital herpes"), "warning"),
        (concept(text="Postherpetic neuralgia"), None),
        (concept(text="Post-herpetic neuralgia after shingles"), None),
        (concept(text="History of shingles"), None),
        (concept(text="Zoster vaccine given"), None),
        (icd("B00.4"), "critical"),
        (icd("B02.24"), "critical"),
        (concept(text="HSV-1 encephalitis"), "critical"),
        (concept(text="Meningitis due to varicella zoster virus"), "critical"),
        (concept(text="Acute retinal necrosis, right eye"), "critical"),
    ],
)
def test_herpes_codes_and_text(code: Resource, expected: str | None) -> None:
    recent = condition(code, onset=days_ago(10))
    assert found(recent).get("herpes-infection") == expected


def test_old_resolved_cns_herpes_is_a_warning_and_named() -> None:
    old = condition(
        icd("B00.4", "Herpes simplex encephalitis"), onset="2019-03-01", clinical="resolved"
    )
    assert found(old)["herpes-infection"] == "warning"
    text = detail("herpes-infection", old)
    assert "Herpes simplex encephalitis" in text
    assert "acute retinal necrosis (ARN); discontinue use" in text
    assert "section 5.3" in text and "Product rule:" in text


def test_an_old_uncomplicated_episode_is_not_an_active_infection() -> None:
    assert "herpes-infection" not in found(condition(icd("B02.9"), onset="2020-01-01"))


# -- liver-injury ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        (high(56), "warning"),
        ([{"text": "7-56 U/L"}], "warning"),
        ([{"text": "7 - 56"}], "warning"),  # no unit: the result's own
        ([{"text": "< 56 U/L"}], "warning"),
        ([{"text": "M: 7-56; F: 7-45"}], None),  # ambiguous: not judged
        (high(0.93, "ukat/L"), None),  # another unit: not judged
        ([], None),
    ],
)
def test_alt_against_its_own_reference_range(
    reference: list[dict[str, Any]], expected: str | None
) -> None:
    alt = lab("1742-6", 200, "U/L", referenceRange=reference)
    assert found(alt).get("liver-injury") == expected


def test_a_critical_high_flag_without_a_range_counts_and_says_so() -> None:
    ast = lab("1920-8", 900, "U/L", interpretation=[concept(V3, "HH")])
    assert found(ast)["liver-injury"] == "warning"
    assert "flagged critical-high by the laboratory" in detail("liver-injury", ast)


def test_an_isolated_bilirubin_rise_gives_no_card_but_counts_beside_an_alt() -> None:
    # US Core shape: valueQuantity with a unit and no code, the limit with a code and a unit.
    bili = lab(
        "1975-2",
        3.1,
        "mg/dL",
        referenceRange=[{"high": {"value": 1.2, "unit": "mg/dL", "code": "mg/dL"}}],
    )
    assert "liver-injury" not in found(bili)
    alt = lab("1742-6", 400, "U/L", referenceRange=high(40))
    text = detail("liver-injury", bili, alt)
    assert "on the same day as an ALT or AST above its threshold" in text


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (icd("K71.10"), "warning"),
        (icd("K72.00"), "warning"),
        (icd("K75.4"), "warning"),
        (icd("R17"), "warning"),
        (concept(text="Drug-induced liver injury"), "warning"),
        (concept(text="No jaundice"), None),
    ],
)
def test_liver_diagnoses(code: Resource, expected: str | None) -> None:
    assert found(condition(code, recorded=days_ago(30))).get("liver-injury") == expected


# -- thrombocytopenia ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (85, "10*3/uL", "warning"),
        (85, "K/uL", "warning"),
        (85000, "/uL", "warning"),
        (150, "K/uL", None),
        (85, "G/l", None),  # not a unit the contract reads: not judged
    ],
)
def test_platelet_counts_and_units(value: float, unit: str, expected: str | None) -> None:
    assert found(lab("777-3", value, unit)).get("thrombocytopenia") == expected


def test_an_old_itp_entry_with_a_recent_normal_count_gives_no_card() -> None:
    entry = condition(icd("D69.3"), recorded="2018-05-01")
    assert "thrombocytopenia" not in found(entry, lab("26515-7", 210, "10*3/uL", days=10))
    evaluation = run([rrms(), entry])
    cbc = card(evaluation, "thrombocytopenia")
    assert cbc["selectionBehavior"] == "at-most-one"
    labels = [s["label"] for s in cbc["suggestions"]]
    assert any("Complete blood count" in label for label in labels)


def test_a_low_count_names_the_unread_unit_of_another_count() -> None:
    low = lab("777-3", 60, "10*3/uL", days=5)
    other = lab("778-1", 55, "K/mcL", days=20)
    text = detail("thrombocytopenia", low, other)
    assert "Not judged, unit not read" in text and "K\\/mcL" in text  # escaped record text
    assert "Product rule: " in text and "100 × 10⁹/L" in text


# -- pregnancy -------------------------------------------------------------------------------


def status(value: Resource | str, days: int) -> Resource:
    body: dict[str, Any] = (
        {"valueString": value} if isinstance(value, str) else {"valueCodeableConcept": value}
    )
    return observation(concept(LOINC, "82810-3"), days_ago(days), **body)


PREGNANT = concept(LOINC, "LA15173-0")
NOT_PREGNANT = concept(LOINC, "LA26683-5")


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ([status(PREGNANT, 20)], "warning"),
        ([status(concept(SNOMED, "77386006"), 20)], "warning"),
        ([status("Pregnant", 20)], "warning"),
        ([status("Not pregnant", 20)], None),
        ([status("possibly pregnant", 20)], None),
        ([status(PREGNANT, 60), status(NOT_PREGNANT, 10)], None),
        ([status(PREGNANT, 60), status(concept(LOINC, "LA4489-6"), 10)], "warning"),  # unknown
        ([condition(icd("Z34.00"), recorded=days_ago(100))], "warning"),
        ([condition(icd("O09.511"), recorded=days_ago(100))], "warning"),
        ([condition(icd("Z34.00"), recorded=days_ago(300))], None),  # past 280 days
        ([condition(concept(text="Not pregnant"), recorded=days_ago(10))], None),
        ([condition(concept(text="History of pregnancy"), recorded=days_ago(10))], None),
        (
            [
                condition(icd("Z3A.39"), recorded=days_ago(20)),
                condition(icd("Z37.0"), recorded=days_ago(20)),  # the delivery, same day
            ],
            None,
        ),
    ],
)
def test_pregnancy_evidence_and_its_end(resources: list[Resource], expected: str | None) -> None:
    assert found(*resources).get("pregnancy") == expected


def test_a_caesarean_section_after_the_evidence_ends_it() -> None:
    visit = condition(icd("Z34.80"), recorded=days_ago(200))
    section = {
        "resourceType": "Procedure",
        "id": "proc-cs",
        "status": PROCEDURE_STATUS,
        "subject": {"reference": "Patient/p1"},
        "code": {"text": "Caesarean section"},
        "performedDateTime": days_ago(10),
    }
    assert "pregnancy" in found(visit)
    assert "pregnancy" not in found(visit, section)


def test_the_pregnancy_card_gives_the_date_and_the_label_it_follows() -> None:
    text = detail("pregnancy", status(PREGNANT, 20))
    assert days_ago(20) in text
    assert "US prescribing information could not be read" in text
    assert "platelets and haemoglobin" in text
    assert "record it" in text
