"""The herpes infection card: HSV/VZV encephalitis, meningitis and acute retinal necrosis."""

from __future__ import annotations

from cds_service.cards.markdown import escape, plain, shorten
from cds_service.cards.models import SUMMARY_MAX
from cds_service.cards.registry import CardText, TextContext, card_text
from cds_service.clinical.findings import Finding
from cds_service.clinical.registry import topic_data
from cds_service.clinical.topics.herpes import TOPIC, CnsHerpes, HerpesData, HerpesValues

#: The US label's section on herpes was read by number and title only; its instructions come
#: from the non-US product information (knowledge source ``mims-tysabri-sg``), said so here.
WHICH_LABEL = (
    "The US prescribing information warns of this in section 5.3 (Herpes Infections), whose "
    "text could not be read here; the instructions below are the non-US product "
    "information's (MIMS Singapore summary)."
)
WHAT_TO_DO = (
    'Treat the infection. Product information: "Discontinue use & administer appropriate '
    'treatment if herpes encephalitis or meningitis occurs." On acute retinal necrosis, in its '
    'own words: "Screen patients taking Tysabri presenting w/ eye symptoms (eg, decreased '
    "visual acuity, redness & painful eye) for acute retinal necrosis (ARN); discontinue use "
    'following clinical diagnosis of ARN."'
)


def _cns_line(item: CnsHerpes, recent: str) -> str:
    status = escape(item.clinical_status or "not recorded")
    why = []
    if item.recent:
        why.append(f"begun or recorded within the last {recent}")
    if not item.resolved:
        why.append("not resolved")
    because = "; ".join(why) if why else "resolved and not recent"
    return (
        f"- Encephalitis, meningitis, myelitis or ARN ({escape(item.evidence.reference)}): "
        f"clinical status {status}; {because}"
    )


@card_text(TOPIC, HerpesValues)
def herpes_infection(finding: Finding[HerpesValues], context: TextContext) -> CardText:
    values = finding.values
    data = topic_data(context.rules, TOPIC, HerpesData)
    recent = data.herpes_cns_critical_days.spoken
    if values.critical:
        summary = (
            "Recent or unresolved herpes encephalitis, meningitis or acute retinal necrosis: "
            "stop natalizumab, treat"
        )
    elif values.cns:
        summary = (
            "Past herpes encephalitis, meningitis or acute retinal necrosis: natalizumab "
            "raises this risk"
        )
    else:
        name = shorten(plain(values.active[0].description), 40) or "herpes"
        summary = (
            f"Active herpes infection ({name}): treat it; natalizumab raises the risk of "
            "herpes encephalitis"
        )
    text = [
        "Natalizumab increases the risk of **encephalitis and meningitis caused by herpes "
        "simplex and varicella-zoster viruses**, and of **acute retinal necrosis** (ARN). "
        + WHICH_LABEL,
        WHAT_TO_DO,
    ]
    return CardText(
        shorten(summary, SUMMARY_MAX),
        "\n\n".join(text),
        facts=tuple(_cns_line(item, recent) for item in values.cns),
    )
