"""The pregnancy card: benefit and risk, no abrupt stop, the newborn's blood count, dates."""

from __future__ import annotations

from cds_service.cards.markdown import fmt_date
from cds_service.cards.registry import CardText, TextContext, card_text
from cds_service.clinical.findings import Finding
from cds_service.clinical.topics.pregnancy import TOPIC, PregnancyValues

WHICH_LABEL = (
    'This card follows the non-US product information (MIMS Singapore summary: "This drug '
    'should be used during pregnancy only if clearly needed") and the EU package leaflet ("Do '
    "not use this medicine if you are pregnant, unless you have discussed this with your "
    'doctor."); section 8.1 (Pregnancy) of the US prescribing information could not be read.'
)
NEWBORN = (
    "After any exposure in pregnancy, and especially in the third trimester, check the "
    "newborn's platelets and haemoglobin: \"Monitoring of platelet counts and haemoglobin is "
    'recommended in neonates born to women exposed to natalizumab during pregnancy" (non-US '
    "product information); mild to moderate haematological changes, including "
    "thrombocytopenia and anaemia, were seen in 10 of 13 infants exposed in the third "
    "trimester (Haghikia 2014)."
)


@card_text(TOPIC, PregnancyValues)
def pregnancy(finding: Finding[PregnancyValues], context: TextContext) -> CardText:
    values = finding.values
    weeks = context.rules.thresholds.rebound_after_last_dose_weeks.spoken
    began = fmt_date(values.began)
    text = [
        "Natalizumab is used in pregnancy only when the expected benefit justifies the risk "
        "to the baby. " + WHICH_LABEL,
        "Do not stop natalizumab abruptly without a plan: disease activity can return after "
        f"stopping (in RESTORE, MRI activity returned from about {weeks} after the last dose).",
        NEWBORN,
        f"The pregnancy evidence began on **{began}**. If the delivery has happened, please "
        "record it (a delivery or outcome diagnosis, or the procedure) so this card stops.",
    ]
    return CardText(
        f"Pregnancy on record since {began}: natalizumab only if the benefit justifies the risk",
        "\n\n".join(text),
        facts=(
            f"- Pregnancy evidence began: {began}",
            f"- Counted as current until {fmt_date(values.lasts_until)} unless a delivery, a "
            "later status 'not pregnant' or the end of the diagnosis is recorded first",
            "- Natalizumab therapy: " + ("current" if values.on_therapy else "none current"),
        ),
    )
