"""The thrombocytopenia card: the count and its date, the threshold, repeat or CBC."""

from __future__ import annotations

from cds_service.cards.markdown import escape, fmt_date, fmt_number, plain, shorten
from cds_service.cards.models import SUMMARY_MAX
from cds_service.cards.registry import CardText, TextContext, card_text
from cds_service.cards.wording import US_LABEL, measured
from cds_service.clinical.findings import Finding
from cds_service.clinical.registry import topic_data
from cds_service.clinical.topics.thrombocytopenia import (
    TOPIC,
    ThrombocytopeniaData,
    ThrombocytopeniaValues,
)

REPORTED = (
    "Thrombocytopenia, including immune thrombocytopenic purpura (ITP), has been reported with "
    f"natalizumab ({US_LABEL}, Warnings and Precautions; the section's text could not be read "
    'here). The EU package leaflet (2022): "Natalizumab may reduce platelets in the blood '
    'which are responsible for clotting."'
)
REPEAT = (
    "A single low count: repeat it with a peripheral blood smear, and with a sodium citrate "
    "tube if clumping may have lowered it (platelets clumping in the EDTA tube give falsely "
    "low counts: pseudothrombocytopenia). A repeat count is suggested below."
)


def _count(value: float) -> str:
    return f"{fmt_number(round(value, 1))} × 10⁹/L"


def _units(data: ThrombocytopeniaData) -> str:
    same = [unit for unit, factor in data.unit_factors.items() if factor == 1]
    divided = [unit for unit, factor in data.unit_factors.items() if factor == 0.001]
    other = [
        f"{unit} (× {fmt_number(factor)})"
        for unit, factor in data.unit_factors.items()
        if factor not in (1, 0.001)
    ]
    parts = [f"read as 10⁹/L: {escape(', '.join(same))}"] if same else []
    if divided:
        parts.append(f"divided by 1,000: {escape(', '.join(divided))}")
    if other:
        parts.append(escape(", ".join(other)))
    return "- Platelet units " + "; ".join(parts) + "; any other unit is not judged"


@card_text(TOPIC, ThrombocytopeniaValues)
def thrombocytopenia(finding: Finding[ThrombocytopeniaValues], context: TextContext) -> CardText:
    values = finding.values
    data = topic_data(context.rules, TOPIC, ThrombocytopeniaData)
    below = fmt_number(data.platelet_count_below.value)
    recent = data.platelet_recent_days.spoken
    latest = values.latest
    if values.low and latest is not None and latest.per_nanolitre is not None:
        summary = (
            f"Platelets {_count(latest.per_nanolitre)} on {fmt_date(latest.evidence.date)} "
            f"(below {below}): thrombocytopenia; check before natalizumab"
        )
    else:
        name = plain(values.conditions[0].description) if values.conditions else "thrombocytopenia"
        summary = (
            f"Thrombocytopenia on record ({shorten(name, 40)}), no recent normal count: check "
            "platelets before natalizumab"
        )
    text = [REPORTED]
    if values.single_low:
        text.append(REPEAT)
    if "complete-blood-count" in finding.suggestions:
        age = "none is recorded" if latest is None else f"the latest is older than {recent}"
        text.append(f"A complete blood count is suggested: {age}.")
    facts = []
    if latest is not None:
        reading = (
            _count(latest.per_nanolitre)
            if latest.per_nanolitre is not None
            else "not judged (unit not read)"
        )
        facts.append(
            f"- Latest platelet count: {reading}, recorded as {measured(latest.evidence)} on "
            f"{fmt_date(latest.evidence.date)} ({escape(latest.evidence.reference)})"
        )
    facts += [
        f"- Not judged, unit not read: {measured(item)} on {fmt_date(item.date)} "
        f"({escape(item.reference)})"
        for item in values.unjudged
        if latest is None or item != latest.evidence
    ]
    facts.append(_units(data))
    return CardText(shorten(summary, SUMMARY_MAX), "\n\n".join(text), facts=tuple(facts))
