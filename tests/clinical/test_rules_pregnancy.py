"""pregnancy on PatientRecord facts; boundaries read from the knowledge."""

from __future__ import annotations

import pytest

from cds_service.clinical.registry import topic_data
from cds_service.clinical.topics.pregnancy import PregnancyData, PregnancyValues
from cds_service.knowledge.loader import knowledge
from cds_service.record.model import ConditionFact, ObservationFact, Phenotype, ProcedureFact
from tests.clinical.records import (
    ago,
    condition_fact,
    findings,
    phenotype,
    procedure_fact,
    record,
    result,
    values_of,
)

DATA = topic_data(knowledge().rules, "pregnancy", PregnancyData)
DURATION = int(DATA.pregnancy_duration_days.value)
LOOKBACK = int(DATA.pregnancy_lookback_days.value)
RRMS = phenotype(Phenotype.RRMS)


def status(days: float, says: str | None) -> ObservationFact:
    sets = {"pregnant": ("pregnancy-status-pregnant",), "not": ("pregnancy-status-not-pregnant",)}
    return result("pregnancy-status", days, None, value_sets=sets.get(says or "", ()))


def visit(days: float, **kw: object) -> ConditionFact:
    return condition_fact("pregnancy-conditions", days, **kw)  # type: ignore[arg-type]


def began(
    *observations: ObservationFact,
    conditions: tuple[ConditionFact, ...] = (),
    procedures: tuple[ProcedureFact, ...] = (),
) -> object:
    patient = record(
        phenotypes=(RRMS,),
        observations=list(observations),
        conditions=list(conditions),
        procedures=list(procedures),
    )
    found = findings(patient).get("pregnancy")
    return None if found is None else values_of(found, PregnancyValues).began


def test_a_pregnant_status_is_evidence() -> None:
    assert began(status(10, "pregnant")) == ago(10)


def test_a_later_not_pregnant_status_ends_it_and_on_the_same_day_too() -> None:
    assert began(status(40, "pregnant"), status(10, "not")) is None
    assert began(status(10, "pregnant"), status(10, "not")) is None
    assert began(status(10, "pregnant"), status(40, "not")) == ago(10)


def test_unknown_or_possible_neither_begins_nor_ends_it() -> None:
    assert began(status(10, None)) is None
    assert began(status(40, "pregnant"), status(10, None)) == ago(40)


@pytest.mark.parametrize(
    ("days", "current"), [(DURATION - 1, True), (DURATION, True), (DURATION + 1, False)]
)
def test_a_pregnancy_lasts_the_duration_from_its_first_evidence(days: int, current: bool) -> None:
    assert (began(conditions=(visit(days),)) is not None) is current


@pytest.mark.parametrize(
    ("offset", "begins_at_the_earlier"),
    [(LOOKBACK - 1, True), (LOOKBACK, True), (LOOKBACK + 1, False)],
)
def test_it_begins_at_the_earliest_evidence_within_the_look_back(
    offset: int, begins_at_the_earlier: bool
) -> None:
    """Evidence within the look-back before the latest starts the pregnancy there (so, this
    far back, its duration has passed); evidence beyond it belongs to an earlier pregnancy."""
    latest = 5
    first = began(conditions=(visit(latest + offset), visit(latest)))
    assert first == (None if begins_at_the_earlier else ago(latest))
    recent = began(conditions=(visit(latest + 100), visit(latest)))
    assert recent == ago(latest + 100)


def test_evidence_after_a_delivery_is_a_new_pregnancy() -> None:
    first = began(
        conditions=(visit(200), visit(20)),
        procedures=(procedure_fact("delivery-procedures", 100, "Caesarean section"),),
    )
    assert first == ago(20)


def test_a_delivery_or_outcome_record_after_the_evidence_ends_it() -> None:
    delivered = procedure_fact("delivery-procedures", 10, "Vaginal delivery")
    assert began(conditions=(visit(200),), procedures=(delivered,)) is None
    outcome = condition_fact("pregnancy-outcome-conditions", 10)
    assert began(conditions=(visit(200), outcome)) is None


def test_the_diagnosis_abatement_ends_it_and_an_ended_diagnosis_is_no_evidence() -> None:
    assert began(conditions=(visit(200, abatement_days=10),)) is None
    assert began(conditions=(visit(50, status="resolved"),)) is None
    assert began(conditions=(visit(50, status=None),)) == ago(50)
