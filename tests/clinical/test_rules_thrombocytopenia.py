"""thrombocytopenia on PatientRecord facts; boundaries read from the knowledge."""

from __future__ import annotations

import pytest

from cds_service.clinical.registry import topic_data
from cds_service.clinical.topics.thrombocytopenia import (
    ThrombocytopeniaData,
    ThrombocytopeniaValues,
)
from cds_service.knowledge.loader import knowledge
from cds_service.record.model import ConditionFact, ObservationFact, Phenotype
from tests.clinical.records import condition_fact, findings, phenotype, record, result, values_of

DATA = topic_data(knowledge().rules, "thrombocytopenia", ThrombocytopeniaData)
BELOW = DATA.platelet_count_below.value
WINDOW = int(DATA.platelet_window_days.value)
RECENT = int(DATA.platelet_recent_days.value)
RRMS = phenotype(Phenotype.RRMS)


def count(days: float, value: float, unit: str = "10*3/uL") -> ObservationFact:
    return result("platelet-count", days, value, unit)


def itp(status: str | None = "active") -> ConditionFact:
    return condition_fact("thrombocytopenia-conditions", 2000, status=status)


def finding(*counts: ObservationFact, conditions: tuple[ConditionFact, ...] = ()):  # type: ignore[no-untyped-def]
    patient = record(phenotypes=(RRMS,), observations=list(counts), conditions=list(conditions))
    return findings(patient).get("thrombocytopenia")


@pytest.mark.parametrize(("value", "low"), [(BELOW - 1, True), (BELOW, False), (BELOW + 1, False)])
def test_the_latest_count_below_the_threshold(value: float, low: bool) -> None:
    assert (finding(count(5, value)) is not None) is low


@pytest.mark.parametrize(("days", "low"), [(WINDOW - 1, True), (WINDOW, True), (WINDOW + 1, False)])
def test_only_counts_in_the_window(days: int, low: bool) -> None:
    assert (finding(count(days, BELOW / 2)) is not None) is low


@pytest.mark.parametrize(
    ("value", "unit", "low"),
    [
        (BELOW - 1, "K/uL", True),
        (BELOW - 1, "x10E3/uL", True),
        (BELOW - 1, "10^3/uL", True),
        (BELOW - 1, "thou/uL", True),
        (BELOW - 1, "10*9/L", True),
        (BELOW - 1, "10*3/mm3", True),
        ((BELOW - 1) * 1000, "/uL", True),
        ((BELOW - 1) * 1000, "/mm3", True),
        ((BELOW + 1) * 1000, "/uL", False),
        (BELOW - 1, "k/ul", True),  # the same spelling in another case
    ],
)
def test_units_are_normalised_as_the_contract_lists(value: float, unit: str, low: bool) -> None:
    assert (finding(count(5, value, unit)) is not None) is low


@pytest.mark.parametrize("unit", ["G/l", "K/mcL", "", "10^12/L"])
def test_a_count_in_any_other_unit_is_not_judged(unit: str) -> None:
    assert finding(count(5, BELOW / 2, unit)) is None
    named = finding(count(5, BELOW / 2, unit), conditions=(itp(),))
    assert named is not None
    assert values_of(named, ThrombocytopeniaValues).unjudged


def test_a_diagnosis_counts_while_active() -> None:
    assert finding(conditions=(itp(),)) is not None
    for status in ("resolved", "inactive", "remission", None):
        assert finding(conditions=(itp(status),)) is None


@pytest.mark.parametrize(
    ("days", "outranked"), [(RECENT - 1, True), (RECENT, True), (RECENT + 1, False)]
)
def test_a_recent_normal_count_outranks_a_diagnosis(days: int, outranked: bool) -> None:
    assert (finding(count(days, BELOW), conditions=(itp(),)) is None) is outranked


def test_a_single_low_count_suggests_a_repeat_and_an_old_one_a_cbc() -> None:
    single = finding(count(5, BELOW / 2))
    assert single is not None and single.suggestions == ("repeat-platelet-count",)
    twice = finding(count(50, BELOW / 2), count(5, BELOW / 2))
    assert twice is not None and twice.suggestions == ()
    old = finding(count(RECENT + 10, BELOW / 2))
    assert old is not None
    assert old.suggestions == ("repeat-platelet-count", "complete-blood-count")
    none = finding(conditions=(itp(),))
    assert none is not None and none.suggestions == ("complete-blood-count",)
