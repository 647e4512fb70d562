"""The PML risk card: anti-JCV status, the stratum's estimate (verified or not), exposure."""

from __future__ import annotations

from cds_service.cards.markdown import escape, escape_knowledge, fmt_number, shorten
from cds_service.cards.models import SUMMARY_MAX
from cds_service.cards.registry import CardText, TextContext, card_text
from cds_service.cards.wording import exposure_lines
from cds_service.clinical.findings import Finding, Indicator
from cds_service.clinical.topics.pml_risk import PmlRiskValues
from cds_service.knowledge.loader import PmlRiskTable
from cds_service.record.model import JcvStatus


def _risk_text(values: PmlRiskValues, table: PmlRiskTable) -> tuple[str, str]:
    """The estimate for the summary and for the detail, each saying so when unverified."""
    estimate = values.estimate
    if estimate is None:
        return "see detail", ""
    flag = "" if values.estimate_verified else " (unverified)"
    return f"~{fmt_number(estimate)}/1,000{flag}", f"{fmt_number(estimate)} {table.unit}"


def _facts(values: PmlRiskValues) -> tuple[str, ...]:
    facts = [f"- Anti-JCV antibody status: **{values.status.value}**"]
    if values.status is JcvStatus.POSITIVE:
        shown = fmt_number(values.index) if values.index is not None else "not reported"
        facts.append(f"- Index of the latest positive result: {shown}")
    facts += exposure_lines(values.exposure)
    prior = values.prior_immunosuppressants
    facts.append(
        "- Prior immunosuppressant: " + (escape(", ".join(prior)) if prior else "none recorded")
    )
    return tuple(facts)


@card_text("pml-risk", PmlRiskValues)
def pml_risk(finding: Finding[PmlRiskValues], context: TextContext) -> CardText:
    values = finding.values
    thresholds = context.rules.thresholds
    table = context.rules.pml_risk
    months = values.months
    risk, detail_risk = _risk_text(values, table)
    if values.status is JcvStatus.NEGATIVE:
        summary = (
            f"Anti-JCV negative: low PML risk ({risk}); retest every "
            f"{thresholds.jcv_retest_days.spoken}"
        )
    else:
        index = values.index
        index_text = f"index {fmt_number(index)}" if index is not None else "no index"
        prior = ", prior immunosuppressant" if values.prior_immunosuppressants else ""
        lead = "High PML risk" if finding.indicator is Indicator.CRITICAL else "PML risk"
        exposure = f"{months} months of natalizumab" if months else "natalizumab not yet given"
        summary = f"{lead}: anti-JCV positive ({index_text}{prior}), {exposure}: {risk}"
    stratum = values.stratum
    band = values.band
    lines = []
    if stratum is not None and detail_risk:
        beyond = " (exposure beyond the table: last band shown)" if values.beyond_table else ""
        unverified = (
            ""
            if values.estimate_verified
            else " — **unverified**: this figure could not be confirmed against the label's "
            "table or a peer-reviewed source"
        )
        label = escape_knowledge(stratum.label)
        lines.append(
            f"Estimated PML risk for **{label}**, exposure **{band.label}**"
            f"{beyond}: **{detail_risk}**{unverified}."
        )
    lines.append(
        "Risk factors for PML (boxed warning of the US prescribing information): anti-JCV "
        "antibodies, duration of therapy (the risk rises beyond "
        f"{thresholds.pml_critical_exposure_above_months.spoken}) and prior immunosuppressant "
        "use."
    )
    if finding.indicator is not Indicator.INFO:
        lines.append(
            "Discuss benefit and risk with the patient. Extended interval dosing (every 6 "
            "weeks) in stable patients kept efficacy in the NOVA trial and is associated with "
            "lower PML risk; the US labelled dose remains 300 mg IV every 4 weeks."
        )
    if table.caveat:
        lines.append(escape_knowledge(table.caveat))
    return CardText(shorten(summary, SUMMARY_MAX), "\n\n".join(lines), facts=_facts(values))
