"""Indication rules on PatientRecord facts (no FHIR): SPMS activity and current therapy.

Boundaries are derived from the thresholds in the knowledge data (d-1, d, d+1), never from
literals, so a changed threshold moves the tests with it.
"""

from __future__ import annotations

import pytest

from cds_service.clinical.topics.indication import (
    ProgressiveValues,
    ReviewValues,
    UndeterminedValues,
)
from cds_service.record.model import LesionKind, Phenotype
from tests.clinical.records import (
    T,
    evidence,
    findings,
    lesions,
    monthly_infusions,
    phenotype,
    record,
    topics,
    values_of,
)
from tests.examples.topics import INDICATION_TOPICS

WINDOW = int(T.activity_window_days.value)
TAIL = int(T.treatment_period_tail_days.value)
SPMS = phenotype(Phenotype.SPMS)


def indication(**facts: object) -> tuple[str, str]:
    found = {t: i for t, i in topics(record(**facts)).items() if t in INDICATION_TOPICS}  # type: ignore[arg-type]
    assert len(found) == 1, found
    return next(iter(found.items()))


def test_free_text_mri_alone_leaves_spms_undetermined_and_is_named() -> None:
    mri = evidence("DiagnosticReport", 40, "MRI brain: new lesions, see report")
    patient = record(phenotypes=(SPMS,), mri_exams=[mri])
    finding = findings(patient)["ms-activity-undetermined"]
    assert finding.indicator.value == "warning"
    assert values_of(finding, UndeterminedValues).unassessed_mris == (mri,)
    assert mri in finding.evidence


def test_gadolinium_count_of_zero_alone_is_not_non_activity() -> None:
    gd = lesions(30, 0, LesionKind.GD_ENHANCING)
    patient = record(phenotypes=(SPMS,), mri_lesion_counts=[gd], mri_exams=[gd.evidence])
    finding = findings(patient)["ms-activity-undetermined"]
    assert values_of(finding, UndeterminedValues).gd_only == (gd.evidence,)


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (WINDOW - 1, "progressive-ms-not-indicated"),
        (WINDOW, "progressive-ms-not-indicated"),
        (WINDOW + 1, "ms-activity-undetermined"),
    ],
)
def test_new_t2_count_of_zero_is_non_activity_within_the_window(days: int, expected: str) -> None:
    assert indication(phenotypes=(SPMS,), mri_lesion_counts=[lesions(days, 0)])[0] == expected


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (WINDOW, "progressive-ms-not-indicated"),
        (WINDOW + 1, "ms-activity-undetermined"),
    ],
)
def test_coded_non_active_spms_within_the_window(days: int, expected: str) -> None:
    coded = phenotype(Phenotype.SPMS, days, non_active=True)
    assert indication(phenotypes=(coded,))[0] == expected


@pytest.mark.parametrize(
    ("days", "expected"),
    [(WINDOW, "natalizumab-indicated"), (WINDOW + 1, "ms-activity-undetermined")],
)
def test_relapse_is_activity_within_the_window(days: int, expected: str) -> None:
    relapse = evidence("Condition", days, "MS relapse")
    assert indication(phenotypes=(SPMS,), relapses=[relapse])[0] == expected


@pytest.mark.parametrize("kind", list(LesionKind))
def test_any_lesion_count_above_zero_is_activity(kind: LesionKind) -> None:
    assert indication(phenotypes=(SPMS,), mri_lesion_counts=[lesions(30, 1, kind)]) == (
        "natalizumab-indicated",
        "info",
    )


def test_activity_on_treatment_is_activity() -> None:
    facts = {"mri_lesion_counts": [lesions(30, 2)], "uses": tuple(monthly_infusions(12))}
    assert indication(phenotypes=(SPMS,), **facts)[0] == "natalizumab-indicated"


def test_spms_on_current_therapy_without_activity_is_a_review_not_a_warning() -> None:
    patient = record(
        phenotypes=(SPMS,), mri_lesion_counts=[lesions(60, 0)], uses=tuple(monthly_infusions(24))
    )
    finding = findings(patient)["spms-on-natalizumab-review"]
    assert finding.indicator.value == "info"
    review = values_of(finding, ReviewValues)
    assert review.on_therapy is True
    assert review.latest_assessment == patient.mri_lesion_counts[0].evidence


def test_spms_on_current_therapy_with_no_assessment_at_all_is_a_review() -> None:
    assert indication(phenotypes=(SPMS,), uses=tuple(monthly_infusions(6))) == (
        "spms-on-natalizumab-review",
        "info",
    )


def _restart(t2_zero_days: int) -> tuple[str, str]:
    # Paused (e.g. for pregnancy): last infusion 300 days ago, so not current; the treatment
    # period ends TAIL days after it.
    last = 300
    return indication(
        phenotypes=(SPMS,),
        uses=tuple(monthly_infusions(20, last_days_ago=last)),
        mri_lesion_counts=[lesions(t2_zero_days, 0)],
    )


def test_restart_with_only_on_treatment_non_activity_is_a_review() -> None:
    inside = 300 - TAIL  # the last day of the treatment period
    assert _restart(inside) == ("spms-on-natalizumab-review", "info")


def test_restart_with_non_activity_after_the_treatment_period_is_not_indicated() -> None:
    outside = 300 - TAIL - 1  # the first day after it
    assert _restart(outside) == ("progressive-ms-not-indicated", "warning")


def test_off_treatment_non_activity_outweighs_on_treatment_non_activity() -> None:
    uses = tuple(monthly_infusions(20, last_days_ago=300))
    counts = [lesions(300 - TAIL, 0), lesions(30, 0)]
    assert indication(phenotypes=(SPMS,), uses=uses, mri_lesion_counts=counts)[0] == (
        "progressive-ms-not-indicated"
    )


@pytest.mark.parametrize("on_therapy", [True, False])
def test_ppms_is_not_indicated_and_says_whether_therapy_is_current(on_therapy: bool) -> None:
    uses = tuple(monthly_infusions(6)) if on_therapy else ()
    finding = findings(record(phenotypes=(phenotype(Phenotype.PPMS),), uses=uses))[
        "progressive-ms-not-indicated"
    ]
    assert values_of(finding, ProgressiveValues).on_therapy is on_therapy


@pytest.mark.parametrize(("on_therapy", "indicator"), [(True, "info"), (False, "warning")])
def test_unspecified_phenotype_is_info_on_current_therapy(on_therapy: bool, indicator: str) -> None:
    uses = tuple(monthly_infusions(6)) if on_therapy else ()
    assert indication(phenotypes=(phenotype(Phenotype.UNSPECIFIED),), uses=uses) == (
        "ms-phenotype-unspecified",
        indicator,
    )


@pytest.mark.parametrize("kind", [Phenotype.RRMS, Phenotype.CIS])
def test_relapsing_forms_are_indicated(kind: Phenotype) -> None:
    assert indication(phenotypes=(phenotype(kind),)) == ("natalizumab-indicated", "info")


def test_crohns_without_ms_is_indicated_and_nothing_is_no_indication() -> None:
    assert indication(crohns=[evidence("Condition", 100, "Crohn's disease")])[0] == (
        "natalizumab-indicated"
    )
    assert indication() == ("no-approved-indication", "warning")
