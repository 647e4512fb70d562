"""What monitoring is due now: anti-JCV retesting and brain MRI (contract section 3).

Retest anti-JCV every 6 months unless the patient is already in the top risk stratum
(positive with an index > 1.5 or a prior immunosuppressant). Brain MRI, for MS or CIS only:
a recent baseline before a start or restart (the reference for telling PML from MS later),
yearly on therapy, every 3-4 months at high PML risk (MAGNIMS 2015); the shortest applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cds_service.clinical.findings import Finding, Indicator, TopicValues
from cds_service.clinical.jcv import summarise_jcv
from cds_service.clinical.registry import emits, rule
from cds_service.clinical.topics.indication import ms_or_cis
from cds_service.clinical.windows import latest, recent, within
from cds_service.knowledge.loader import Rules, Threshold
from cds_service.record.model import Exposure, JcvStatus, PatientRecord


class JcvDueReason(StrEnum):
    NO_RESULT = "no-result"
    INDETERMINATE = "indeterminate"
    OUTDATED = "outdated"


@dataclass(frozen=True)
class JcvTestDueValues(TopicValues):
    reason: JcvDueReason
    status: JcvStatus | None


class MriRule(StrEnum):
    """The MRI interval rules; the shortest that applies sets the interval."""

    START = "start"
    ON_THERAPY = "on-therapy"
    HIGH_RISK = "high-risk"


@dataclass(frozen=True)
class MriDueValues(TopicValues):
    rule: MriRule
    interval_days: int
    exposure: Exposure
    on_therapy: bool
    jcv_positive: bool


def retest_waived(record: PatientRecord, rules: Rules) -> bool:
    """Positive and already in the highest stratum: a retest would not change it."""
    summary = summarise_jcv(record)
    if not summary.positive:
        return False
    index = summary.index
    high_index = index is not None and index > rules.thresholds.jcv_retest_waived_index_above.value
    return high_index or bool(record.prior_immunosuppressants)


@rule(emits("jcv-test-due", JcvTestDueValues, Indicator.WARNING))
def jcv_test_due(
    record: PatientRecord, now: datetime, rules: Rules
) -> Finding[JcvTestDueValues] | None:
    if retest_waived(record, rules):
        return None
    thresholds = rules.thresholds
    summary = summarise_jcv(record)
    last = summary.latest
    retest_days = thresholds.jcv_retest_days.value
    if last is None:
        reason = JcvDueReason.NO_RESULT
    elif last.status is JcvStatus.INDETERMINATE:
        reason = JcvDueReason.INDETERMINATE
    elif not within(last.evidence.date, now.date(), retest_days):
        reason = JcvDueReason.OUTDATED
    else:
        return None
    return Finding(
        topic="jcv-test-due",
        indicator=Indicator.WARNING,
        evidence=(last.parts or (last.evidence,)) if last else (),
        citations=rules.rule("jcv-test-due").citations,
        values=JcvTestDueValues(reason, summary.status),
        suggestions=("anti-jcv-test",),
    )


def high_pml_risk(record: PatientRecord, rules: Rules) -> bool:
    """MAGNIMS 2015: anti-JCV seropositive (any index, or none) AND >= 18 months of treatment."""
    minimum = rules.thresholds.mri_high_risk_min_exposure_months.value
    return summarise_jcv(record).positive and record.exposure.months >= minimum


def mri_interval(rule: MriRule, rules: Rules) -> Threshold:
    """The threshold that holds each MRI rule's interval."""
    thresholds = rules.thresholds
    return {
        MriRule.START: thresholds.mri_start_days,
        MriRule.ON_THERAPY: thresholds.mri_on_therapy_days,
        MriRule.HIGH_RISK: thresholds.mri_high_risk_days,
    }[rule]


def mri_intervals(record: PatientRecord, rules: Rules) -> dict[MriRule, float]:
    """Every MRI rule that applies now, with its interval in days."""
    applicable = [MriRule.ON_THERAPY if record.therapy.current else MriRule.START]
    if high_pml_risk(record, rules):
        applicable.append(MriRule.HIGH_RISK)
    return {item: mri_interval(item, rules).value for item in applicable}


@rule(emits("mri-due", MriDueValues, Indicator.WARNING))
def mri_due(record: PatientRecord, now: datetime, rules: Rules) -> Finding[MriDueValues] | None:
    """For MS or CIS only (not Crohn's disease): the shortest applicable interval decides."""
    if not ms_or_cis(record):
        return None
    intervals = mri_intervals(record, rules)
    chosen, days = min(intervals.items(), key=lambda item: (item[1], item[0].value))
    if recent(record.mri_exams, now.date(), days):
        return None
    last = latest(record.mri_exams)
    return Finding(
        topic="mri-due",
        indicator=Indicator.WARNING,
        evidence=(last,) if last else (),
        citations=rules.rule("mri-due").citations,
        values=MriDueValues(
            rule=chosen,
            interval_days=int(days),
            exposure=record.exposure,
            on_therapy=record.therapy.current,
            jcv_positive=summarise_jcv(record).positive,
        ),
        suggestions=("brain-mri",),
    )
