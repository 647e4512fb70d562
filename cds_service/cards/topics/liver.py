"""The liver injury card: each analyte's latest value against its own limit, and the label."""

from __future__ import annotations

from cds_service.cards.markdown import escape, fmt_date, fmt_number, plain, shorten
from cds_service.cards.models import SUMMARY_MAX
from cds_service.cards.registry import CardText, TextContext, card_text
from cds_service.cards.wording import measured
from cds_service.clinical.findings import Finding
from cds_service.clinical.registry import topic_data
from cds_service.clinical.topics.liver import (
    TOPIC,
    Analyte,
    AnalyteResult,
    LiverData,
    LiverInjuryValues,
    Verdict,
)
from cds_service.knowledge.loader import Threshold
from cds_service.record.model import LimitSource

NAMES = {Analyte.ALT: "ALT", Analyte.AST: "AST", Analyte.BILIRUBIN: "Total bilirubin"}

LABEL = (
    "The US prescribing information asks to discontinue natalizumab in patients with jaundice "
    "or other evidence of significant liver injury (its hepatotoxicity section could not be read "
    "here, so this is not quoted from it). The letter that added the warning to the US "
    'prescribing information (2008, as quoted in a secondary source): "Any patients '
    "exhibiting signs of jaundice or other evidence of liver injury should discontinue "
    'Tysabri."'
)


def _times(multiple: float | None) -> str:
    return f"{fmt_number(round(multiple, 1))} × the limit" if multiple is not None else ""


def _verdict(result: AnalyteResult, threshold: Threshold) -> str:
    literal = threshold.literal
    verdict = result.verdict
    if verdict is Verdict.ABOVE:
        if result.analyte is Analyte.BILIRUBIN:
            if result.same_day_injury:
                return f"above {literal}, on the same day as an ALT or AST above its threshold"
            return (
                f"above {literal} but without an ALT or AST above its threshold on the same "
                "day: not counted (an isolated bilirubin rise is usually Gilbert syndrome)"
            )
        return f"above {literal}"
    if verdict is Verdict.CRITICAL_FLAG:
        return "flagged critical-high by the laboratory"
    if verdict is Verdict.RAISED:
        return f"above the limit, not above {literal}"
    if verdict is Verdict.WITHIN:
        line = "within the limit"
        earlier = result.earlier_above
        if earlier is not None:
            line += (
                f"; earlier {measured(earlier)} on {fmt_date(earlier.date)} was above its "
                "threshold: since normalised"
            )
        return line
    if result.limit is None:
        return "not judged: no upper reference limit recorded"
    return (
        f"not judged: its limit is in another unit ({escape(result.limit.unit)}) or the "
        "result has no value"
    )


def _line(result: AnalyteResult, data: LiverData) -> str:
    threshold = (
        data.bilirubin_uln_multiple
        if result.analyte is Analyte.BILIRUBIN
        else data.aminotransferase_uln_multiple
    )
    limit = ""
    if result.limit is not None:
        source = "reference range" if result.limit.source is LimitSource.HIGH else "range text"
        unit = f" {escape(result.limit.unit)}" if result.limit.unit else ""
        limit = f", upper limit {fmt_number(result.limit.value)}{unit} ({source})"
    times = _times(result.multiple)
    times = f", {times}" if times else ""
    return (
        f"- {NAMES[result.analyte]} (latest, {fmt_date(result.latest.date)}): "
        f"{measured(result.latest)}{limit}{times} — {_verdict(result, threshold)} "
        f"({escape(result.latest.reference)})"
    )


def _summary(values: LiverInjuryValues, action: str) -> str:
    trigger = next((r for r in values.results if r.injury), None)
    if trigger is None:
        name = plain(values.conditions[0].description) if values.conditions else "liver injury"
        return f"Liver injury on record ({shorten(name, 40)}): {action}"
    if trigger.verdict is Verdict.CRITICAL_FLAG:
        what = f"{NAMES[trigger.analyte]} flagged critical-high"
    else:
        what = f"{NAMES[trigger.analyte]} {_times(trigger.multiple)}"
    return f"Liver injury: {what} on {fmt_date(trigger.latest.date)}: {action}"


@card_text(TOPIC, LiverInjuryValues)
def liver_injury(finding: Finding[LiverInjuryValues], context: TextContext) -> CardText:
    values = finding.values
    data = topic_data(context.rules, TOPIC, LiverData)
    action = (
        "evaluate liver disease before starting natalizumab"
        if values.starting
        else "evaluate liver injury before infusing"
    )
    first = (
        "The record shows evidence of significant liver injury, and this order starts (or "
        "restarts) natalizumab: evaluate liver disease before starting."
        if values.starting
        else "The record shows evidence of significant liver injury: evaluate liver injury "
        "before this natalizumab infusion."
    )
    text = [first, LABEL]
    if values.flagged_critical:
        text.append(
            "A result was flagged critical-high by the laboratory and had no usable upper "
            "limit in its own unit: the flag, not a multiple of the limit, set this card."
        )
    unjudged = [r for r in values.results if r.verdict is Verdict.NOT_JUDGED]
    if unjudged:
        names = ", ".join(NAMES[r.analyte] for r in unjudged)
        text.append(f"Not judged for want of a usable upper limit: {names} (see the facts).")
    return CardText(
        shorten(_summary(values, action), SUMMARY_MAX),
        "\n\n".join(text),
        facts=tuple(_line(result, data) for result in values.results),
    )
