"""Natalizumab exposure: the larger of infusions and the span of courses (contract section 2)."""

from __future__ import annotations

from cds_service.pipeline import HookData
from cds_service.record.build import build_record
from tests.clinical.fhir import (
    NATALIZUMAB,
    NOW,
    Resource,
    days_ago,
    infusions,
    medication,
    order,
    patient,
)


def months(resources: list[Resource], drafts: list[Resource] | None = None) -> int:
    drafts = drafts or [order()]
    data = HookData([patient(), *resources, *drafts], [drafts[0]], drafts, patient_id="p1")
    built = build_record(
        resources=data.resources,
        trigger_orders=data.trigger_orders,
        draft_orders=data.draft_orders,
        now=NOW,
    )
    return built.record.exposure.months


def test_completed_infusions_count_one_month_each() -> None:
    assert months(infusions(30)) == 30


def test_not_completed_infusions_do_not_count() -> None:
    given = infusions(5)
    given[0]["status"] = "not-done"
    given[1]["status"] = "in-progress"
    assert months(given) == 3


def test_the_larger_of_infusions_and_course_span_counts() -> None:
    # An outside centre's five-year course, recorded only as a statement, outweighs 4 infusions.
    course = medication(
        "MedicationStatement", NATALIZUMAB, status="completed", start="2015-01-01", end="2020-01-01"
    )
    assert months([*infusions(4), course]) == 59  # 1826 days / 30.4375
    short = medication(
        "MedicationStatement", NATALIZUMAB, status="completed", start="2015-01-01", end="2015-03-01"
    )
    assert months([*infusions(4), short]) == 4


def test_ongoing_statement_runs_to_now() -> None:
    # 731 days / 30.4375 = 24.01 -> 24 months
    course = medication("MedicationStatement", NATALIZUMAB, status="active", start=days_ago(731))
    assert months([course]) == 24


def test_rounding_down_at_the_boundary() -> None:
    course = medication("MedicationStatement", NATALIZUMAB, status="active", start=days_ago(730))
    assert months([course]) == 23  # 730 / 30.4375 = 23.98


def test_span_from_earliest_start_to_latest_end() -> None:
    first = medication(
        "MedicationStatement", NATALIZUMAB, status="completed", start="2020-01-01", end="2020-12-31"
    )
    second = medication(
        "MedicationRequest", NATALIZUMAB, status="completed", start="2022-01-01", end="2022-03-01"
    )
    # 2020-01-01 .. 2022-03-01 = 790 days -> 25 months
    assert months([first, second]) == 25


def test_request_authored_on_is_a_start() -> None:
    request = medication("MedicationRequest", NATALIZUMAB, status="active", when=days_ago(400))
    assert months([request]) == 13


def test_draft_orders_never_count() -> None:
    older_draft = medication("MedicationRequest", NATALIZUMAB, status="draft", when=days_ago(900))
    assert months([older_draft]) == 0
    draft = order()
    draft["authoredOn"] = days_ago(900)
    draft["status"] = "active"
    assert months([], drafts=[draft]) == 0


def test_entered_in_error_course_is_ignored() -> None:
    course = medication(
        "MedicationStatement", NATALIZUMAB, status="entered-in-error", start=days_ago(900)
    )
    assert months([course]) == 0


def test_medication_reference_to_contained_and_pooled_medication() -> None:
    contained = medication("MedicationStatement", NATALIZUMAB, status="active", start=days_ago(400))
    del contained["medicationCodeableConcept"]
    contained["contained"] = [
        {"resourceType": "Medication", "id": "m", "code": {"text": "Tysabri"}}
    ]
    contained["medicationReference"] = {"reference": "#m"}
    assert months([contained]) == 13

    pooled = medication("MedicationStatement", NATALIZUMAB, status="active", start=days_ago(400))
    del pooled["medicationCodeableConcept"]
    pooled["medicationReference"] = {"reference": "Medication/tys"}
    med = {"resourceType": "Medication", "id": "tys", "code": NATALIZUMAB}
    assert months([pooled, med]) == 13


def _therapy(resources: list[Resource]) -> bool:
    nat = order()
    built = build_record(
        resources=[patient(), *resources, nat], trigger_orders=[nat], draft_orders=[nat], now=NOW
    )
    return built.record.therapy.current


def test_a_cancelled_request_was_never_given() -> None:
    cancelled = medication("MedicationRequest", NATALIZUMAB, status="cancelled", when=days_ago(400))
    assert months([cancelled]) == 0
    assert not _therapy([cancelled])


def test_the_calls_own_draft_order_never_makes_therapy_current() -> None:
    draft = order()
    draft["status"] = "active"
    draft["authoredOn"] = days_ago(100)
    assert months([], drafts=[draft]) == 0


def test_statement_asserted_recently_makes_therapy_current_from_fhir() -> None:
    stale = medication("MedicationStatement", NATALIZUMAB, status="active", start=days_ago(2000))
    assert not _therapy([stale])
    stale["dateAsserted"] = days_ago(20)
    assert _therapy([stale])


def test_intended_statement_is_not_exposure() -> None:
    intended = medication(
        "MedicationStatement", NATALIZUMAB, status="intended", start=days_ago(400)
    )
    assert months([intended]) == 0
