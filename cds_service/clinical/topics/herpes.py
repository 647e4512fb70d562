"""Herpes simplex and varicella-zoster infections (US label 5.3; contract sections 2-3).

Natalizumab increases the risk of HSV and VZV encephalitis and meningitis and of acute
retinal necrosis (ARN). An uncomplicated infection matters while it is active and recent;
problem lists keep old episodes and postherpetic neuralgia "active" for years, so those do not
count (the postherpetic codes are excluded by the value set). Herpes encephalitis, meningitis,
myelitis or ARN counts whatever its status: critical while recent or not resolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cds_service.clinical.conditions import is_active, is_resolved
from cds_service.clinical.findings import Finding, Indicator, TopicValues
from cds_service.clinical.registry import TopicData, emits, rule, topic_data
from cds_service.knowledge.loader import Rules, Threshold
from cds_service.record.model import ConditionFact, Evidence, PatientRecord

TOPIC = "herpes-infection"
ACTIVE_SET = "herpes-infection-active"
CNS_SET = "herpes-infection-cns"


class HerpesData(TopicData):
    herpes_active_days: Threshold
    herpes_cns_critical_days: Threshold


@dataclass(frozen=True)
class CnsHerpes:
    """A herpes encephalitis, meningitis, myelitis or ARN record and why it is (not) critical."""

    evidence: Evidence
    clinical_status: str | None
    recent: bool
    resolved: bool

    @property
    def critical(self) -> bool:
        return self.recent or not self.resolved


@dataclass(frozen=True)
class HerpesValues(TopicValues):
    active: tuple[Evidence, ...]
    cns: tuple[CnsHerpes, ...]

    @property
    def critical(self) -> bool:
        return any(item.critical for item in self.cns)


def _cns(fact: ConditionFact, since_critical: datetime) -> CnsHerpes:
    return CnsHerpes(
        fact.evidence,
        fact.clinical_status,
        recent=fact.within(since_critical.date()),
        resolved=is_resolved(fact),
    )


@rule(emits(TOPIC, HerpesValues, Indicator.WARNING, Indicator.CRITICAL), data=HerpesData)
def herpes_infection(
    record: PatientRecord, now: datetime, rules: Rules
) -> Finding[HerpesValues] | None:
    data = topic_data(rules, TOPIC, HerpesData)
    active_since = now - timedelta(days=int(data.herpes_active_days.value))
    critical_since = now - timedelta(days=int(data.herpes_cns_critical_days.value))
    cns = tuple(_cns(fact, critical_since) for fact in record.conditions_in(CNS_SET))
    cns_refs = {item.evidence.reference for item in cns}
    active = tuple(
        fact.evidence
        for fact in record.conditions_in(ACTIVE_SET)
        if fact.evidence.reference not in cns_refs
        and is_active(fact, absent_counts=True)
        and fact.within(active_since.date())
    )
    if not active and not cns:
        return None
    values = HerpesValues(active, cns)
    return Finding(
        TOPIC,
        Indicator.CRITICAL if values.critical else Indicator.WARNING,
        (*(item.evidence for item in cns), *active),
        rules.rule(TOPIC).citations,
        values,
    )
