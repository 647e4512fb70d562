"""Cards on what blocks or weighs against natalizumab: age, PML, hypersensitivity,
immunocompromise, concomitant immunotherapy."""

from __future__ import annotations

from cds_service.cards.markdown import escape, fmt_number, plain, shorten
from cds_service.cards.registry import CardText, TextContext, card_text
from cds_service.cards.wording import US_LABEL
from cds_service.clinical.findings import Finding, NoValues
from cds_service.clinical.topics.safety import ConcomitantValues, PediatricValues, PmlHistoryValues
from cds_service.record.model import DatePrecision


@card_text("pediatric-patient", PediatricValues)
def pediatric(finding: Finding[PediatricValues], context: TextContext) -> CardText:
    values = finding.values
    adult = fmt_number(context.rules.thresholds.adult_age_years.value)
    facts = [f"- Age at this order: {values.age_years} years"]
    if values.birth_date_precision is not DatePrecision.DAY:
        facts.append(
            f"- Birth date recorded to the {escape(values.birth_date_precision.value)} only: "
            "read as its latest day"
        )
    return CardText(
        f"Patient is {values.age_years}: natalizumab safety and effectiveness not established "
        f"under {adult}",
        f"Under {US_LABEL}, natalizumab is approved for adults; safety and effectiveness in "
        f"patients younger than {adult} years have not been established.",
        facts=tuple(facts),
    )


@card_text("pml-history", PmlHistoryValues)
def pml_history(finding: Finding[PmlHistoryValues], context: TextContext) -> CardText:
    history = finding.values.history
    text = []
    if history:
        text.append(
            f"Under {US_LABEL}, natalizumab is **contraindicated** in patients who have or "
            "have had PML."
        )
    if finding.values.suspected:
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
    return CardText(summary, "\n\n".join(text))


@card_text("natalizumab-hypersensitivity", NoValues)
def hypersensitivity(finding: Finding[NoValues], context: TextContext) -> CardText:
    return CardText(
        "Contraindicated: a hypersensitivity reaction to natalizumab is recorded",
        f"Under {US_LABEL}, natalizumab is **contraindicated** in patients who have had a "
        "hypersensitivity reaction to it: any such reaction, not only a serious one.",
    )


@card_text("immunocompromised", NoValues)
def immunocompromised(finding: Finding[NoValues], context: TextContext) -> CardText:
    condition = finding.evidence[0].description if finding.evidence else ""
    label = shorten(plain(condition), 50) or "immunocompromising condition"
    return CardText(
        f"Immunocompromised ({label}): natalizumab should not ordinarily be used",
        f"Under {US_LABEL}, patients with significantly compromised immune system function "
        "(e.g. HIV infection, leukaemia or lymphoma, organ transplant) should not ordinarily "
        "be treated with natalizumab: the risk of PML and other opportunistic infections is "
        "increased.",
    )


@card_text("concomitant-immunotherapy", ConcomitantValues)
def concomitant(finding: Finding[ConcomitantValues], context: TextContext) -> CardText:
    drugs = [plain(drug) for drug in finding.values.drugs]
    names = shorten(", ".join(drugs) or "immunotherapy", 60)
    if finding.values.crohns:
        return CardText(
            f"Do not combine natalizumab with {names} in Crohn's disease",
            f"In Crohn's disease, {US_LABEL} says natalizumab should **not** be used in "
            "combination with immunosuppressants or TNF-α inhibitors. Stop the other agent or "
            "do not start natalizumab.",
        )
    return CardText(
        f"Concomitant {names}: natalizumab is labelled as monotherapy",
        f"Under {US_LABEL}, natalizumab is approved as **monotherapy** in MS; combining it "
        "with immunosuppressants, antineoplastics, TNF-α inhibitors or another "
        "disease-modifying therapy raises the risk of PML and other infections. Ordinarily "
        "the other agent is stopped (observing its wash-out) before natalizumab starts.",
    )
