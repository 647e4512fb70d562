"""Summaries and explanations per topic, in the words a busy prescriber needs.

Each function gets the finding (and knowledge) and returns ``(summary, explanation)``; the
explanation is markdown placed above the evidence list and the sources.
"""

from __future__ import annotations

from collections.abc import Callable

from cds_service.cards.markdown import escape, fmt_number, shorten
from cds_service.clinical.findings import Finding
from cds_service.knowledge.loader import Rules

Text = tuple[str, str]


def _indicated(finding: Finding, rules: Rules) -> Text:
    indication = str(finding.values.get("indication", ""))
    if indication == "crohns":
        return (
            "Natalizumab indicated: Crohn's disease on record (CD-TOUCH program)",
            "Natalizumab is approved for moderately to severely active **Crohn's disease** with "
            "evidence of inflammation and an inadequate response to, or intolerance of, "
            "conventional therapies and TNF-α inhibitors. In Crohn's disease it must **not** be "
            "combined with immunosuppressants or TNF-α inhibitors. Prescribing requires "
            "enrolment in the **TOUCH Prescribing Program** (CD-TOUCH).",
        )
    what = "active SPMS" if indication == "active SPMS" else indication
    return (
        f"Natalizumab indicated: relapsing MS ({what}) on record",
        "Natalizumab is approved as **monotherapy** for relapsing forms of multiple sclerosis "
        "(clinically isolated syndrome, relapsing-remitting disease and **active** secondary "
        "progressive disease) in adults. Prescribing, infusion and dispensing require "
        "enrolment in the **TOUCH Prescribing Program** (Tysabri) or the Tyruko REMS "
        "(Tyruko).",
    )


def _alternatives(rules: Rules, phenotype: str) -> str:
    alternatives = rules.alternatives
    if phenotype == "PPMS":
        drugs = ", ".join(a.drug for a in alternatives.ppms)
        return f"Preferred for PPMS: **{drugs}** (the approved PPMS therapy)."
    drugs = ", ".join(a.drug for a in alternatives.active_spms)
    return (
        f"{alternatives.non_active_spms} If activity is shown, options labelled for active "
        f"SPMS include {drugs}."
    )


def _progressive(finding: Finding, rules: Rules) -> Text:
    phenotype = str(finding.values.get("indication", ""))
    if phenotype == "PPMS":
        preferred = (
            rules.alternatives.ppms[0].drug.split(" (")[0] if rules.alternatives.ppms else ""
        )
        summary = "Not indicated in primary progressive MS" + (
            f": consider {preferred} instead" if preferred else ""
        )
        why = (
            "Natalizumab is not approved for **primary progressive MS**; in progressive disease "
            "without inflammatory activity its benefit is limited."
        )
    else:
        summary = "Not indicated in non-active secondary progressive MS: little expected benefit"
        why = (
            "Natalizumab is approved for **active** SPMS only. No relapse, MRI activity or "
            "coded activity is recorded in the last 12 months, while a brain MRI or a "
            "non-active SPMS code (G35.C2) in that time shows the disease was assessed."
        )
    return summary, f"{why}\n\n{_alternatives(rules, phenotype)}"


def _undetermined(finding: Finding, rules: Rules) -> Text:
    return (
        "SPMS: activity in the last 12 months unknown; assess before natalizumab",
        "Natalizumab is approved only for **active** SPMS, but the record shows neither "
        "activity nor an assessment in the last 12 months. What would settle it: a brain MRI "
        "reporting new or enlarging T2 lesions or gadolinium-enhancing lesions, a documented "
        "relapse within 12 months, or the coded SPMS status (ICD-10-CM G35.C1 active, G35.C2 "
        "not active). A brain MRI is offered on the MRI card.",
    )


def _unspecified(finding: Finding, rules: Rules) -> Text:
    return (
        "MS phenotype not recorded: confirm a relapsing form before natalizumab",
        "Multiple sclerosis is recorded without its course (CIS, relapsing-remitting, "
        "secondary or primary progressive). Natalizumab is approved for relapsing forms only; "
        "record the phenotype (e.g. ICD-10-CM G35.A, G35.C1/C2, G35.B0-B2) so the indication "
        "can be checked.",
    )


def _no_indication(finding: Finding, rules: Rules) -> Text:
    return (
        "No approved indication recorded: no MS, CIS or Crohn's disease on file",
        "Natalizumab is approved for relapsing forms of MS and for Crohn's disease. Neither "
        "is recorded as an active problem for this patient.",
    )


def _pediatric(finding: Finding, rules: Rules) -> Text:
    age = finding.values.get("age_years")
    return (
        f"Patient is {age}: natalizumab safety and effectiveness not established under 18",
        "Natalizumab is approved for adults; safety and effectiveness in patients younger "
        "than 18 years have not been established.",
    )


