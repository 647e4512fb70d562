"""What monitoring is due now: anti-JCV retesting and brain MRI (contract section 3).

Retest every 6 months unless the result can no longer change the risk band (index > 1.5);
brain MRI at least yearly, and every 6 months at high PML risk (MAGNIMS-CMSC-NAIMS 2021).
"""

from __future__ import annotations

from datetime import datetime

from cds_service.clinical.findings import Finding, Indicator
from cds_service.clinical.jcv import summarise_jcv
from cds_service.clinical.windows import latest, recent, within
from cds_service.knowledge.loader import Rules
from cds_service.record.model import JcvStatus, PatientRecord


def jcv_test_due(record: PatientRecord, now: datetime, rules: Rules) -> Finding | None:
    thresholds = rules.thresholds
    summary = summarise_jcv(record)
    index = summary.index
    if (
        summary.positive
        and index is not None
        and index > thresholds.jcv_retest_waived_index_above.value
    ):
        return None
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
        evidence=(last.evidence,) if last else (),
        citations=rules.rule("jcv-test-due").citations,
        values={"reason": reason, "retest_days": int(retest_days), "status": summary.status},
        suggestions=("anti-jcv-test",),
    )


def high_pml_risk(record: PatientRecord, rules: Rules) -> bool:
    """Anti-JCV positive with index > 0.9, no index, or prior IS; and >= 18 months exposure."""
    thresholds = rules.thresholds
    summary = summarise_jcv(record)
    if not summary.positive:
        return False
    index = summary.index
    risk_marker = (
        index is None
        or index > thresholds.mri_high_risk_index_above.value
        or bool(record.prior_immunosuppressants)
    )
    return (
        risk_marker and record.exposure.months >= thresholds.mri_high_risk_min_exposure_months.value
    )


def mri_due(record: PatientRecord, now: datetime, rules: Rules) -> Finding | None:
    thresholds = rules.thresholds
    today = now.date()
    last = latest(record.mri_exams)
    routine_days = thresholds.mri_routine_days.value
    high_risk_days = thresholds.mri_high_risk_days.value
    if not recent(record.mri_exams, today, routine_days):
        reason = "routine"
    elif high_pml_risk(record, rules) and not recent(record.mri_exams, today, high_risk_days):
        reason = "high-risk"
    else:
        return None
    return Finding(
        topic="mri-due",
        indicator=Indicator.WARNING,
        evidence=(last,) if last else (),
        citations=rules.rule("mri-due").citations,
        values={
            "reason": reason,
            "routine_days": int(routine_days),
            "high_risk_days": int(high_risk_days),
            "months": record.exposure.months,
        },
        suggestions=("brain-mri",),
    )
