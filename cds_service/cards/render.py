"""Render Findings as CDS Hooks 2.0 cards (contract section 3)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from cds_service.cards.markdown import escape, escape_knowledge, fmt_date, fmt_number, shorten
from cds_service.cards.texts import TEXTS
from cds_service.clinical.findings import Finding, Indicator
from cds_service.knowledge.loader import Knowledge, knowledge
from cds_service.record.model import (
    DataNote,
    Evidence,
    Exposure,
    NatalizumabOrder,
    PatientRecord,
    SkippedResources,
    TextNotRead,
)

TOPIC_SYSTEM = "https://natalizumab-cds.example/fhir/CodeSystem/card-topic"
OVERRIDE_SYSTEM = "https://natalizumab-cds.example/fhir/CodeSystem/override-reason"
SOURCE_LABEL = "Natalizumab CDS"
MAX_EVIDENCE_LINES = 12
SERIES_MIN = 3


PREFETCH_KEY_PROPERTY = "prefetch-key"

#: Why a prefetch key was read only in part, in the words of a data note.
_INCOMPLETE_REASONS = {
    "next_page_not_fetchable": "a further page was not sent and no allow-listed fhirServer "
    "could supply it",
    "too_many_pages": "it has more pages than the service reads",
    "too_large": "it is larger than the service reads",
    "timeout": "a further page took too long",
    "next_link_outside_server": "a further page lies outside the EHR's FHIR server",
}


def _topic_displays(kb: Knowledge) -> dict[str, str]:
    concepts = kb.codesystems["card-topic"]["concept"]
    return {str(c["code"]): str(c["display"]) for c in concepts}


def topic_prefetch_keys(kb: Knowledge) -> dict[str, frozenset[str]]:
    """Topic -> the prefetch keys its facts come from (card-topic property ``prefetch-key``)."""
    keys: dict[str, frozenset[str]] = {}
    for concept in kb.codesystems["card-topic"]["concept"]:
        values = [
            str(prop["valueString"])
            for prop in concept.get("property", [])
            if prop.get("code") == PREFETCH_KEY_PROPERTY
        ]
        if values:
            keys[str(concept["code"])] = frozenset(values)
    return keys


def data_gap_notes(topic: str, record: PatientRecord, kb: Knowledge) -> list[str]:
    """Notes naming the prefetch keys this card's facts come from that were missing or cut short.

    A key is named only on the cards that use it (contract section 2); a topic without a
    declared key list, and a key no topic declares, are named everywhere: never hidden.
    """
    mapping = topic_prefetch_keys(kb)
    declared = frozenset().union(*mapping.values()) if mapping else frozenset()
    wanted = mapping.get(topic)

    def concerns(key: str) -> bool:
        return wanted is None or key in wanted or key not in declared

    notes: list[str] = []
    unavailable = sorted(key for key in record.unavailable if concerns(key))
    if unavailable:
        notes.append(
            "Not available for this assessment: "
            + ", ".join(unavailable)
            + ". Findings that depend on these data may be incomplete."
        )
    incomplete = sorted(key for key in record.incomplete if concerns(key))
    if incomplete:
        fallback = "a further page could not be read"
        parts = [
            f"{key} ({_INCOMPLETE_REASONS.get(record.incomplete[key], fallback)})"
            for key in incomplete
        ]
        notes.append(
            "Read only in part for this assessment: "
            + "; ".join(parts)
            + ". Findings that depend on these data may be incomplete."
        )
    return notes


def word_note(note: DataNote) -> str:
    """A data-quality note in words; the parts that come from the record are escaped."""
    if isinstance(note, TextNotRead):
        return (
            "Part of the free text in this record was not read (more text than one call may "
            "search); findings recorded only as text may be missing."
        )
    if isinstance(note, SkippedResources):
        plural = note.count > 1
        return (
            f"{note.count} {escape(note.resource_type)} resource{'s' if plural else ''} could "
            f"not be read (invalid FHIR) and {'were' if plural else 'was'} ignored."
        )
    return (
        f"Parts of the natalizumab order {escape(note.reference)} could not be read and were "
        f"left out: {', '.join(escape(field) for field in note.fields)}. Every card was still "
        "produced from the rest of the order and the record."
    )


def _evidence_lines(finding: Finding) -> list[str]:
    """One line per record; a series (3 or more records that read alike) as one line with its
    count, first and last date, so ten infusions do not push the other facts off the card."""
    groups: dict[str, list[Evidence]] = {}
    for item in finding.evidence:
        groups.setdefault(item.description, []).append(item)
    lines: list[str] = []
    for description, items in groups.items():
        name = escape(description) or "record"
        if len(items) >= SERIES_MIN:
            dates = sorted(i.date for i in items if i.date is not None)
            first = fmt_date(dates[0]) if dates else fmt_date(None)
            last = fmt_date(dates[-1]) if dates else fmt_date(None)
            lines.append(f"- {name}: {len(items)} records, first {first}, last {last}")
        else:
            lines += [f"- {name}: {fmt_date(i.date)} ({escape(i.reference)})" for i in items]
    if len(lines) > MAX_EVIDENCE_LINES:
        hidden = len(lines) - MAX_EVIDENCE_LINES
        lines = [*lines[:MAX_EVIDENCE_LINES], f"- … and {hidden} more records"]
    return lines


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


def _facts(finding: Finding, record: PatientRecord) -> list[str]:
    """Derived values worth stating beside the raw records (exposure, index, age)."""
    values = finding.values
    facts: list[str] = []
    if finding.topic == "pml-risk":
        index = values.get("index")
        facts.append(f"- Anti-JCV antibody status: **{values['status']}**")
        if values["status"] == "positive":
            shown = fmt_number(index) if index is not None else "not reported"
            facts.append(f"- Index of the latest positive result: {shown}")
        facts += exposure_lines(values["exposure"])
        prior = values.get("prior_immunosuppressants") or []
        facts.append(
            "- Prior immunosuppressant: " + (escape(", ".join(prior)) if prior else "none recorded")
        )
    elif finding.topic == "mri-due":
        facts.append(
            "- Natalizumab therapy: "
            + ("current" if record.therapy.current else "none current (a start or restart)")
        )
        facts += exposure_lines(record.exposure)
    elif finding.topic == "pediatric-patient":
        facts.append(f"- Age at this order: {values['age_years']} years")
        precision = values.get("birth_date_precision", "day")
        if precision != "day":
            facts.append(f"- Birth date recorded to the {precision} only: read as its latest day")
    return facts


def _product_rule(finding: Finding, kb: Knowledge) -> str:
    """The rule's product decision in words, its numbers filled from the thresholds."""
    text = kb.rules.rule(finding.topic).product_rule
    if not text:
        return ""
    literals = {name: t.literal for name, t in kb.rules.thresholds.named().items()}
    return "Product rule: " + text.format(**literals)


