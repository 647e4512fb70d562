"""Thrombocytopenia, including immune thrombocytopenic purpura (contract sections 2-3).

The latest platelet count of the window decides, read in 10⁹/L through the unit table of the
knowledge data (a count in any other unit is not judged, and the card names it). A
problem-list entry counts while active unless a recent count is normal: a recent normal count
outranks an old ITP entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cds_service.clinical.conditions import is_active
from cds_service.clinical.findings import Finding, Indicator, TopicValues
from cds_service.clinical.labs import dated_since, unit_key
from cds_service.clinical.registry import TopicData, emits, rule, topic_data
from cds_service.knowledge.loader import Rules, Threshold
from cds_service.record.model import Evidence, ObservationFact, PatientRecord

TOPIC = "thrombocytopenia"
COUNTS = "platelet-count"
CONDITIONS = "thrombocytopenia-conditions"
REPEAT = "repeat-platelet-count"
CBC = "complete-blood-count"


class ThrombocytopeniaData(TopicData):
    platelet_window_days: Threshold
    platelet_count_below: Threshold
    platelet_recent_days: Threshold
    #: Unit as written -> factor to 10⁹/L (the contract's list; anything else is not judged).
    unit_factors: dict[str, float]
    unit_citations: tuple[str, ...]


@dataclass(frozen=True)
class PlateletCount:
    evidence: Evidence
    per_nanolitre: float | None  # ×10⁹/L; None: no value, or a unit the table does not read
    comparator: str = ""  # "<10" is an upper bound, ">1000" a lower bound

    @property
    def judged(self) -> bool:
        return self.per_nanolitre is not None

    def below(self, limit: float) -> bool:
        count = self.per_nanolitre
        return count is not None and count < limit and self.comparator not in (">", ">=")

    def at_least(self, limit: float) -> bool:
        count = self.per_nanolitre
        return count is not None and count >= limit and self.comparator not in ("<", "<=")


def read_count(fact: ObservationFact, factors: Mapping[str, float]) -> PlateletCount:
    """The count in 10⁹/L when its unit (code or text) is in the table and they agree."""
    table = {unit_key(unit): factor for unit, factor in factors.items()}
    found = {
        table[unit_key(unit)]
        for unit in (fact.unit_code, fact.unit)
        if unit and unit_key(unit) in table
    }
    value = fact.evidence.value
    if value is None or len(found) != 1:
        return PlateletCount(fact.evidence, None, fact.comparator)
    return PlateletCount(fact.evidence, value * found.pop(), fact.comparator)


@dataclass(frozen=True)
class ThrombocytopeniaValues(TopicValues):
    latest: PlateletCount | None
    low: bool  # the latest count is below the threshold
    single_low: bool  # ... and it is the only low count of the window
    conditions: tuple[Evidence, ...]
    unjudged: tuple[Evidence, ...]  # counts of the window in a unit the table does not read
    units: tuple[str, ...]  # the units read, for the card


@rule(emits(TOPIC, ThrombocytopeniaValues, Indicator.WARNING), data=ThrombocytopeniaData)
def thrombocytopenia(
    record: PatientRecord, now: datetime, rules: Rules
) -> Finding[ThrombocytopeniaValues] | None:
    data = topic_data(rules, TOPIC, ThrombocytopeniaData)
    today = now.date()
    since = today - timedelta(days=int(data.platelet_window_days.value))
    recent = today - timedelta(days=int(data.platelet_recent_days.value))
    below = data.platelet_count_below.value
    facts = dated_since(record.observations_in(COUNTS), since)
    counts = [read_count(fact, data.unit_factors) for fact in facts]
    latest = counts[-1] if counts else None
    low_counts = [c for c in counts if c.below(below)]
    low = latest is not None and latest.below(below)
    recent_normal = any(c.at_least(below) and _on_or_after(c, recent) for c in counts)
    conditions = tuple(
        fact.evidence for fact in record.conditions_in(CONDITIONS) if is_active(fact)
    )
    if not low and (not conditions or recent_normal):
        return None
    suggestions = []
    if low and len(low_counts) == 1:
        suggestions.append(REPEAT)
    if latest is None or not _on_or_after(latest, recent):
        suggestions.append(CBC)
    values = ThrombocytopeniaValues(
        latest=latest,
        low=low,
        single_low=low and len(low_counts) == 1,
        conditions=() if recent_normal else conditions,
        unjudged=tuple(c.evidence for c in counts if not c.judged),
        units=tuple(data.unit_factors),
    )
    # The counts are in the values (the card states the latest and any it could not judge).
    return Finding(
        TOPIC,
        Indicator.WARNING,
        values.conditions,
        rules.rule(TOPIC).citations,
        values,
        suggestions=tuple(suggestions),
    )


def _on_or_after(count: PlateletCount, day: date) -> bool:
    return count.evidence.date is not None and count.evidence.date >= day
