"""PML risk card (contract section 3) and anti-JCV status derivation (section 2)."""

from __future__ import annotations

import pytest

from cds_service.knowledge.loader import knowledge
from tests.clinical.fhir import (
    MSF,
    RXNORM,
    Resource,
    card,
    concept,
    days_ago,
    infusions,
    jcv,
    medication,
    mri_report,
    observation,
    rrms,
    run,
    topics,
)

MITOXANTRONE = concept(RXNORM, "7005", "mitoxantrone")


def risk(resources: list[Resource]) -> str | None:
    return topics(run([rrms(), mri_report(days_ago(20)), *resources])).get("pml-risk")


def test_no_result_no_card() -> None:
    assert risk([]) is None


def test_only_indeterminate_results_no_card() -> None:
    assert risk([jcv(days_ago(10), 0.3)]) is None


@pytest.mark.parametrize(
    ("index", "expected"),
    [(0.19, "info"), (0.20, None), (0.40, None), (0.41, "warning")],
)
def test_index_thresholds(index: float, expected: str | None) -> None:
    assert risk([jcv(days_ago(10), index)]) == expected


def test_qualitative_result_wins_over_index() -> None:
    assert risk([jcv(days_ago(10), 0.3, interpretation="POS")]) == "warning"
    assert risk([jcv(days_ago(10), 0.5, interpretation="NEG")]) == "info"


def test_value_string_and_codeable_concept() -> None:
    assert (
        risk([observation(concept(MSF, "anti-jcv-antibody"), days_ago(5), valueString="Negative")])
        == "info"
    )
    positive = observation(
        concept(text="JCV antibody"), days_ago(5), valueCodeableConcept=concept(text="Positive")
    )
    assert risk([positive]) == "warning"


def test_not_detected_is_negative() -> None:
    obs = observation(concept(MSF, "anti-jcv-antibody"), days_ago(5), valueString="Not detected")
    assert risk([obs]) == "info"


def test_preliminary_result_is_ignored() -> None:
    assert risk([jcv(days_ago(10), 2.0, status="preliminary")]) is None


def test_once_positive_always_positive() -> None:
    assert risk([jcv(days_ago(400), 0.8), jcv(days_ago(10), 0.1)]) == "warning"


def test_critical_needs_more_than_the_threshold_months() -> None:
    above = int(knowledge().rules.thresholds.pml_critical_exposure_above_months.value)
    for count, expected in ((above - 1, "warning"), (above, "warning"), (above + 1, "critical")):
        assert risk([jcv(days_ago(10), 1.6), *infusions(count)]) == expected, count


@pytest.mark.parametrize(("index", "expected"), [(1.5, "warning"), (1.51, "critical")])
def test_critical_index_boundary(index: float, expected: str) -> None:
    assert risk([jcv(days_ago(10), index), *infusions(30)]) == expected


def test_prior_immunosuppressant_makes_low_index_critical() -> None:
    prior = medication(
        "MedicationStatement",
        MITOXANTRONE,
        status="completed",
        start="2015-01-01",
        end="2015-06-01",
    )
    assert risk([jcv(days_ago(10), 0.6), *infusions(30), prior]) == "critical"


def test_positive_without_index_is_critical_after_24_months() -> None:
    assert risk([jcv(days_ago(10), interpretation="POS"), *infusions(25)]) == "critical"


def test_latest_positive_index_is_used() -> None:
    resources = [jcv(days_ago(300), 2.5), jcv(days_ago(10), 0.9), *infusions(30)]
    assert risk(resources) == "warning"


def test_card_gives_estimate_and_source() -> None:
    prior = medication("MedicationStatement", MITOXANTRONE, status="completed", when="2015-01-01")
    evaluation = run([rrms(), jcv(days_ago(10), 2.1), *infusions(30), prior])
    pml = card(evaluation, "pml-risk")
    assert pml["indicator"] == "critical"
    assert "per 1,000" in pml["detail"]
    assert "30 months" in pml["detail"]
    assert "mitoxantrone" in pml["detail"]
    assert "2.1" in pml["summary"]
    assert "**Sources**" in pml["detail"]
    assert pml["overrideReasons"]


def test_negative_card_is_info_without_override_reasons() -> None:
    pml = card(run([rrms(), jcv(days_ago(10), 0.1)]), "pml-risk")
    assert pml["indicator"] == "info"
    assert "overrideReasons" not in pml


@pytest.mark.parametrize(("infusion_count", "band"), [(0, 0), (24, 0), (25, 1), (49, 2), (90, 2)])
def test_card_states_the_table_estimate_for_stratum_and_band(
    infusion_count: int, band: int
) -> None:
    from cds_service.knowledge.loader import knowledge

    table = knowledge().rules.pml_risk
    expected = table.stratum("positive-no-prior-is-index-gt-1.5").estimates_per_1000[band]
    evaluation = run([rrms(), jcv(days_ago(10), 2.0), *infusions(infusion_count, 3000)])
    detail = card(evaluation, "pml-risk")["detail"]
    assert f"**{expected:g} per 1,000" in detail
    assert table.exposure_bands[band].label in detail
    assert ("beyond the table" in detail) is (infusion_count > 72)
