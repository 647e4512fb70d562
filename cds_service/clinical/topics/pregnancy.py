"""A current pregnancy (contract sections 2-3).

Pregnancy evidence (a pregnancy status "pregnant", a pregnancy diagnosis) is rarely closed:
prenatal-visit codes are never resolved. So the current pregnancy begins at the earliest
evidence within the look-back before the latest evidence and lasts a fixed duration, ending
earlier at a delivery or outcome record, a later status "not pregnant" or the diagnosis's end.
Evidence after an end belongs to a new pregnancy; on the same day, the end wins (a delivery
record carries its weeks of gestation, research note 6.3). "Unknown" or "possible" is neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cds_service.clinical.findings import Finding, Indicator, TopicValues
from cds_service.clinical.registry import TopicData, emits, rule, topic_data
from cds_service.knowledge.loader import Rules, Threshold
from cds_service.record.model import Evidence, PatientRecord

TOPIC = "pregnancy"
CONDITIONS = "pregnancy-conditions"
OUTCOMES = "pregnancy-outcome-conditions"
STATUS = "pregnancy-status"
PREGNANT = "pregnancy-status-pregnant"
NOT_PREGNANT = "pregnancy-status-not-pregnant"
DELIVERY = "delivery-procedures"
ENDED_STATUSES = frozenset({"inactive", "remission", "resolved"})


class PregnancyData(TopicData):
    pregnancy_lookback_days: Threshold
    pregnancy_duration_days: Threshold


@dataclass(frozen=True)
class PregnancyValues(TopicValues):
    began: date  # the earliest evidence of the current pregnancy
    lasts_until: date  # began + the duration, unless an end is recorded first
    on_therapy: bool


def _evidence_and_ends(record: PatientRecord, today: date) -> tuple[list[Evidence], list[date]]:
    evidence: list[Evidence] = []
    ends: list[date] = []
    for fact in record.observations_in(STATUS):
        says = fact.value_sets & {PREGNANT, NOT_PREGNANT}
        if says == {PREGNANT}:
            evidence.append(fact.evidence)
        elif says == {NOT_PREGNANT} and fact.evidence.date is not None:
            ends.append(fact.evidence.date)
    for condition in record.conditions_in(CONDITIONS):
        if condition.abatement is not None:
            ends.append(condition.abatement)
        if condition.abated or condition.clinical_status in ENDED_STATUSES:
            continue  # an ended pregnancy, on a day not (or already) counted above
        evidence.append(condition.evidence)
    ends += [c.evidence.date for c in record.conditions_in(OUTCOMES) if c.evidence.date]
    ends += [p.evidence.date for p in record.procedures_in(DELIVERY) if p.evidence.date]
    dated = [e for e in evidence if e.date is not None and e.date <= today]
    return dated, [day for day in ends if day <= today]


@rule(emits(TOPIC, PregnancyValues, Indicator.WARNING), data=PregnancyData)
def pregnancy(
    record: PatientRecord, now: datetime, rules: Rules
) -> Finding[PregnancyValues] | None:
    data = topic_data(rules, TOPIC, PregnancyData)
    today = now.date()
    evidence, ends = _evidence_and_ends(record, today)
    if not evidence:
        return None
    latest = max(e.date for e in evidence if e.date is not None)
    if any(day >= latest for day in ends):
        return None  # ended at (or after) its latest evidence
    start = latest - timedelta(days=int(data.pregnancy_lookback_days.value))
    earlier_ends = [day for day in ends if day < latest]
    if earlier_ends:
        start = max(start, max(earlier_ends) + timedelta(days=1))
    current = [e for e in evidence if e.date is not None and e.date >= start]
    began = min(e.date for e in current if e.date is not None)
    lasts_until = began + timedelta(days=int(data.pregnancy_duration_days.value))
    if today > lasts_until:
        return None
    return Finding(
        TOPIC,
        Indicator.WARNING,
        tuple(current),
        rules.rule(TOPIC).citations,
        PregnancyValues(began, lasts_until, on_therapy=record.therapy.current),
    )
