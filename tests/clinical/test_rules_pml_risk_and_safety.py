"""PML risk severity and the safety rules on PatientRecord facts."""

from __future__ import annotations

import pytest

from cds_service.cards.render import render_cards
from cds_service.clinical.topics.pml_risk import PmlRiskValues
from cds_service.clinical.topics.safety import ConcomitantValues, PmlHistoryValues
from cds_service.knowledge.loader import knowledge
from cds_service.record.model import JcvStatus, Phenotype
from tests.clinical.records import (
    ORDER,
    T,
    evidence,
    findings,
    jcv,
    monthly_infusions,
    phenotype,
    prior_immunosuppressant,
    record,
    values_of,
)

ABOVE = int(T.pml_critical_exposure_above_months.value)
RRMS = phenotype(Phenotype.RRMS)


@pytest.mark.parametrize(
    ("months", "indicator"), [(ABOVE - 1, "warning"), (ABOVE, "warning"), (ABOVE + 1, "critical")]
)
def test_critical_needs_more_than_the_threshold_months(months: int, indicator: str) -> None:
    patient = record(
        phenotypes=(RRMS,),
        uses=tuple(monthly_infusions(months)),
        jcv_results=[jcv(10, JcvStatus.POSITIVE, 2.0)],
    )
    assert findings(patient)["pml-risk"].indicator.value == indicator


def test_the_critical_band_agrees_with_the_table_band() -> None:
    table = knowledge().rules.pml_risk
    patient = record(
        phenotypes=(RRMS,),
        uses=tuple(monthly_infusions(ABOVE + 1)),
        jcv_results=[jcv(10, JcvStatus.POSITIVE, 2.0)],
    )
    band = values_of(findings(patient)["pml-risk"], PmlRiskValues).band
    assert band == table.exposure_bands[1]
    assert table.exposure_bands[0].max_months == ABOVE


def test_unverified_prior_is_first_band_says_so_beside_the_number() -> None:
    table = knowledge().rules.pml_risk
    stratum = table.stratum("positive-prior-is")
    assert not table.estimate_verified(stratum, 0)
    assert table.estimate_verified(stratum, 1)
    patient = record(
        phenotypes=(RRMS,),
        uses=tuple(monthly_infusions(10)),
        jcv_results=[jcv(10, JcvStatus.POSITIVE, 0.6)],
        prior_immunosuppressants=[prior_immunosuppressant()],
    )
    finding = findings(patient)["pml-risk"]
    card = render_cards([finding], patient, [ORDER]).cards[0]
    figure = f"{stratum.estimates_per_1000[0]:g}"
    assert f"~{figure}/1,000 (unverified)" in card["summary"]
    assert f"**{figure} per 1,000 patients** — **unverified**" in card["detail"]


@pytest.mark.parametrize(
    ("days", "suspected"),
    [
        (int(T.jcv_dna_window_days.value), True),
        (int(T.jcv_dna_window_days.value) + 1, False),
    ],
)
def test_jcv_dna_detected_is_suspected_pml_while_recent(days: int, suspected: bool) -> None:
    patient = record(
        phenotypes=(RRMS,), jcv_dna_positive=[evidence("Observation", days, "JC virus DNA")]
    )
    finding = findings(patient).get("pml-history")
    assert (finding is not None) is suspected
    if finding is not None:
        assert finding.values == PmlHistoryValues(history=False, suspected=True)


def test_suspected_pml_is_critical_and_worded_withhold_until_excluded() -> None:
    patient = record(phenotypes=(RRMS,), pml_suspected=[evidence("Condition", 5, "possible PML")])
    finding = findings(patient)["pml-history"]
    assert finding.indicator.value == "critical"
    card = render_cards([finding], patient, [ORDER]).cards[0]
    assert "withhold natalizumab until PML is excluded" in card["summary"]
    assert "first sign or symptom suggestive of PML" in card["detail"]


def test_pml_history_is_contraindicated_whatever_else() -> None:
    patient = record(phenotypes=(RRMS,), pml_history=[evidence("Condition", 2000, "PML")])
    finding = findings(patient)["pml-history"]
    assert finding.values == PmlHistoryValues(history=True, suspected=False)
    card = render_cards([finding], patient, [ORDER]).cards[0]
    assert card["summary"].startswith("Contraindicated")


def test_hypersensitivity_wording_is_any_reaction() -> None:
    patient = record(
        phenotypes=(RRMS,), hypersensitivity=[evidence("AllergyIntolerance", 100, "rash")]
    )
    finding = findings(patient)["natalizumab-hypersensitivity"]
    card = render_cards([finding], patient, [ORDER]).cards[0]
    assert "a hypersensitivity reaction" in card["summary"]
    assert "not only a serious one" in card["detail"]
    assert "serious hypersensitivity" not in card["detail"]


def test_immunocompromised_and_concomitant_are_independent_of_the_indication() -> None:
    patient = record(
        immunocompromising=[evidence("Condition", 10, "HIV infection")],
        concomitant_immunotherapy=[prior_immunosuppressant("fingolimod")],
    )
    found = findings(patient)
    assert found["immunocompromised"].indicator.value == "warning"
    concomitant = values_of(found["concomitant-immunotherapy"], ConcomitantValues)
    assert concomitant.drugs == ("fingolimod",)
    assert "no-approved-indication" in found
