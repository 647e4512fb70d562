"""liver-injury on PatientRecord facts; boundaries read from the knowledge."""

from __future__ import annotations

import pytest

from cds_service.cards.render import render_cards
from cds_service.clinical.registry import topic_data
from cds_service.clinical.topics.liver import LiverData, LiverInjuryValues, Verdict
from cds_service.knowledge.loader import knowledge
from cds_service.record.model import ConditionFact, ObservationFact, Phenotype
from tests.clinical.records import (
    ORDER,
    condition_fact,
    findings,
    monthly_infusions,
    phenotype,
    record,
    result,
    values_of,
)

DATA = topic_data(knowledge().rules, "liver-injury", LiverData)
WINDOW = int(DATA.liver_lab_window_days.value)
TIMES = DATA.aminotransferase_uln_multiple.value
BILI_TIMES = DATA.bilirubin_uln_multiple.value
CONDITION_DAYS = int(DATA.liver_condition_window_days.value)
ULN = 50.0
RRMS = phenotype(Phenotype.RRMS)


def alt(days: float, value: float, **kw: object) -> ObservationFact:
    kw.setdefault("limit", ULN)
    return result("alanine-aminotransferase", days, value, "U/L", **kw)  # type: ignore[arg-type]


def ast(days: float, value: float, **kw: object) -> ObservationFact:
    kw.setdefault("limit", ULN)
    return result("aspartate-aminotransferase", days, value, "U/L", **kw)  # type: ignore[arg-type]


def bilirubin(days: float, value: float, **kw: object) -> ObservationFact:
    kw.setdefault("limit", 1.2)
    return result("total-bilirubin", days, value, "mg/dL", **kw)  # type: ignore[arg-type]


def liver(
    *observations: ObservationFact, conditions: tuple[ConditionFact, ...] = (), **facts: object
) -> LiverInjuryValues | None:
    patient = record(
        phenotypes=(RRMS,),
        observations=list(observations),
        conditions=list(conditions),
        **facts,  # type: ignore[arg-type]
    )
    found = findings(patient).get("liver-injury")
    return None if found is None else values_of(found, LiverInjuryValues)


@pytest.mark.parametrize(
    ("value", "injury"), [(ULN * TIMES - 1, False), (ULN * TIMES, False), (ULN * TIMES + 1, True)]
)
@pytest.mark.parametrize("analyte", [alt, ast])
def test_aminotransferase_above_the_multiple_of_its_limit(
    analyte: object, value: float, injury: bool
) -> None:
    assert (liver(analyte(10, value)) is not None) is injury  # type: ignore[operator]


@pytest.mark.parametrize(
    ("days", "injury"), [(WINDOW - 1, True), (WINDOW, True), (WINDOW + 1, False)]
)
def test_only_results_in_the_window_are_judged(days: int, injury: bool) -> None:
    assert (liver(alt(days, ULN * TIMES * 2)) is not None) is injury


def test_the_latest_result_decides() -> None:
    assert liver(alt(40, ULN * TIMES * 2), alt(5, ULN * 0.5)) is None
    assert liver(alt(40, ULN * 0.5), alt(5, ULN * TIMES * 2)) is not None


def test_a_critical_high_flag_counts_without_a_limit() -> None:
    values = liver(alt(5, 900, limit=None, flags=("critical-high-interpretation",)))
    assert values is not None and values.flagged_critical
    assert values.results[0].verdict is Verdict.CRITICAL_FLAG


def test_a_result_without_a_usable_limit_is_not_judged() -> None:
    assert liver(alt(5, 900, limit=None)) is None
    assert liver(alt(5, 900, limit_unit="ukat/L")) is None  # a limit in another unit
    values = liver(ast(5, 900), alt(5, 900, limit=None))
    assert values is not None
    verdicts = {r.analyte.value: r.verdict for r in values.results}
    assert verdicts["alanine-aminotransferase"] is Verdict.NOT_JUDGED


def test_a_less_than_value_is_never_above() -> None:
    assert liver(alt(5, ULN * TIMES * 2, comparator="<")) is None
    assert liver(alt(5, ULN * TIMES * 2, comparator=">")) is not None


def test_an_isolated_bilirubin_rise_is_not_liver_injury() -> None:
    assert liver(bilirubin(5, 1.2 * BILI_TIMES * 2), alt(5, ULN * 0.8)) is None


def test_bilirubin_counts_together_with_a_same_day_aminotransferase() -> None:
    values = liver(bilirubin(5, 1.2 * BILI_TIMES + 0.5), alt(5, ULN * TIMES + 10))
    assert values is not None
    bili = next(r for r in values.results if r.analyte.value == "total-bilirubin")
    assert bili.verdict is Verdict.ABOVE and bili.same_day_injury
    other_day = liver(bilirubin(6, 1.2 * BILI_TIMES + 0.5), alt(5, ULN * TIMES + 10))
    assert other_day is not None
    assert not next(
        r for r in other_day.results if r.analyte.value == "total-bilirubin"
    ).same_day_injury


@pytest.mark.parametrize(
    ("days", "counts"),
    [(CONDITION_DAYS - 1, True), (CONDITION_DAYS, True), (CONDITION_DAYS + 1, False)],
)
def test_a_liver_diagnosis_counts_while_recent(days: int, counts: bool) -> None:
    fact = condition_fact("liver-injury-conditions", days)
    assert (liver(conditions=(fact,)) is not None) is counts


@pytest.mark.parametrize("status", ["resolved", "inactive", "remission", None])
def test_a_liver_diagnosis_counts_only_while_active(status: str | None) -> None:
    fact = condition_fact("liver-injury-conditions", 10, status=status)
    assert liver(conditions=(fact,)) is None


def test_a_normalised_value_says_so_on_the_card() -> None:
    jaundice = condition_fact("liver-injury-conditions", 30, description="Jaundice")
    patient = record(
        phenotypes=(RRMS,),
        conditions=[jaundice],
        observations=[alt(40, ULN * TIMES * 2), alt(5, ULN * 0.6)],
        uses=tuple(monthly_infusions(6)),
    )
    finding = findings(patient)["liver-injury"]
    card = render_cards([finding], patient, [ORDER]).cards[0]
    assert "since normalised" in card["detail"]
    assert "evaluate liver injury before infusing" in card["summary"]
    assert "Product rule: " in card["detail"]
    assert "3 × the upper limit of normal" in card["detail"]


def test_a_start_says_evaluate_liver_disease_before_starting() -> None:
    patient = record(phenotypes=(RRMS,), observations=[alt(5, ULN * TIMES * 2)])
    card = render_cards([findings(patient)["liver-injury"]], patient, [ORDER]).cards[0]
    assert "evaluate liver disease before starting" in card["summary"]
