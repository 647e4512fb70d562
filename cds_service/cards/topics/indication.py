"""Cards answering "is natalizumab suitable for this disease?" (one per natalizumab order)."""

from __future__ import annotations

from collections.abc import Sequence

from cds_service.cards.markdown import escape, fmt_date
from cds_service.cards.registry import CardText, TextContext, card_text
from cds_service.cards.wording import US_LABEL, switch_without_gap
from cds_service.clinical.findings import Finding, NoValues
from cds_service.clinical.topics.indication import (
    IndicatedValues,
    Indication,
    ProgressiveKind,
    ProgressiveValues,
    ReviewValues,
    UndeterminedValues,
    UnspecifiedValues,
)
from cds_service.knowledge.loader import Rules
from cds_service.record.model import Evidence, Product

#: How a card names the relapsing indication in its summary.
RELAPSING_NAMES = {
    Indication.CIS: "CIS",
    Indication.RRMS: "RRMS",
    Indication.ACTIVE_SPMS: "active SPMS",
}


@card_text("natalizumab-indicated", IndicatedValues)
def indicated(finding: Finding[IndicatedValues], context: TextContext) -> CardText:
    rules = context.rules
    links: tuple[str, ...] = ("touch-program",)
    if any(order.product is Product.TYRUKO for order in context.orders):
        links += ("tyruko-rems",)
    indication = finding.values.indication
    if indication is Indication.CROHNS:
        return CardText(
            "Natalizumab indicated (US label): Crohn's disease on record (CD TOUCH program)",
            f"Under {US_LABEL}, natalizumab is approved for moderately to severely active "
            "**Crohn's disease** with evidence of inflammation and an inadequate response to, "
            "or intolerance of, conventional therapies and TNF-α inhibitors; it should **not** "
            "be combined with immunosuppressants or TNF-α inhibitors. Prescribing requires "
            "enrolment in the **TOUCH Prescribing Program** (CD TOUCH). The EU label does not "
            "include Crohn's disease.",
            links=links,
        )
    window = rules.thresholds.activity_window_days.spoken
    active = (
        f" Activity in the last {window} (relapse, MRI lesion activity or coded active SPMS) "
        "is listed below."
        if indication is Indication.ACTIVE_SPMS
        else ""
    )
    return CardText(
        f"Natalizumab indicated (US label): relapsing MS ({RELAPSING_NAMES[indication]}) on record",
        f"Under {US_LABEL}, natalizumab is approved as **monotherapy** for relapsing forms of "
        "multiple sclerosis (clinically isolated syndrome, relapsing-remitting disease and "
        "**active** secondary progressive disease) in adults; the EU label is narrower "
        f"(highly active relapsing-remitting MS).{active} Prescribing, infusion and dispensing "
        "require enrolment in the **TOUCH Prescribing Program** (Tysabri) or the **TYRUKO "
        "REMS** (Tyruko).",
        links=links,
    )


def _alternatives(rules: Rules, kind: ProgressiveKind) -> str:
    alternatives = rules.alternatives
    if kind is ProgressiveKind.PPMS:
        drugs = ", ".join(a.drug for a in alternatives.ppms)
        return f"Preferred for PPMS: **{drugs}** (the approved PPMS therapy in the US)."
    drugs = ", ".join(a.drug for a in alternatives.active_spms)
    return (
        f"{alternatives.non_active_spms} If activity is shown, options labelled in the US for "
        f"active SPMS include {drugs}."
    )


@card_text("progressive-ms-not-indicated", ProgressiveValues)
def progressive(finding: Finding[ProgressiveValues], context: TextContext) -> CardText:
    rules = context.rules
    kind = finding.values.kind
    window = rules.thresholds.activity_window_days.spoken
    if kind is ProgressiveKind.PPMS:
        preferred = (
            rules.alternatives.ppms[0].drug.split(" (")[0] if rules.alternatives.ppms else ""
        )
        summary = "Not indicated in primary progressive MS (US label)" + (
            f": consider {preferred} instead" if preferred else ""
        )
        why = (
            f"Under {US_LABEL}, natalizumab is approved for relapsing forms of MS; **primary "
            "progressive MS** is not among them, and in progressive disease without "
            "inflammatory activity its benefit is limited."
        )
        if finding.values.on_therapy:
            why += f"\n\nThis patient is on natalizumab now. {switch_without_gap(rules)}"
    else:
        summary = "Not indicated in non-active SPMS (US label: active SPMS only): little benefit"
        why = (
            f"Under {US_LABEL}, natalizumab is approved for **active** SPMS only. No relapse, "
            f"MRI lesion activity or coded activity is recorded in the last {window}, and the "
            "disease was assessed as non-active (no new or enlarging T2 lesions, or coded "
            "non-active SPMS, ICD-10-CM G35.C2) outside natalizumab treatment."
        )
    return CardText(summary, f"{why}\n\n{_alternatives(rules, kind)}")


