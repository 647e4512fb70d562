"""Current natalizumab therapy, treatment period and exposure (record.therapy), contract section 2.

Boundaries come from the thresholds (d-1, d, d+1).
"""

from __future__ import annotations

import pytest

from cds_service.record.therapy import count_infusions
from tests.clinical.fhir import NATALIZUMAB, medication, rrms, run, topics
from tests.clinical.records import (
    T,
    ago,
    infusion,
    monthly_infusions,
    record,
    request,
    statement,
)

DEDUP = int(T.infusion_dedup_days.value)
RECENT_INFUSION = int(T.current_infusion_days.value)
SETTLED = int(T.current_course_min_days.value)
ASSERTED = int(T.current_statement_asserted_days.value)
TAIL = int(T.treatment_period_tail_days.value)


@pytest.mark.parametrize(("gap", "counted"), [(DEDUP - 1, 1), (DEDUP, 2), (DEDUP + 1, 2)])
def test_infusions_count_at_most_one_per_dedup_window(gap: int, counted: int) -> None:
    assert count_infusions([ago(100), ago(100 - gap)], DEDUP) == counted


def test_the_same_infusion_recorded_twice_counts_once() -> None:
    assert record(uses=(infusion(50), infusion(50), infusion(22))).exposure.infusions == 2


def test_undated_infusions_count() -> None:
    assert count_infusions([None, None, ago(10)], DEDUP) == 3


@pytest.mark.parametrize(
    ("days", "current"),
    [(RECENT_INFUSION - 1, True), (RECENT_INFUSION, True), (RECENT_INFUSION + 1, False)],
)
def test_a_recent_completed_infusion_makes_therapy_current(days: int, current: bool) -> None:
    assert record(uses=(infusion(days),)).therapy.current is current


def test_an_infusion_not_completed_does_not_make_therapy_current() -> None:
    assert not record(uses=(infusion(10, status="in-progress"),)).therapy.current


@pytest.mark.parametrize(
    ("days", "current"), [(SETTLED - 1, False), (SETTLED, True), (SETTLED + 1, True)]
)
def test_an_active_statement_counts_once_it_has_run(days: int, current: bool) -> None:
    assert record(uses=(statement(days),)).therapy.current is current


@pytest.mark.parametrize(
    ("asserted", "current"), [(ASSERTED - 1, True), (ASSERTED, True), (ASSERTED + 1, False)]
)
def test_a_statement_left_active_for_years_is_not_current(asserted: int, current: bool) -> None:
    patient = record(uses=(statement(2000, asserted_days=asserted),))
    assert patient.therapy.current is current


def test_a_statement_without_date_asserted_is_dated_by_its_start() -> None:
    assert not record(uses=(statement(ASSERTED + 1),)).therapy.current
    assert not record(uses=(statement(100, status="completed"),)).therapy.current


@pytest.mark.parametrize(("days", "current"), [(SETTLED - 1, False), (SETTLED, True)])
def test_an_active_request_counts_once_authored_long_enough_ago(days: int, current: bool) -> None:
    assert record(uses=(request(days),)).therapy.current is current


def test_a_completed_request_is_not_current_therapy() -> None:
    assert not record(uses=(request(100, status="completed"),)).therapy.current


def test_treatment_period_runs_to_tail_days_after_the_last_infusion() -> None:
    therapy = record(uses=tuple(monthly_infusions(10, last_days_ago=300))).therapy
    assert therapy.last_exposure == ago(300)
    assert therapy.in_period(ago(300 - TAIL))
    assert not therapy.in_period(ago(300 - TAIL - 1))
    assert therapy.period_start == ago(300 + 9 * 28)
    assert not therapy.in_period(ago(300 + 9 * 28 + 1))


def test_an_ongoing_statement_keeps_the_period_open() -> None:
    therapy = record(uses=(statement(800),)).therapy
    assert therapy.in_period(ago(0))


def test_exposure_is_the_larger_count_and_keeps_both() -> None:
    # An outside centre's two-year statement, then four local infusions.
    outside = statement(900, status="completed", end_days=170)
    exposure = record(uses=(outside, *monthly_infusions(4))).exposure
    assert exposure.infusions == 4
    assert exposure.span_months == int(730 / T.days_per_month.value)
    assert exposure.months == exposure.span_months
    assert exposure.counts_differ


def test_infusions_win_when_they_are_more() -> None:
    exposure = record(uses=(*monthly_infusions(30), request(40))).exposure
    assert exposure.months == 30
    assert exposure.first_infusion == ago(28 + 29 * 28)
    assert exposure.last_infusion == ago(28)


def test_an_infusion_dated_at_the_end_of_the_calendar_never_crashes() -> None:
    """9999-12-31T23:59:59-14:00 is a valid FHIR dateTime; its treatment period cannot end
    183 days later, so it ends on the last representable day (found by the mutation fuzzer)."""
    last_day = "9999-12-31T23:59:59-14:00"
    evaluation = run(
        [
            rrms(),
            medication("MedicationAdministration", NATALIZUMAB, status="completed", when=last_day),
        ]
    )
    assert "natalizumab-indicated" in topics(evaluation)