def _sources(finding: Finding, kb: Knowledge) -> list[str]:
    lines = []
    for citation in finding.citations:
        source = kb.sources.get(citation)
        if source is not None and source.internal:
            continue  # project documents are not clinical sources: the rule says it in words
        if source is None:
            lines.append(f"- {escape_knowledge(citation)}")
            continue
        section = f", {source.section}" if source.section else ""
        dated = f" ({source.date})" if source.date else ""
        status = "" if source.verified else " — not verified against the primary text"
        lines.append(
            f"- {escape_knowledge(source.title)}{escape_knowledge(section)}{dated}{status}"
        )
    return lines


def _detail(
    finding: Finding,
    record: PatientRecord,
    explanation: str,
    notes: Sequence[str],
    kb: Knowledge,
) -> str:
    parts = [explanation]
    facts = _facts(finding, record)
    evidence = _evidence_lines(finding)
    if facts or evidence:
        parts.append("**Facts used**\n\n" + "\n".join(facts + evidence))
    elif finding.topic in {"no-approved-indication", "jcv-test-due", "mri-due"}:
        parts.append("**Facts used**\n\n- No matching record found in the data supplied.")
    if notes:
        parts.append("**Data notes**\n\n" + "\n".join(f"- {n}" for n in notes))
    product_rule = _product_rule(finding, kb)
    if product_rule:
        parts.append(product_rule)
    parts.append("**Sources**\n\n" + "\n".join(_sources(finding, kb)))
    return "\n\n".join(parts)


def _suggestion(orderable_id: str, patient_reference: str | None, kb: Knowledge) -> dict[str, Any]:
    orderable = kb.rules.orderables[orderable_id]
    label = orderable.code.get("text") or orderable.text or orderable_id
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": orderable.code,
    }
    if patient_reference:
        resource["subject"] = {"reference": patient_reference}
    return {
        "uuid": str(uuid.uuid4()),
        "label": shorten(f"Order {label}", 120),
        "isRecommended": True,
        "actions": [
            {
                "type": "create",
                "description": f"Create a draft order: {label}",
                "resource": resource,
            }
        ],
    }


def _links(finding: Finding, orders: Sequence[NatalizumabOrder], kb: Knowledge) -> list[Any]:
    if finding.topic != "natalizumab-indicated":
        return []
    ids = ["touch-program"]
    if any(order.product == "Tyruko" for order in orders):
        ids.append("tyruko-rems")
    links = []
    for link_id in ids:
        link = kb.rules.link(link_id)
        links.append({"label": link.label, "url": link.url, "type": "absolute"})
    return links


def render_card(
    finding: Finding,
    record: PatientRecord,
    orders: Sequence[NatalizumabOrder],
    notes: Sequence[DataNote],
    kb: Knowledge,
) -> dict[str, Any]:
    summary, explanation = TEXTS[finding.topic](finding, kb.rules)
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": shorten(summary, 139),  # record text in it went through ``plain``
        "indicator": finding.indicator.value,
        "detail": _detail(
            finding,
            record,
            explanation,
            [*map(word_note, notes), *data_gap_notes(finding.topic, record, kb)],
            kb,
        ),
        "source": {
            "label": SOURCE_LABEL,
            "topic": {
                "system": TOPIC_SYSTEM,
                "code": finding.topic,
                "display": _topic_displays(kb).get(finding.topic, finding.topic),
            },
        },
    }
    if finding.suggestions:
        card["suggestions"] = [
            _suggestion(s, record.patient_reference, kb) for s in finding.suggestions
        ]
        card["selectionBehavior"] = "at-most-one"
    if finding.indicator is not Indicator.INFO:
        card["overrideReasons"] = [
            {"system": OVERRIDE_SYSTEM, "code": reason.code, "display": reason.display}
            for reason in kb.rules.override_reasons
        ]
    links = _links(finding, orders, kb)
    if links:
        card["links"] = links
    return card


def render_cards(
    findings: Sequence[Finding],
    record: PatientRecord,
    orders: Sequence[NatalizumabOrder],
    notes: Sequence[DataNote] = (),
) -> list[dict[str, Any]]:
    kb = knowledge()
    return [render_card(f, record, orders, notes, kb) for f in findings]