def _pml_history(finding: Finding, rules: Rules) -> Text:
    return (
        "Contraindicated: history of progressive multifocal leukoencephalopathy (PML)",
        "Natalizumab is **contraindicated** in patients who have or have had PML.",
    )


def _hypersensitivity(finding: Finding, rules: Rules) -> Text:
    return (
        "Contraindicated: hypersensitivity to natalizumab recorded",
        "Natalizumab is **contraindicated** in patients with a known serious hypersensitivity "
        "reaction to natalizumab. Do not re-administer after a serious reaction.",
    )


def _immunocompromised(finding: Finding, rules: Rules) -> Text:
    condition = finding.evidence[0].description if finding.evidence else ""
    label = shorten(condition, 50) or "immunocompromising condition"
    return (
        f"Immunocompromised ({label}): natalizumab should not ordinarily be used",
        "Natalizumab should not ordinarily be used in patients who are immunocompromised "
        "(e.g. HIV infection, leukaemia or lymphoma, organ transplant): the risk of PML and "
        "other opportunistic infections is increased.",
    )


def _concomitant(finding: Finding, rules: Rules) -> Text:
    drugs = [str(d) for d in finding.values.get("drugs", [])]
    names = shorten(", ".join(drugs) or "immunotherapy", 60)
    if finding.values.get("crohns"):
        return (
            f"Do not combine natalizumab with {names} in Crohn's disease",
            "In Crohn's disease natalizumab must **not** be used with immunosuppressants or "
            "TNF-α inhibitors. Stop the other agent or do not start natalizumab.",
        )
    return (
        f"Concomitant {names}: natalizumab is labelled as monotherapy",
        "Natalizumab is approved as **monotherapy**; combining it with immunosuppressants, "
        "antineoplastics, TNF-α inhibitors or another disease-modifying therapy raises the "
        "risk of PML and other infections. Ordinarily the other agent is stopped (observing "
        "its wash-out) before natalizumab starts.",
    )


def _pml_risk(finding: Finding, rules: Rules) -> Text:
    values = finding.values
    months = values["months"]
    estimate = values.get("estimate")
    risk = f"~{fmt_number(estimate)}/1,000" if estimate is not None else "see detail"
    if values["status"] == "negative":
        summary = f"Anti-JCV negative: low PML risk ({risk}); retest every 6 months"
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
    if stratum is not None and estimate is not None:
        beyond = " (exposure beyond the table: last band shown)" if values["beyond_table"] else ""
        lines.append(
            f"Estimated PML risk for **{escape(stratum.label)}**, exposure **{band.label}**"
            f"{beyond}: **{fmt_number(estimate)} {values['unit']}**."
        )
        if not stratum.verified:
            lines.append(
                "This estimate has not been confirmed against the current label text; "
                "see the source list."
            )
    lines.append(
        "Risk factors for PML: anti-JCV antibodies, duration of therapy (especially beyond "
        "2 years) and prior immunosuppressant use."
    )
    if finding.indicator.value != "info":
        lines.append(
            "Discuss benefit and risk with the patient. Extended interval dosing (every 6 "
            "weeks) in stable patients kept efficacy in the NOVA trial and is associated with "
            "lower PML risk; the US labelled dose remains 300 mg IV every 4 weeks."
        )
    if values.get("caveat"):
        lines.append(escape(str(values["caveat"])))
    return shorten(summary, 139), "\n\n".join(lines)


def _jcv_due(finding: Finding, rules: Rules) -> Text:
    reason = finding.values["reason"]
    summary = {
        "no-result": "Anti-JCV antibody test due: no result on record",
        "indeterminate": "Anti-JCV antibody test due: latest result indeterminate",
        "outdated": "Anti-JCV antibody test due: latest result older than 6 months",
    }[reason]
    return (
        summary,
        "Test anti-JCV antibodies (with index) before starting natalizumab and retest every "
        "6 months while on treatment, unless the patient is already positive with an index "
        "above 1.5 (a retest would not change the risk band). Seroconversion occurs in a few "
        "percent of patients each year.",
    )


def _mri_due(finding: Finding, rules: Rules) -> Text:
    if finding.values["reason"] == "routine":
        return (
            "Brain MRI due: none in the last 12 months",
            "A brain MRI is recommended before starting natalizumab (baseline) and at least "
            "yearly during treatment.",
        )
    return (
        "High PML risk: brain MRI due (none in the last 6 months)",
        "At high PML risk (anti-JCV positive with index above 0.9, no index, or prior "
        "immunosuppressant, and 18 months or more of natalizumab), an abbreviated brain MRI "
        "(FLAIR, T2, DWI) every 3-6 months is recommended to detect PML early.",
    )


TEXTS: dict[str, Callable[[Finding, Rules], Text]] = {
    "natalizumab-indicated": _indicated,
    "progressive-ms-not-indicated": _progressive,
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