def _latest_assessment(value: Evidence | None) -> str:
    if value is not None:
        return f"{fmt_date(value.date)} ({escape(value.description) or 'record'})"
    return "none recorded"


def _mri_list(mris: Sequence[Evidence], gd_only: Sequence[Evidence]) -> str:
    lines = []
    for mri in mris:
        note = (
            " (gadolinium count only: it says nothing about new T2 lesions)"
            if mri in gd_only
            else ""
        )
        lines.append(
            f"- {escape(mri.description) or 'brain MRI'}: {fmt_date(mri.date)} "
            f"({escape(mri.reference)}){note}"
        )
    return "\n".join(lines)


@card_text("spms-on-natalizumab-review", ReviewValues)
def review(finding: Finding[ReviewValues], context: TextContext) -> CardText:
    rules = context.rules
    values = finding.values
    window = rules.thresholds.activity_window_days.spoken
    if values.on_therapy:
        summary = "SPMS on natalizumab, no recent activity: review benefit and PML risk, no gap"
        situation = (
            f"No relapse or MRI lesion activity is recorded in the last {window} while the "
            "patient is on natalizumab."
        )
    else:
        last = values.last_exposure
        summary = "SPMS restart: non-active only during natalizumab treatment; review first"
        situation = (
            "This order restarts natalizumab, and the only evidence of non-active disease "
            "dates from the natalizumab treatment period (last exposure "
            f"{fmt_date(last) if last is not None else 'not dated'}), for example a pause "
            "for pregnancy."
        )
    text = [
        f"{situation} Suppressed activity on natalizumab is a **response** to it, not proof "
        "of non-active disease.",
        f"When initiating and continuing natalizumab, {US_LABEL} asks prescribers to consider "
        "whether the expected benefit is sufficient to offset the risk of PML.",
        switch_without_gap(rules),
        "Re-assess activity (relapses; brain MRI with counts of new or enlarging T2 lesions) "
        f"at least every {window}. Latest activity assessment on record: "
        f"{_latest_assessment(values.latest_assessment)}.",
    ]
    return CardText(summary, "\n\n".join(text))


@card_text("ms-activity-undetermined", UndeterminedValues)
def undetermined(finding: Finding[UndeterminedValues], context: TextContext) -> CardText:
    values = finding.values
    window = context.rules.thresholds.activity_window_days.spoken
    text = [
        f"Under {US_LABEL}, natalizumab is approved for **active** SPMS only (relapsing "
        f"forms). The record shows no relapse, no MRI lesion activity and no coded activity "
        f"status in the last {window}, and nothing that shows the disease is non-active.",
        "What would settle it: the brain MRI's lesion counts (new or enlarging T2 lesions, "
        "gadolinium-enhancing lesions) recorded as results, or the coded phenotype "
        "(ICD-10-CM G35.C1 active SPMS, G35.C2 non-active SPMS).",
    ]
    if values.unassessed_mris:
        text.append(
            f"Brain MRI in the last {window} without structured lesion results (please record "
            "its lesion counts):\n\n" + _mri_list(values.unassessed_mris, values.gd_only)
        )
    text.append(
        "Latest activity assessment on record: "
        f"{_latest_assessment(values.latest_assessment)}. A brain MRI, when one is due, "
        "is offered on the MRI card."
    )
    summary = f"SPMS: activity in the last {window} not assessed; record MRI lesion counts"
    return CardText(summary, "\n\n".join(text))


@card_text("ms-phenotype-unspecified", UnspecifiedValues)
def unspecified(finding: Finding[UnspecifiedValues], context: TextContext) -> CardText:
    codes = (
        "G35.A relapsing-remitting, G35.B0-G35.B2 primary progressive, G35.C0-G35.C2 "
        "secondary progressive (G35.C1 active, G35.C2 non-active)"
    )
    if finding.values.on_therapy:
        return CardText(
            "MS phenotype not coded: record it (G35.A, G35.B*, G35.C*) for this continuation",
            "The patient is on natalizumab and MS is coded without its course, as was usual "
            "before ICD-10-CM FY2026, when G35 was the only MS code. Please record the "
            f"phenotype: {codes}.",
        )
    return CardText(
        "MS phenotype not recorded: confirm a relapsing form before natalizumab",
        "Multiple sclerosis is recorded without its course (CIS, relapsing-remitting, "
        f"secondary or primary progressive). Under {US_LABEL}, natalizumab is approved for "
        f"relapsing forms only; record the phenotype ({codes}) so the indication can be "
        "checked.",
    )


@card_text("no-approved-indication", NoValues)
def no_indication(finding: Finding[NoValues], context: TextContext) -> CardText:
    return CardText(
        "No approved indication recorded: no MS, CIS or Crohn's disease on file",
        f"Under {US_LABEL}, natalizumab is approved for relapsing forms of MS and for Crohn's "
        "disease. Neither is recorded as an active problem for this patient.",
        facts_expected=True,
    )
