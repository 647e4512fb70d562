"""Words several topics' cards share: which label a statement follows, evidence lines, exposure.

Numbers come from the knowledge data (``rules.thresholds``), never from literals here; record
text is passed through ``plain`` (summary) or ``escape`` (detail).
"""

from __future__ import annotations

from cds_service.cards.markdown import escape, fmt_date, fmt_number
from cds_service.knowledge.loader import Rules
from cds_service.record.model import Evidence, Exposure

#: Statements of an approval or a labelled instruction say which label they follow.
US_LABEL = "the US prescribing information"

SWITCH_WITHOUT_GAP = (
    "Stopping natalizumab can be followed by a return or rebound of disease activity (in "
    "RESTORE, MRI activity returned from about {weeks} after the last dose), so plan any "
    "switch without a gap."
)


def switch_without_gap(rules: Rules) -> str:
    return SWITCH_WITHOUT_GAP.format(weeks=rules.thresholds.rebound_after_last_dose_weeks.spoken)


def measured(item: Evidence) -> str:
    """The record's name for a fact, with its value when it has one ("T2 lesions = 3")."""
    name = escape(item.description) or "record"
    if item.value is None:
        return name
    unit = f" {escape(item.unit)}" if item.unit else ""
    return f"{name} = {fmt_number(item.value)}{unit}"


def evidence_line(item: Evidence) -> str:
    return f"- {measured(item)}: {fmt_date(item.date)} ({escape(item.reference)})"


def exposure_lines(exposure: Exposure) -> list[str]:
    """Exposure and both ways of counting it; both are shown when they differ."""
    lines = [f"- Natalizumab exposure: **{exposure.months} months**"]
    if exposure.infusions:
        lines.append(
            f"- Completed infusions: {exposure.infusions} (first "
            f"{fmt_date(exposure.first_infusion)}, last {fmt_date(exposure.last_infusion)})"
        )
    if exposure.span_start is not None and (exposure.span_months or not exposure.infusions):
        end = "ongoing" if exposure.span_ongoing else fmt_date(exposure.span_end)
        lines.append(
            f"- Statements and requests: {exposure.span_months} months "
            f"({fmt_date(exposure.span_start)} to {end})"
        )
    if exposure.counts_differ and exposure.infusions and exposure.span_start:
        lines.append(
            "- The two counts differ (infusions given elsewhere are often recorded only as a "
            "statement): the larger is used."
        )
    if not exposure.infusions and exposure.span_start is None:
        lines.append("- No previous natalizumab treatment recorded")
    return lines
