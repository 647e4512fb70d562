"""Cards on monitoring that is due: the anti-JCV antibody test and the brain MRI."""

from __future__ import annotations

from cds_service.cards.markdown import fmt_number
from cds_service.cards.registry import CardText, TextContext, card_text
from cds_service.cards.wording import exposure_lines
from cds_service.clinical.findings import Finding
from cds_service.clinical.topics.monitoring import (
    JcvDueReason,
    JcvTestDueValues,
    MriDueValues,
    MriRule,
    mri_interval,
)


@card_text("jcv-test-due", JcvTestDueValues)
def jcv_test_due(finding: Finding[JcvTestDueValues], context: TextContext) -> CardText:
    thresholds = context.rules.thresholds
    retest = thresholds.jcv_retest_days.spoken
    summary = {
        JcvDueReason.NO_RESULT: "Anti-JCV antibody test due: no result on record",
        JcvDueReason.INDETERMINATE: "Anti-JCV antibody test due: latest result indeterminate",
        JcvDueReason.OUTDATED: f"Anti-JCV antibody test due: latest result older than {retest}",
    }[finding.values.reason]
    return CardText(
        summary,
        "Test anti-JCV antibodies (with index) before starting natalizumab and retest every "
        f"{retest} while on treatment, unless the patient is already positive with an index "
        f"above {fmt_number(thresholds.jcv_retest_waived_index_above.value)} or a prior "
        "immunosuppressant (already in the highest risk stratum: a retest would not change "
        "it).\n\nDo not test within "
        f"{thresholds.jcv_no_test_after_plasma_exchange_days.spoken} of plasma exchange or "
        f"{thresholds.jcv_no_test_after_ivig_months.spoken} of intravenous immunoglobulin "
        "(IVIG): the result would not reflect the patient's own antibodies.",
        facts_expected=True,
    )


MRI_RULES = {
    MriRule.START: (
        "Baseline brain MRI due: none in the last {interval} before (re)starting natalizumab",
        "a start or restart of natalizumab needs a recent brain MRI (within {interval}): the "
        "baseline scan is the reference for telling PML lesions from MS lesions later "
        "(MAGNIMS 2015; the US prescribing information: obtain an MRI before initiating)",
    ),
    MriRule.ON_THERAPY: (
        "Brain MRI due: none in the last {interval} on natalizumab",
        "on natalizumab, a brain MRI at least every {interval} (MAGNIMS 2015)",
    ),
    MriRule.HIGH_RISK: (
        "High PML risk: brain MRI due (none in the last {interval})",
        "at high PML risk (MAGNIMS 2015: anti-JCV positive and {months} or more of "
        "natalizumab), an abbreviated brain MRI (T2-FLAIR, DWI) at least every {interval}, "
        "to detect PML early",
    ),
}


@card_text("mri-due", MriDueValues)
def mri_due(finding: Finding[MriDueValues], context: TextContext) -> CardText:
    rules = context.rules
    values = finding.values
    interval = mri_interval(values.rule, rules).spoken
    months = rules.thresholds.mri_high_risk_min_exposure_months.spoken
    summary, reason = (
        text.format(interval=interval, months=months) for text in MRI_RULES[values.rule]
    )
    therapy = "current" if values.on_therapy else "none current (a start or restart)"
    return CardText(
        summary,
        f"Interval set by this rule: {reason}. A brain MRI is suggested below.",
        facts=(f"- Natalizumab therapy: {therapy}", *exposure_lines(values.exposure)),
        facts_expected=True,
    )
