"""Monitoring rules on PatientRecord facts: anti-JCV retest and brain MRI intervals."""

from __future__ import annotations

import pytest

from cds_service.clinical.topics.monitoring import JcvTestDueValues, MriDueValues
from cds_service.record.model import JcvStatus, Phenotype
from tests.clinical.records import (
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

RRMS = phenotype(Phenotype.RRMS)
MIN_MONTHS = int(T.mri_high_risk_min_exposure_months.value)


def mri(days: int) -> list[object]:
    return [evidence("DiagnosticReport", days, "MRI brain")]


def mri_rule(**facts: object) -> str | None:
    finding = findings(record(phenotypes=(RRMS,), **facts)).get("mri-due")  # type: ignore[arg-type]
    return None if finding is None else values_of(finding, MriDueValues).rule.value


def _around(days: float) -> list[tuple[int, bool]]:
    d = int(days)
    return [(d - 1, False), (d, False), (d + 1, True)]


@pytest.mark.parametrize(("age", "due"), _around(T.mri_start_days.value))
def test_start_or_restart_needs_a_recent_baseline(age: int, due: bool) -> None:
    assert (mri_rule(mri_exams=mri(age)) == "start") is due


@pytest.mark.parametrize(("age", "due"), _around(T.mri_on_therapy_days.value))
def test_on_therapy_yearly(age: int, due: bool) -> None:
    uses = tuple(monthly_infusions(6))
    assert (mri_rule(mri_exams=mri(age), uses=uses) == "on-therapy") is due


@pytest.mark.parametrize(("age", "due"), _around(T.mri_high_risk_days.value))
def test_high_risk_every_few_months_on_therapy(age: int, due: bool) -> None:
    facts = {
        "mri_exams": mri(age),
        "uses": tuple(monthly_infusions(MIN_MONTHS)),
        "jcv_results": [jcv(30, JcvStatus.POSITIVE, 0.5)],
    }
    assert (mri_rule(**facts) == "high-risk") is due


@pytest.mark.parametrize(("months", "high"), [(MIN_MONTHS - 1, False), (MIN_MONTHS, True)])
def test_high_risk_needs_the_minimum_exposure(months: int, high: bool) -> None:
    age = int(T.mri_high_risk_days.value) + 1
    facts = {
        "mri_exams": mri(age),
        "uses": tuple(monthly_infusions(months)),
        "jcv_results": [jcv(30, JcvStatus.POSITIVE)],  # no index: still positive
    }
    assert (mri_rule(**facts) == "high-risk") is high


def test_the_shortest_applicable_interval_wins_on_a_restart() -> None:
    # A restart at high risk: the start rule's interval is shorter than the high-risk one.
    assert T.mri_start_days.value < T.mri_high_risk_days.value
    facts = {
        "mri_exams": mri(int(T.mri_start_days.value) + 1),
        "uses": tuple(monthly_infusions(30, last_days_ago=400)),
        "jcv_results": [jcv(30, JcvStatus.POSITIVE, 2.0)],
    }
    assert mri_rule(**facts) == "start"


def test_no_mri_card_for_crohns_disease_or_without_an_indication() -> None:
    crohns = record(crohns=[evidence("Condition", 100, "Crohn's disease")])
    assert "mri-due" not in findings(crohns)
    assert "mri-due" not in findings(record())


def test_jcv_retest_waived_for_positive_with_prior_immunosuppressant() -> None:
    old = 1 + int(T.jcv_retest_days.value)
    prior = [prior_immunosuppressant()]
    waived = record(
        phenotypes=(RRMS,),
        jcv_results=[jcv(old, JcvStatus.POSITIVE, 0.6)],
        prior_immunosuppressants=prior,
    )
    assert "jcv-test-due" not in findings(waived)
    negative = record(
        phenotypes=(RRMS,),
        jcv_results=[jcv(old, JcvStatus.NEGATIVE, 0.1)],
        prior_immunosuppressants=prior,
    )
    due = values_of(findings(negative)["jcv-test-due"], JcvTestDueValues)
    assert due.reason.value == "outdated"


def test_jcv_retest_waived_above_the_index_threshold() -> None:
    old = 1 + int(T.jcv_retest_days.value)
    limit = T.jcv_retest_waived_index_above.value
    at = record(phenotypes=(RRMS,), jcv_results=[jcv(old, JcvStatus.POSITIVE, limit)])
    above = record(phenotypes=(RRMS,), jcv_results=[jcv(old, JcvStatus.POSITIVE, limit + 0.01)])
    assert "jcv-test-due" in findings(at)
    assert "jcv-test-due" not in findings(above)
