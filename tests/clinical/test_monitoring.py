"""Monitoring due now: anti-JCV retest and brain MRI (contract section 3)."""

from __future__ import annotations

import pytest

from cds_service.knowledge.loader import knowledge
from tests.clinical.fhir import (
    CPT,
    RXNORM,
    SNOMED,
    Resource,
    card,
    concept,
    condition,
    days_ago,
    infusions,
    jcv,
    medication,
    mri_activity,
    mri_report,
    rrms,
    run,
    topics,
)

T = knowledge().rules.thresholds
MIN_MONTHS = T.mri_high_risk_min_exposure_months.value


def _boundaries(days: float) -> list[tuple[int, bool]]:
    """d-1 and d are within the interval (not due); d+1 is outside it (due)."""
    d = int(days)
    return [(d - 1, False), (d, False), (d + 1, True)]


def found(resources: list[Resource]) -> dict[str, str]:
    return topics(run([rrms(), *resources]))


def test_no_result_means_test_due_with_service_request_suggestion() -> None:
    evaluation = run([rrms(), mri_report(days_ago(10))])
    due = card(evaluation, "jcv-test-due")
    assert due["selectionBehavior"]
    action = due["suggestions"][0]["actions"][0]
    assert action["type"] == "create"
    request = action["resource"]
    assert request["resourceType"] == "ServiceRequest"
    assert (request["status"], request["intent"]) == ("draft", "proposal")
    assert request["subject"] == {"reference": "Patient/p1"}


@pytest.mark.parametrize(("age", "due"), _boundaries(T.jcv_retest_days.value))
def test_retest_boundary(age: int, due: bool) -> None:
    assert ("jcv-test-due" in found([jcv(days_ago(age), 0.1), mri_report(days_ago(5))])) is due


def test_indeterminate_latest_result_is_due() -> None:
    assert "jcv-test-due" in found([jcv(days_ago(400), 0.1), jcv(days_ago(5), 0.3)])


def test_retest_waived_above_the_index_threshold() -> None:
    limit = T.jcv_retest_waived_index_above.value
    for index, due in ((limit, True), (limit + 0.01, False)):
        resources = [jcv(days_ago(400), index), mri_report(days_ago(5))]
        assert ("jcv-test-due" in found(resources)) is due, index


def test_retest_waived_when_positive_with_prior_immunosuppressant() -> None:
    prior = medication(
        "MedicationRequest",
        concept(RXNORM, "1256", "azathioprine"),
        status="stopped",
        when="2010-01-01",
    )
    assert "jcv-test-due" not in found([jcv(days_ago(400), 0.6), mri_report(days_ago(5)), prior])
    # A negative patient with a prior immunosuppressant is still retested.
    assert "jcv-test-due" in found([jcv(days_ago(400), 0.1), mri_report(days_ago(5)), prior])


def test_jcv_due_detail_warns_about_plasma_exchange_and_ivig() -> None:
    detail = card(run([rrms(), mri_report(days_ago(5))]), "jcv-test-due")["detail"]
    assert T.jcv_no_test_after_plasma_exchange_days.spoken in detail
    assert "plasma exchange" in detail
    assert T.jcv_no_test_after_ivig_months.spoken in detail
    assert "IVIG" in detail


@pytest.mark.parametrize(("age", "due"), _boundaries(T.mri_start_days.value))
def test_start_needs_a_recent_baseline_mri(age: int, due: bool) -> None:
    assert ("mri-due" in found([mri_report(days_ago(age)), jcv(days_ago(5), 0.1)])) is due


@pytest.mark.parametrize(("age", "due"), _boundaries(T.mri_on_therapy_days.value))
def test_on_therapy_mri_boundary(age: int, due: bool) -> None:
    on_therapy = infusions(6, first_days_ago=6 * 28)
    resources = [mri_report(days_ago(age)), jcv(days_ago(5), 0.1), *on_therapy]
    assert ("mri-due" in found(resources)) is due


def test_mri_due_card_says_which_rule_set_the_interval() -> None:
    evaluation = run([rrms(), mri_report(days_ago(int(T.mri_start_days.value) + 30))])
    detail = card(evaluation, "mri-due")["detail"]
    assert "Interval set by this rule: a start or restart" in detail


def test_crohns_disease_gets_no_mri_card() -> None:
    crohns = condition(concept(SNOMED, "34000006"), recorded=days_ago(100))
    assert "mri-due" not in topics(run([crohns, jcv(days_ago(5), 0.1)]))


@pytest.mark.parametrize("code", ["70551", "70552", "70553"])
def test_cpt_codes_count_as_brain_mri(code: str) -> None:
    assert "mri-due" not in found([mri_report(days_ago(30), code)])


def test_text_only_mri_procedure_counts() -> None:
    procedure = {
        "resourceType": "Procedure",
        "id": "proc-1",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "code": {"text": "MRI of brain with gadolinium"},
        "performedDateTime": days_ago(40),
    }
    assert "mri-due" not in found([procedure])


def test_imaging_study_counts() -> None:
    study = {
        "resourceType": "ImagingStudy",
        "id": "img-1",
        "status": "available",
        "subject": {"reference": "Patient/p1"},
        "started": days_ago(40),
        "procedureCode": [concept(CPT, "70553")],
    }
    assert "mri-due" not in found([study])


def test_activity_observation_is_an_mri_exam() -> None:
    assert "mri-due" not in found([mri_activity(days_ago(40), 0)])


def test_unrelated_mri_is_not_brain_mri() -> None:
    knee = mri_report(days_ago(40), code="73721")
    knee["code"] = concept(CPT, "73721", "MRI knee")
    assert "mri-due" in found([knee])


def _high_risk(mri_age: int, months: int, index: float = 1.0) -> dict[str, str]:
    # On therapy (the last of ``months`` monthly infusions was 28 days ago).
    return found(
        [
            jcv(days_ago(30), index),
            *infusions(months, first_days_ago=28 * months),
            mri_report(days_ago(mri_age)),
        ]
    )


@pytest.mark.parametrize(("age", "due"), _boundaries(T.mri_high_risk_days.value))
def test_high_risk_mri_boundary(age: int, due: bool) -> None:
    assert ("mri-due" in _high_risk(age, months=int(MIN_MONTHS))) is due


@pytest.mark.parametrize(
    ("months", "due"),
    [(int(MIN_MONTHS) - 1, False), (int(MIN_MONTHS), True), (int(MIN_MONTHS) + 1, True)],
)
def test_high_risk_needs_the_minimum_exposure(months: int, due: bool) -> None:
    assert ("mri-due" in _high_risk(int(T.mri_high_risk_days.value) + 20, months=months)) is due


@pytest.mark.parametrize("index", [0.5, 0.9, 3.0])
def test_high_risk_is_any_positive_index(index: float) -> None:
    assert "mri-due" in _high_risk(int(T.mri_high_risk_days.value) + 20, months=20, index=index)


def test_negative_patient_on_therapy_is_not_high_risk() -> None:
    assert "mri-due" not in _high_risk(int(T.mri_high_risk_days.value) + 20, months=30, index=0.1)
