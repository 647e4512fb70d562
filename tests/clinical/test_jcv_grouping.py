"""Anti-JCV Observations of one test are one result (contract section 2), read from FHIR JSON."""

from __future__ import annotations

from typing import Any

from cds_service.record.build import build_record
from cds_service.record.model import JcvResult, JcvStatus
from tests.clinical.fhir import (
    LOINC_ANTIBODY,
    LOINC_INDEX,
    NOW,
    PATIENT,
    Resource,
    concept,
    days_ago,
    jcv,
    observation,
    order,
    patient,
)


def results(resources: list[Resource]) -> list[JcvResult]:
    nat = order()
    built = build_record(
        resources=[patient(), *resources, nat], trigger_orders=[nat], draft_orders=[nat], now=NOW
    )
    return sorted(built.record.jcv_results, key=lambda r: r.evidence.reference)


def antibody(when: str, value: str, **kw: Any) -> Resource:
    return observation(concept("http://loinc.org", LOINC_ANTIBODY), when, valueString=value, **kw)


def index(when: str, value: float, **kw: Any) -> Resource:
    quantity = {"value": value, "unit": "index"}
    return observation(concept("http://loinc.org", LOINC_INDEX), when, valueQuantity=quantity, **kw)


def test_antibody_and_index_on_the_same_day_are_one_positive_result() -> None:
    (result,) = results([antibody(days_ago(20), "Positive"), index(days_ago(20), 0.3)])
    assert (result.status, result.index) == (JcvStatus.POSITIVE, 0.3)
    assert len(result.parts) == 2


def test_lab_negative_wins_over_an_indeterminate_index() -> None:
    (result,) = results([antibody(days_ago(20), "Negative"), index(days_ago(20), 0.35)])
    assert result.status is JcvStatus.NEGATIVE


def test_conflicting_qualitative_results_are_indeterminate() -> None:
    (result,) = results([antibody(days_ago(20), "Positive"), antibody(days_ago(20), "Negative")])
    assert result.status is JcvStatus.INDETERMINATE


def test_different_days_are_different_tests() -> None:
    found = results([antibody(days_ago(200), "Negative"), index(days_ago(20), 0.3)])
    assert [r.status for r in found] == [JcvStatus.NEGATIVE, JcvStatus.INDETERMINATE]


def test_a_shared_specimen_groups_results_reported_on_different_days() -> None:
    specimen = {"specimen": {"reference": "Specimen/s1"}}
    (result,) = results(
        [antibody(days_ago(21), "Positive", **specimen), index(days_ago(19), 0.8, **specimen)]
    )
    assert (result.status, result.index) == (JcvStatus.POSITIVE, 0.8)


def test_a_diagnostic_report_groups_its_results() -> None:
    first, second = antibody(days_ago(22), "Positive"), index(days_ago(18), 0.25)
    report = {
        "resourceType": "DiagnosticReport",
        "id": "dr-jcv",
        "status": "final",
        "subject": PATIENT,
        "code": concept(text="STRATIFY JCV DxSelect"),
        "result": [
            {"reference": f"Observation/{first['id']}"},
            {"reference": f"https://ehr.example/fhir/Observation/{second['id']}"},
        ],
    }
    (result,) = results([first, second, report])
    assert (result.status, result.index) == (JcvStatus.POSITIVE, 0.25)


def test_the_local_date_is_read_in_its_own_utc_offset() -> None:
    # 23:30 at UTC-5 and 08:00 at UTC+2 are both 1 June locally: one test. 01:00 on 2 June at
    # UTC+2 is still 1 June in UTC, but its own local date is 2 June: another test.
    same_a = antibody("2026-06-01T23:30:00-05:00", "Positive")
    same_b = index("2026-06-01T08:00:00+02:00", 0.3)
    other = index("2026-06-02T01:00:00+02:00", 0.3)
    found = results([same_a, same_b, other])
    assert sorted((r.status.value, len(r.parts)) for r in found) == [
        ("indeterminate", 1),
        ("positive", 2),
    ]


def test_ungrouped_index_alone_follows_the_assay_cut_offs() -> None:
    assert results([jcv(days_ago(5), 0.1)])[0].status is JcvStatus.NEGATIVE
    assert results([jcv(days_ago(5), 0.3)])[0].status is JcvStatus.INDETERMINATE
    assert results([jcv(days_ago(5), 0.5)])[0].status is JcvStatus.POSITIVE
