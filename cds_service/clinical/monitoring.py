"""What monitoring is due now: anti-JCV retesting and brain MRI (contract section 3).

Retest anti-JCV every 6 months unless the patient is already in the top risk stratum
(positive with an index > 1.5 or a prior immunosuppressant). Brain MRI, for MS or CIS only:
a recent baseline before a start or restart (the reference for telling PML from MS later),
yearly on therapy, every 3-4 months at high PML risk (MAGNIMS 2015); the shortest applies.
"""

from __future__ import annotations

from datetime import datetime

from cds_service.clinical.findings import Finding, Indicator
from cds_service.clinical.indication import ms_or_cis
from cds_service.clinical.jcv import summarise_jcv
from cds_service.clinical.windows import latest, recent, within
from cds_service.knowledge.loader import Rules
from cds_service.record.model import JcvStatus, PatientRecord


def retest_waived(record: PatientRecord, rules: Rules) -> bool:
    """Positive and already in the highest stratum: a retest would not change it."""
    summary = summarise_jcv(record)
    if not summary.positive:
        return False
    index = summary.index
    high_index = index is not None and index > rules.thresholds.jcv_retest_waived_index_above.value
    return high_index or bool(record.prior_immunosuppressants)


def jcv_test_due(record: PatientRecord, now: datetime, rules: Rules) -> Finding | None:
    if retest_waived(record, rules):
        return None
    thresholds = rules.thresholds
    summary = summarise_jcv(record)
    last = summary.latest
    retest_days = thresholds.jcv_retest_days.value
    if last is None:
        reason = "no-result"
    elif last.status is JcvStatus.INDETERMINATE:
        reason = "indeterminate"
    elif not within(last.evidence.date, now.date(), retest_days):
        reason = "outdated"
    else:
        return None
    return Finding(
        topic="jcv-test-due",
        indicator=Indicator.WARNING,
        evidence=(last.parts or (last.evidence,)) if last else (),
        citations=rules.rule("jcv-test-due").citations,
        values={"reason": reason, "status": summary.status},
        suggestions=("anti-jcv-test",),
    )


def high_pml_risk(record: PatientRecord, rules: Rules) -> bool:
    """MAGNIMS 2015: anti-JCV seropositive (any index, or none) AND >= 18 months of treatment."""
    minimum = rules.thresholds.mri_high_risk_min_exposure_months.value
    return summarise_jcv(record).positive and record.exposure.months >= minimum


def mri_intervals(record: PatientRecord, rules: Rules) -> dict[str, float]:
    """Every MRI rule that applies now, by name, with its interval in days."""
    thresholds = rules.thresholds
    applicable: dict[str, float] = {}
    if record.therapy.current:
        applicable["on-therapy"] = thresholds.mri_on_therapy_days.value
    else:
        applicable["start"] = thresholds.mri_start_days.value
    if high_pml_risk(record, rules):
        applicable["high-risk"] = thresholds.mri_high_risk_days.value
    return applicable


def mri_due(record: PatientRecord, now: datetime, rules: Rules) -> Finding | None:
    """For MS or CIS only (not Crohn's disease): the shortest applicable interval decides."""
    if not ms_or_cis(record):
        return None
    intervals = mri_intervals(record, rules)
    rule, days = min(intervals.items(), key=lambda item: (item[1], item[0]))
    if recent(record.mri_exams, now.date(), days):
        return None
    last = latest(record.mri_exams)
    return Finding(
        topic="mri-due",
        indicator=Indicator.WARNING,
        evidence=(last,) if last else (),
        citations=rules.rule("mri-due").citations,
        values={
            "rule": rule,
            "interval_days": int(days),
            "months": record.exposure.months,
            "jcv_positive": summarise_jcv(record).positive,
        },
        suggestions=("brain-mri",),
    )
