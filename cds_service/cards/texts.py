"""Summaries and explanations per topic, in the words a busy prescriber needs.

Each function gets the finding (and knowledge) and returns ``(summary, explanation)``; the
explanation is markdown placed above the facts and the sources. Numbers come from the
knowledge data (``rules.thresholds``), never from literals here; record text is passed through
``plain`` (summary) or ``escape`` (detail). Statements of an approval or a labelled instruction
say which label they follow: the US prescribing information (the EU label is narrower).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cds_service.cards.markdown import (
    escape,
    escape_knowledge,
    fmt_date,
    fmt_number,
    plain,
    shorten,
)
from cds_service.clinical.findings import Finding
from cds_service.knowledge.loader import Rules
from cds_service.record.model import Evidence

Text = tuple[str, str]
US_LABEL = "the US prescribing information"
SWITCH_WITHOUT_GAP = (
    "Stopping natalizumab can be followed by a return or rebound of disease activity (in "
    "RESTORE, MRI activity returned from about {weeks} after the last dose), so plan any "
    "switch without a gap."
)


def _switch_without_gap(rules: Rules) -> str:
    return SWITCH_WITHOUT_GAP.format(weeks=rules.thresholds.rebound_after_last_dose_weeks.spoken)


def _indicated(finding: Finding, rules: Rules) -> Text:
    indication = str(finding.values.get("indication", ""))
    if indication == "crohns":
        return (
            "Natalizumab indicated (US label): Crohn's disease on record (CD TOUCH program)",
            f"Under {US_LABEL}, natalizumab is approved for moderately to severely active "
            "**Crohn's disease** with evidence of inflammation and an inadequate response to, "
            "or intolerance of, conventional therapies and TNF-α inhibitors; it should **not** "
            "be combined with immunosuppressants or TNF-α inhibitors. Prescribing requires "
            "enrolment in the **TOUCH Prescribing Program** (CD TOUCH). The EU label does not "
            "include Crohn's disease.",
        )
    window = rules.thresholds.activity_window_days.spoken
    active = (
        f" Activity in the last {window} (relapse, MRI lesion activity or coded active SPMS) "
        "is listed below."
        if indication == "active SPMS"
        else ""
    )
    return (
        f"Natalizumab indicated (US label): relapsing MS ({indication}) on record",
        f"Under {US_LABEL}, natalizumab is approved as **monotherapy** for relapsing forms of "
        "multiple sclerosis (clinically isolated syndrome, relapsing-remitting disease and "
        "**active** secondary progressive disease) in adults; the EU label is narrower "
        f"(highly active relapsing-remitting MS).{active} Prescribing, infusion and dispensing "
        "require enrolment in the **TOUCH Prescribing Program** (Tysabri) or the **TYRUKO "
        "REMS** (Tyruko).",
    )


def _alternatives(rules: Rules, phenotype: str) -> str:
    alternatives = rules.alternatives
    if phenotype == "PPMS":
        drugs = ", ".join(a.drug for a in alternatives.ppms)
        return f"Preferred for PPMS: **{drugs}** (the approved PPMS therapy in the US)."
    drugs = ", ".join(a.drug for a in alternatives.active_spms)
    return (
        f"{alternatives.non_active_spms} If activity is shown, options labelled in the US for "
        f"active SPMS include {drugs}."
    )


def _progressive(finding: Finding, rules: Rules) -> Text:
    phenotype = str(finding.values.get("indication", ""))
    window = rules.thresholds.activity_window_days.spoken
    if phenotype == "PPMS":
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
        if finding.values.get("on_therapy"):
            why += f"\n\nThis patient is on natalizumab now. {_switch_without_gap(rules)}"
    else:
        summary = "Not indicated in non-active SPMS (US label: active SPMS only): little benefit"
        why = (
            f"Under {US_LABEL}, natalizumab is approved for **active** SPMS only. No relapse, "
            f"MRI lesion activity or coded activity is recorded in the last {window}, and the "
            "disease was assessed as non-active (no new or enlarging T2 lesions, or coded "
            "non-active SPMS, ICD-10-CM G35.C2) outside natalizumab treatment."
        )
    return summary, f"{why}\n\n{_alternatives(rules, phenotype)}"


def _latest_assessment(value: object) -> str:
    if isinstance(value, Evidence):
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


def _review(finding: Finding, rules: Rules) -> Text:
    values = finding.values
    window = rules.thresholds.activity_window_days.spoken
    if values.get("on_therapy"):
        summary = "SPMS on natalizumab, no recent activity: review benefit and PML risk, no gap"
        situation = (
            f"No relapse or MRI lesion activity is recorded in the last {window} while the "
            "patient is on natalizumab."
        )
    else:
        last = values.get("last_exposure")
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
        _switch_without_gap(rules),
        "Re-assess activity (relapses; brain MRI with counts of new or enlarging T2 lesions) "
        f"at least every {window}. Latest activity assessment on record: "
        f"{_latest_assessment(values.get('latest_assessment'))}.",
    ]
    return summary, "\n\n".join(text)


def _undetermined(finding: Finding, rules: Rules) -> Text:
    values = finding.values
    window = rules.thresholds.activity_window_days.spoken
    mris = list(values.get("unassessed_mris") or [])
    text = [
        f"Under {US_LABEL}, natalizumab is approved for **active** SPMS only (relapsing "
        f"forms). The record shows no relapse, no MRI lesion activity and no coded activity "
        f"status in the last {window}, and nothing that shows the disease is non-active.",
        "What would settle it: the brain MRI's lesion counts (new or enlarging T2 lesions, "
        "gadolinium-enhancing lesions) recorded as results, or the coded phenotype "
        "(ICD-10-CM G35.C1 active SPMS, G35.C2 non-active SPMS).",
    ]
    if mris:
        text.append(
            f"Brain MRI in the last {window} without structured lesion results (please record "
            "its lesion counts):\n\n" + _mri_list(mris, list(values.get("gd_only") or []))
        )
    text.append(
        "Latest activity assessment on record: "
        f"{_latest_assessment(values.get('latest_assessment'))}. A brain MRI, when one is due, "
        "is offered on the MRI card."
    )
    summary = f"SPMS: activity in the last {window} not assessed; record MRI lesion counts"
    return summary, "\n\n".join(text)


def _unspecified(finding: Finding, rules: Rules) -> Text:
    codes = (
        "G35.A relapsing-remitting, G35.B0-G35.B2 primary progressive, G35.C0-G35.C2 "
        "secondary progressive (G35.C1 active, G35.C2 non-active)"
    )
    if finding.values.get("on_therapy"):
        return (
            "MS phenotype not coded: record it (G35.A, G35.B*, G35.C*) for this continuation",
            "The patient is on natalizumab and MS is coded without its course, as was usual "
            "before ICD-10-CM FY2026, when G35 was the only MS code. Please record the "
            f"phenotype: {codes}.",
        )
    return (
        "MS phenotype not recorded: confirm a relapsing form before natalizumab",
        "Multiple sclerosis is recorded without its course (CIS, relapsing-remitting, "
        f"secondary or primary progressive). Under {US_LABEL}, natalizumab is approved for "
        f"relapsing forms only; record the phenotype ({codes}) so the indication can be "
        "checked.",
    )


def _no_indication(finding: Finding, rules: Rules) -> Text:
    return (
        "No approved indication recorded: no MS, CIS or Crohn's disease on file",
        f"Under {US_LABEL}, natalizumab is approved for relapsing forms of MS and for Crohn's "
        "disease. Neither is recorded as an active problem for this patient.",
    )


def _pediatric(finding: Finding, rules: Rules) -> Text:
    age = finding.values.get("age_years")
    adult = fmt_number(rules.thresholds.adult_age_years.value)
    return (
        f"Patient is {age}: natalizumab safety and effectiveness not established under {adult}",
        f"Under {US_LABEL}, natalizumab is approved for adults; safety and effectiveness in "
        f"patients younger than {adult} years have not been established.",
    )


def _pml_history(finding: Finding, rules: Rules) -> Text:
    history = bool(finding.values.get("history"))
    suspected = bool(finding.values.get("suspected"))
    text = []
    if history:
        text.append(
            f"Under {US_LABEL}, natalizumab is **contraindicated** in patients who have or "
            "have had PML."
        )
    if suspected:
        text.append(
            "PML is **suspected** (a provisional or differential PML diagnosis, or JC virus "
            "DNA detected): **withhold natalizumab until PML is excluded**. Boxed warning of "
            f'{US_LABEL}: "withhold TYSABRI immediately at the first sign or symptom '
            'suggestive of PML".'
        )
    if history:
        summary = "Contraindicated: history of progressive multifocal leukoencephalopathy (PML)"
    else:
        summary = "PML suspected: withhold natalizumab until PML is excluded (boxed warning)"
    return summary, "\n\n".join(text)


def _hypersensitivity(finding: Finding, rules: Rules) -> Text:
    return (
        "Contraindicated: a hypersensitivity reaction to natalizumab is recorded",
        f"Under {US_LABEL}, natalizumab is **contraindicated** in patients who have had a "
        "hypersensitivity reaction to it: any such reaction, not only a serious one.",
    )


def _immunocompromised(finding: Finding, rules: Rules) -> Text:
    condition = finding.evidence[0].description if finding.evidence else ""
    label = shorten(plain(condition), 50) or "immunocompromising condition"
    return (
        f"Immunocompromised ({label}): natalizumab should not ordinarily be used",
        f"Under {US_LABEL}, patients with significantly compromised immune system function "
        "(e.g. HIV infection, leukaemia or lymphoma, organ transplant) should not ordinarily "
        "be treated with natalizumab: the risk of PML and other opportunistic infections is "
        "increased.",
    )


def _concomitant(finding: Finding, rules: Rules) -> Text:
    drugs = [plain(str(d)) for d in finding.values.get("drugs", [])]
    names = shorten(", ".join(drugs) or "immunotherapy", 60)
    if finding.values.get("crohns"):
        return (
            f"Do not combine natalizumab with {names} in Crohn's disease",
            f"In Crohn's disease, {US_LABEL} says natalizumab should **not** be used in "
            "combination with immunosuppressants or TNF-α inhibitors. Stop the other agent or "
            "do not start natalizumab.",
        )
    return (
        f"Concomitant {names}: natalizumab is labelled as monotherapy",
        f"Under {US_LABEL}, natalizumab is approved as **monotherapy** in MS; combining it "
        "with immunosuppressants, antineoplastics, TNF-α inhibitors or another "
        "disease-modifying therapy raises the risk of PML and other infections. Ordinarily "
        "the other agent is stopped (observing its wash-out) before natalizumab starts.",
    )


def _risk_text(values: dict[str, object]) -> tuple[str, str]:
    """The estimate for the summary and for the detail, each saying so when unverified."""
    estimate = values.get("estimate")
    if not isinstance(estimate, int | float):
        return "see detail", ""
    flag = "" if values.get("estimate_verified") else " (unverified)"
    return f"~{fmt_number(estimate)}/1,000{flag}", f"{fmt_number(estimate)} {values['unit']}"


def _pml_risk(finding: Finding, rules: Rules) -> Text:
    values = finding.values
    thresholds = rules.thresholds
    months = values["months"]
    risk, detail_risk = _risk_text(values)
    if values["status"] == "negative":
        summary = (
            f"Anti-JCV negative: low PML risk ({risk}); retest every "
            f"{thresholds.jcv_retest_days.spoken}"
        )
    else:
        index = values.get("index")
        index_text = f"index {fmt_number(index)}" if index is not None else "no index"
        prior = ", prior immunosuppressant" if values.get("prior_immunosuppressants") else ""
        lead = "High PML risk" if finding.indicator.value == "critical" else "PML risk"
        exposure = f"{months} months of natalizumab" if months else "natalizumab not yet given"
        summary = f"{lead}: anti-JCV positive ({index_text}{prior}), {exposure}: {risk}"
    stratum = values.get("stratum")
    band = values["band"]
    lines = []
    if stratum is not None and detail_risk:
        beyond = " (exposure beyond the table: last band shown)" if values["beyond_table"] else ""
        unverified = (
            ""
            if values.get("estimate_verified")
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
    if finding.indicator.value != "info":
        lines.append(
            "Discuss benefit and risk with the patient. Extended interval dosing (every 6 "
            "weeks) in stable patients kept efficacy in the NOVA trial and is associated with "
            "lower PML risk; the US labelled dose remains 300 mg IV every 4 weeks."
        )
    if values.get("caveat"):
        lines.append(escape_knowledge(str(values["caveat"])))
    return shorten(summary, 139), "\n\n".join(lines)


def _jcv_due(finding: Finding, rules: Rules) -> Text:
    thresholds = rules.thresholds
    retest = thresholds.jcv_retest_days.spoken
    reason = finding.values["reason"]
    summary = {
        "no-result": "Anti-JCV antibody test due: no result on record",
        "indeterminate": "Anti-JCV antibody test due: latest result indeterminate",
        "outdated": f"Anti-JCV antibody test due: latest result older than {retest}",
    }[reason]
    return (
        summary,
        "Test anti-JCV antibodies (with index) before starting natalizumab and retest every "
        f"{retest} while on treatment, unless the patient is already positive with an index "
        f"above {fmt_number(thresholds.jcv_retest_waived_index_above.value)} or a prior "
        "immunosuppressant (already in the highest risk stratum: a retest would not change "
        "it).\n\nDo not test within "
        f"{thresholds.jcv_no_test_after_plasma_exchange_days.spoken} of plasma exchange or "
        f"{thresholds.jcv_no_test_after_ivig_months.spoken} of intravenous immunoglobulin "
        "(IVIG): the result would not reflect the patient's own antibodies.",
    )


MRI_RULES = {
    "start": (
        "Baseline brain MRI due: none in the last {interval} before (re)starting natalizumab",
        "a start or restart of natalizumab needs a recent brain MRI (within {interval}): the "
        "baseline scan is the reference for telling PML lesions from MS lesions later "
        "(MAGNIMS 2015; the US prescribing information: obtain an MRI before initiating)",
    ),
    "on-therapy": (
        "Brain MRI due: none in the last {interval} on natalizumab",
        "on natalizumab, a brain MRI at least every {interval} (MAGNIMS 2015)",
    ),
    "high-risk": (
        "High PML risk: brain MRI due (none in the last {interval})",
        "at high PML risk (MAGNIMS 2015: anti-JCV positive and {months} or more of "
        "natalizumab), an abbreviated brain MRI (T2-FLAIR, DWI) at least every {interval}, "
        "to detect PML early",
    ),
}
MRI_INTERVALS = {
    "start": "mri_start_days",
    "on-therapy": "mri_on_therapy_days",
    "high-risk": "mri_high_risk_days",
}


def _mri_due(finding: Finding, rules: Rules) -> Text:
    thresholds = rules.thresholds.named()
    rule = str(finding.values["rule"])
    interval = thresholds[MRI_INTERVALS[rule]].spoken
    months = thresholds["mri_high_risk_min_exposure_months"].spoken
    summary, reason = (text.format(interval=interval, months=months) for text in MRI_RULES[rule])
    return summary, f"Interval set by this rule: {reason}. A brain MRI is suggested below."


TEXTS: dict[str, Callable[[Finding, Rules], Text]] = {
    "natalizumab-indicated": _indicated,
    "progressive-ms-not-indicated": _progressive,
    "spms-on-natalizumab-review": _review,
    "ms-activity-undetermined": _undetermined,
    "ms-phenotype-unspecified": _unspecified,
    "no-approved-indication": _no_indication,
    "pediatric-patient": _pediatric,
    "pml-history": _pml_history,
    "natalizumab-hypersensitivity": _hypersensitivity,
    "immunocompromised": _immunocompromised,
    "concomitant-immunotherapy": _concomitant,
    "pml-risk": _pml_risk,
    "jcv-test-due": _jcv_due,
    "mri-due": _mri_due,
}
