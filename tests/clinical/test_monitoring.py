"""Monitoring due now: anti-JCV retest and brain MRI (contract section 3)."""

from __future__ import annotations

import pytest

from tests.clinical.fhir import (
    CPT,
    RXNORM,
    Resource,
    card,
    concept,
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


@pytest.mark.parametrize(("age", "due"), [(182, False), (183, False), (184, True)])
def test_retest_boundary(age: int, due: bool) -> None:
    assert ("jcv-test-due" in found([jcv(days_ago(age), 0.1), mri_report(days_ago(5))])) is due


def test_indeterminate_latest_result_is_due() -> None:
    assert "jcv-test-due" in found([jcv(days_ago(400), 0.1), jcv(days_ago(5), 0.3)])


@pytest.mark.parametrize(("index", "due"), [(1.5, True), (1.51, False)])
def test_retest_waived_above_index_1_5(index: float, due: bool) -> None:
    assert ("jcv-test-due" in found([jcv(days_ago(400), index), mri_report(days_ago(5))])) is due


@pytest.mark.parametrize(("age", "due"), [(364, False), (365, False), (366, True)])
def test_routine_mri_boundary(age: int, due: bool) -> None:
    assert ("mri-due" in found([mri_report(days_ago(age)), jcv(days_ago(5), 0.1)])) is due


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
    return found([jcv(days_ago(30), index), *infusions(months), mri_report(days_ago(mri_age))])


@pytest.mark.parametrize(("age", "due"), [(182, False), (183, False), (184, True)])
def test_high_risk_mri_boundary(age: int, due: bool) -> None:
    assert ("mri-due" in _high_risk(age, months=18)) is due


@pytest.mark.parametrize(("months", "due"), [(17, False), (18, True)])
def test_high_risk_needs_18_months(months: int, due: bool) -> None:
    assert ("mri-due" in _high_risk(250, months=months)) is due


@pytest.mark.parametrize(("index", "due"), [(0.9, False), (0.91, True)])
def test_high_risk_index_boundary(index: float, due: bool) -> None:
    assert ("mri-due" in _high_risk(250, months=20, index=index)) is due


def test_prior_immunosuppressant_is_high_risk_at_low_index() -> None:
    prior = medication(
        "MedicationRequest",
        concept(RXNORM, "1256", "azathioprine"),
        status="stopped",
        when="2010-01-01",
    )
    resources = [jcv(days_ago(30), 0.5), *infusions(20), mri_report(days_ago(250)), prior]
    evaluation = run([rrms(), *resources])
    assert "mri-due" in topics(evaluation)
    assert "6 months" in card(evaluation, "mri-due")["summary"]
