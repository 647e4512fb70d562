"""Evidence of significant liver injury (US label: hepatotoxicity; contract sections 2-3).

The latest ALT, AST and total bilirubin of the window are each judged against their own
reference range, in their own unit. ALT/AST above 3 × the upper limit, or flagged critical-high,
is evidence of injury; a bilirubin above 2 × counts only together with such an ALT/AST on the
same day, because an isolated bilirubin rise is usually Gilbert syndrome. A result with no
usable limit (and no critical flag) is not judged, and the card names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cds_service.clinical.conditions import is_active
from cds_service.clinical.findings import Finding, Indicator, TopicValues
from cds_service.clinical.labs import above, dated_since, multiple_of_limit, within_limit
from cds_service.clinical.registry import TopicData, emits, rule, topic_data
from cds_service.knowledge.loader import Rules, Threshold
from cds_service.record.model import Evidence, ObservationFact, PatientRecord, UpperLimit

TOPIC = "liver-injury"
CONDITIONS = "liver-injury-conditions"
CRITICAL_HIGH = "critical-high-interpretation"


class Analyte(StrEnum):
    """The analyte, by the value set that recognises its results."""

    ALT = "alanine-aminotransferase"
    AST = "aspartate-aminotransferase"
    BILIRUBIN = "total-bilirubin"


class LiverData(TopicData):
    liver_lab_window_days: Threshold
    aminotransferase_uln_multiple: Threshold
    bilirubin_uln_multiple: Threshold
    liver_condition_window_days: Threshold


class Verdict(StrEnum):
    ABOVE = "above"  # above its multiple of the limit (ALT/AST: 3 ×; bilirubin: 2 ×)
    CRITICAL_FLAG = "critical-flag"  # no usable limit, but flagged critical-high
    RAISED = "raised"  # above the limit, below the multiple
    WITHIN = "within"  # at or below the limit
    NOT_JUDGED = "not-judged"  # no usable limit (or no value) and no critical flag


@dataclass(frozen=True)
class AnalyteResult:
    """The latest result of one analyte in the window, judged; ``earlier_above`` is an
    earlier result above its multiple when the latest is within the limit (since normalised)."""

    analyte: Analyte
    latest: Evidence
    limit: UpperLimit | None
    multiple: float | None
    verdict: Verdict
    earlier_above: Evidence | None = None
    same_day_injury: bool = False  # bilirubin: an ALT/AST above 3 × on the same day

    @property
    def injury(self) -> bool:
        """Evidence of liver injury on its own (ALT/AST only)."""
        return self.analyte is not Analyte.BILIRUBIN and self.verdict in (
            Verdict.ABOVE,
            Verdict.CRITICAL_FLAG,
        )


@dataclass(frozen=True)
class LiverInjuryValues(TopicValues):
    results: tuple[AnalyteResult, ...]
    conditions: tuple[Evidence, ...]
    starting: bool  # no current natalizumab therapy: a start or restart

    @property
    def flagged_critical(self) -> bool:
        return any(r.injury and r.verdict is Verdict.CRITICAL_FLAG for r in self.results)


def _multiple(analyte: Analyte, data: LiverData) -> float:
    if analyte is Analyte.BILIRUBIN:
        return data.bilirubin_uln_multiple.value
    return data.aminotransferase_uln_multiple.value


def _verdict(fact: ObservationFact, analyte: Analyte, data: LiverData) -> Verdict:
    if above(fact, _multiple(analyte, data)):
        return Verdict.ABOVE
    if multiple_of_limit(fact) is None:
        critical = analyte is not Analyte.BILIRUBIN and CRITICAL_HIGH in fact.flags
        return Verdict.CRITICAL_FLAG if critical else Verdict.NOT_JUDGED
    if within_limit(fact):
        return Verdict.WITHIN
    return Verdict.RAISED


def _judge(facts: list[ObservationFact], analyte: Analyte, data: LiverData) -> AnalyteResult:
    latest = facts[-1]
    verdict = _verdict(latest, analyte, data)
    earlier = None
    if verdict is Verdict.WITHIN:
        earlier = next(
            (
                f.evidence
                for f in reversed(facts[:-1])
                if _verdict(f, analyte, data) in (Verdict.ABOVE, Verdict.CRITICAL_FLAG)
            ),
            None,
        )
    return AnalyteResult(
        analyte, latest.evidence, latest.upper_limit, multiple_of_limit(latest), verdict, earlier
    )


@rule(emits(TOPIC, LiverInjuryValues, Indicator.WARNING), data=LiverData)
def liver_injury(
    record: PatientRecord, now: datetime, rules: Rules
) -> Finding[LiverInjuryValues] | None:
    data = topic_data(rules, TOPIC, LiverData)
    since = (now - timedelta(days=int(data.liver_lab_window_days.value))).date()
    results = []
    for analyte in Analyte:
        facts = dated_since(record.observations_in(analyte.value), since)
        if facts:
            results.append(_judge(facts, analyte, data))
    injury_days = {r.latest.date for r in results if r.injury}
    results = [
        AnalyteResult(
            r.analyte,
            r.latest,
            r.limit,
            r.multiple,
            r.verdict,
            r.earlier_above,
            same_day_injury=r.latest.date in injury_days,
        )
        if r.analyte is Analyte.BILIRUBIN
        else r
        for r in results
    ]
    condition_since = (now - timedelta(days=int(data.liver_condition_window_days.value))).date()
    conditions = tuple(
        fact.evidence
        for fact in record.conditions_in(CONDITIONS)
        if is_active(fact) and fact.within(condition_since)
    )
    if not conditions and not any(r.injury for r in results):
        return None
    values = LiverInjuryValues(tuple(results), conditions, starting=not record.therapy.current)
    evidence = (
        *conditions,
        *(r.latest for r in results),
        *(r.earlier_above for r in results if r.earlier_above is not None),
    )
    return Finding(TOPIC, Indicator.WARNING, evidence, rules.rule(TOPIC).citations, values)
