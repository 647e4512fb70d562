"""herpes-infection on PatientRecord facts; boundaries read from the knowledge (d-1, d, d+1)."""

from __future__ import annotations

import pytest

from cds_service.clinical.registry import topic_data
from cds_service.clinical.topics.herpes import HerpesData, HerpesValues
from cds_service.knowledge.loader import knowledge
from cds_service.record.model import ConditionFact, Phenotype
from tests.clinical.records import condition_fact, findings, phenotype, record, values_of

DATA = topic_data(knowledge().rules, "herpes-infection", HerpesData)
ACTIVE_DAYS = int(DATA.herpes_active_days.value)
CRITICAL_DAYS = int(DATA.herpes_cns_critical_days.value)
RRMS = phenotype(Phenotype.RRMS)


def indicator(*facts: ConditionFact) -> str | None:
    found = findings(record(phenotypes=(RRMS,), conditions=list(facts))).get("herpes-infection")
    return None if found is None else found.indicator.value


def active(days: float, **kw: object) -> ConditionFact:
    return condition_fact("herpes-infection-active", days, **kw)  # type: ignore[arg-type]


def cns(days: float, **kw: object) -> ConditionFact:
    return condition_fact("herpes-infection-cns", days, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("days", "expected"),
    [(ACTIVE_DAYS - 1, "warning"), (ACTIVE_DAYS, "warning"), (ACTIVE_DAYS + 1, None)],
)
def test_an_active_infection_must_be_recent(days: int, expected: str | None) -> None:
    assert indicator(active(days)) == expected


def test_recorded_recently_counts_even_with_an_old_onset() -> None:
    assert indicator(active(400, recorded_days=ACTIVE_DAYS - 1)) == "warning"
    assert indicator(active(400, recorded_days=ACTIVE_DAYS + 1)) is None


@pytest.mark.parametrize(
    ("status", "abated", "counts"),
    [
        ("active", False, True),
        ("recurrence", False, True),
        ("relapse", False, True),
        ("remission", False, False),
        ("inactive", False, False),
        ("resolved", False, False),
        (None, False, True),  # no status and no end: counts (contract: "or absent")
        (None, True, False),
    ],
)
def test_only_active_recurrence_relapse_or_absent_without_end_count(
    status: str | None, abated: bool, counts: bool
) -> None:
    fact = active(5, status=status, abated=abated)
    assert (indicator(fact) == "warning") is counts


@pytest.mark.parametrize(
    ("days", "status", "expected"),
    [
        (CRITICAL_DAYS - 1, "resolved", "critical"),
        (CRITICAL_DAYS, "resolved", "critical"),
        (CRITICAL_DAYS + 1, "resolved", "warning"),
        (2000, "active", "critical"),  # not resolved, however old
        (2000, "inactive", "critical"),  # "not resolved" is literal: inactive is not resolved
        (2000, None, "critical"),  # no status, no end: not resolved
        (2000, "remission", "critical"),
    ],
)
def test_cns_herpes_counts_whatever_its_status_and_is_critical_while_recent_or_unresolved(
    days: int, status: str | None, expected: str
) -> None:
    assert indicator(cns(days, status=status)) == expected


def test_cns_herpes_without_status_but_with_an_end_is_resolved() -> None:
    assert indicator(cns(2000, status=None, abated=True)) == "warning"


def test_a_record_in_both_sets_is_counted_once_as_cns() -> None:
    both = condition_fact("herpes-infection-cns", 5)
    both = ConditionFact(
        both.evidence,
        frozenset({"herpes-infection-cns", "herpes-infection-active"}),
        both.clinical_status,
        both.onset,
        both.recorded,
    )
    found = findings(record(phenotypes=(RRMS,), conditions=[both]))["herpes-infection"]
    values = values_of(found, HerpesValues)
    assert values.active == () and len(values.cns) == 1
    assert found.indicator.value == "critical"
