"""Render Findings as CDS Hooks 2.0 cards (contract section 3), the same way for every topic.

The words come from the topic's registered text (``cards.registry``); the card is built as a
typed model (``cards.models``) and validated before it is sent. A card that fails (a defect
of the service: a text that raises, a summary that is not plain text, an indicator the topic
does not allow, no registered text) is never dropped and never turns the call into a 500:
it is logged without patient data, counted (``Rendered.fallbacks``, exported as the
``cds_card_fallbacks`` metric) and replaced by the topic's minimal fallback card, which keeps
the finding's topic and indicator (or the topic's most severe allowed one) and says that the
full card could not be shown.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from cds_service.cards.markdown import escape, escape_knowledge, fmt_date, shorten
from cds_service.cards.models import SUMMARY_MAX, Card
from cds_service.cards.registry import CardText, TextContext, word
from cds_service.cards.remembered import RENDERED_CACHE, rendering_key
from cds_service.cards.wording import measured
from cds_service.clinical.findings import Finding, Indicator, NotAssessed, TopicValues
from cds_service.knowledge.loader import Knowledge, knowledge
from cds_service.knowledge.topics import TOPIC_SYSTEM, TopicGroup
from cds_service.record.model import (
    DataNote,
    NatalizumabOrder,
    PatientRecord,
    SkippedResources,
    TextNotRead,
)

logger = logging.getLogger("cds_service.cards")

OVERRIDE_SYSTEM = "https://natalizumab-cds.example/fhir/CodeSystem/override-reason"
SOURCE_LABEL = "Natalizumab CDS"
MAX_EVIDENCE_LINES = 12
SERIES_MIN = 3

__all__ = ["TOPIC_SYSTEM", "Rendered", "render_card", "render_cards", "topic_prefetch_keys"]

#: Why a prefetch key was read only in part, in the words of a data note.
_INCOMPLETE_REASONS = {
    "next_page_not_fetchable": "a further page was not sent and no allow-listed fhirServer "
    "could supply it",
    "too_many_pages": "it has more pages than the service reads",
    "too_large": "it is larger than the service reads",
    "timeout": "a further page took too long",
    "next_link_outside_server": "a further page lies outside the EHR's FHIR server",
}


def topic_prefetch_keys(kb: Knowledge) -> dict[str, frozenset[str]]:
    """Topic -> the prefetch keys its facts come from (card-topic property ``prefetch-key``)."""
    return {
        code: topic.prefetch_keys
        for code, topic in kb.topics.items()
        if topic.prefetch_keys is not None
    }


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


def _evidence_lines(finding: Finding[TopicValues]) -> list[str]:
    """One line per record; a series (3 or more records that read alike) as one line with its
    count, first and last date, so ten infusions do not push the other facts off the card."""
    groups: dict[str, list[Any]] = {}
    for item in finding.evidence:
        groups.setdefault(measured(item), []).append(item)
    lines: list[str] = []
    for name, items in groups.items():
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


#: topic -> (the knowledge it was worded from, the words): knowledge data is immutable, and
#: stating every threshold in words for each card was a quarter of rendering it.
_PRODUCT_RULES: dict[str, tuple[Knowledge, str]] = {}


def _product_rule(finding: Finding[TopicValues], kb: Knowledge) -> str:
    """The rule's product decision in words, its numbers filled from the thresholds."""
    known = _PRODUCT_RULES.get(finding.topic)
    if known is not None and known[0] is kb:
        return known[1]
    rule = kb.rules.rule(finding.topic)
    text = ""
    if rule.product_rule:
        text = "Product rule: " + rule.product_rule.format(**rule.literals(kb.rules.thresholds))
    _PRODUCT_RULES[finding.topic] = (kb, text)
    return text


def _sources(finding: Finding[TopicValues], kb: Knowledge) -> list[str]:
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
    finding: Finding[TopicValues], text: CardText, notes: Sequence[str], kb: Knowledge
) -> str:
    parts = [text.explanation]
    facts = [*text.facts, *_evidence_lines(finding)]
    if facts:
        parts.append("**Facts used**\n\n" + "\n".join(facts))
    elif text.facts_expected:
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


def _links(ids: Sequence[str], kb: Knowledge) -> list[dict[str, str]]:
    links = []
    for link_id in ids:
        link = kb.rules.link(link_id)
        links.append({"label": link.label, "url": link.url, "type": "absolute"})
    return links


def _override_reasons(kb: Knowledge) -> list[dict[str, str]]:
    return [
        {"system": OVERRIDE_SYSTEM, "code": reason.code, "display": reason.display}
        for reason in kb.rules.override_reasons
    ]


def _topic_coding(topic: str, kb: Knowledge) -> dict[str, str]:
    definition = kb.topics.get(topic)
    return {
        "system": TOPIC_SYSTEM,
        "code": topic,
        "display": definition.display if definition is not None else topic,
    }


class CardDefect(ValueError):
    """A card this service built wrongly (never caused by the patient's data)."""


def render_card(
    finding: Finding[TopicValues],
    record: PatientRecord,
    orders: Sequence[NatalizumabOrder],
    notes: Sequence[DataNote],
    kb: Knowledge,
) -> dict[str, Any]:
    """The finding's card, validated (raises on a defect; :func:`render_cards` falls back)."""
    definition = kb.topics.get(finding.topic)
    if definition is None:
        raise CardDefect(f"topic {finding.topic} is not in the card-topic CodeSystem")
    if finding.indicator not in definition.indicators:
        raise CardDefect(f"{finding.topic} may not be {finding.indicator.value}")
    text = word(finding, TextContext(kb, orders))
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": shorten(text.summary, SUMMARY_MAX),  # record text in it went through plain
        "indicator": finding.indicator.value,
        "detail": _detail(
            finding,
            text,
            [*map(word_note, notes), *data_gap_notes(finding.topic, record, kb)],
            kb,
        ),
        "source": {"label": SOURCE_LABEL, "topic": _topic_coding(finding.topic, kb)},
    }
    if finding.suggestions:
        card["suggestions"] = [
            _suggestion(s, record.patient_reference, kb) for s in finding.suggestions
        ]
        card["selectionBehavior"] = "at-most-one"
    if finding.indicator is not Indicator.INFO:
        card["overrideReasons"] = _override_reasons(kb)
    if text.links:
        card["links"] = _links(text.links, kb)
    return Card.model_validate(card).wire()


def fallback_card(finding: Finding[TopicValues], kb: Knowledge) -> dict[str, Any]:
    """The minimal valid card for a finding whose full card could not be built.

    The topic keeps its place and its severity (the finding's indicator when the topic allows
    it, else the topic's most severe allowed one): a natalizumab answer is never silently
    shorter. Only knowledge-data text and the finding's evidence lines are used.
    """
    definition = kb.topics.get(finding.topic)
    display = definition.display if definition is not None else finding.topic
    indicator = finding.indicator
    if definition is not None and indicator not in definition.indicators:
        indicator = definition.most_severe
    try:
        evidence = _evidence_lines(finding)
    except Exception:  # the fallback must not fail on what failed the card
        evidence = []
    facts = "\n\n**Facts used**\n\n" + "\n".join(evidence) if evidence else ""
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": shorten(f"{display}: review the record (full card unavailable)", SUMMARY_MAX),
        "indicator": indicator.value,
        "detail": (
            f"The service reached a finding on **{escape_knowledge(display)}** for this "
            "natalizumab order but could not build its full card (an internal error, logged "
            "and counted). The finding stands: review the patient's record on this topic "
            f"before signing.{facts}"
        ),
        "source": {"label": SOURCE_LABEL, "topic": _topic_coding(finding.topic, kb)},
    }
    if indicator is not Indicator.INFO:
        card["overrideReasons"] = _override_reasons(kb)
    return Card.model_validate(card).wire()


#: What a check that did not run covered, by the group of the topic that reports it.
_NOT_ASSESSED_SUBJECT = {
    TopicGroup.INDICATION: "Natalizumab's indication for this patient",
    TopicGroup.SAFETY: "{display}",
    TopicGroup.MONITORING: "{display}",
}


#: What the one card says when the whole assessment failed (``whole_assessment_failed_card``).
_WHOLE_ASSESSMENT = "This natalizumab order's checks (indication, safety, monitoring)"


def not_assessed_card(
    finding: Finding[TopicValues],
    notes: Sequence[DataNote],
    kb: Knowledge,
    subject: str | None = None,
) -> dict[str, Any]:
    """The card for a rule that raised (``NotAssessed``): the check did not run, so the card
    says so instead of letting the absence of a card read as "nothing found". Only knowledge
    data and the call's data notes are used; no record text reaches this card."""
    definition = kb.topics.get(finding.topic)
    display = definition.display if definition is not None else finding.topic
    group = definition.group if definition is not None else TopicGroup.SAFETY
    subject = subject or _NOT_ASSESSED_SUBJECT[group].format(display=display)
    parts = [
        f"The service could not assess **{escape_knowledge(subject)}** for this natalizumab "
        "order: the check failed with an internal error (logged and counted). Nothing was "
        "concluded on this topic, so the absence of other cards on it means nothing: review "
        "the patient's record on this topic before signing."
    ]
    try:
        worded = [word_note(note) for note in notes]
    except Exception:  # this card must not fail on what failed the rule
        worded = []
    if worded:
        parts.append("**Data notes**\n\n" + "\n".join(f"- {n}" for n in worded))
    parts.append(
        "Product rule: a check that could not run is reported on a card, never left silent."
    )
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": shorten(
            f"{subject}: not assessed (service error); review the record", SUMMARY_MAX
        ),
        "indicator": finding.indicator.value,
        "detail": "\n\n".join(parts),
        "source": {"label": SOURCE_LABEL, "topic": _topic_coding(finding.topic, kb)},
    }
    if finding.indicator is not Indicator.INFO:
        card["overrideReasons"] = _override_reasons(kb)
    return Card.model_validate(card).wire()


def whole_assessment_failed_card(
    finding: Finding[TopicValues], kb: Knowledge | None = None
) -> dict[str, Any]:
    """The one card for a natalizumab order whose assessment failed as a whole (record building
    or the engine raised: a defect); ``finding`` from ``engine.whole_assessment_not_assessed``."""
    return not_assessed_card(finding, (), kb or knowledge(), subject=_WHOLE_ASSESSMENT)


@dataclass
class Rendered:
    """The cards, the topics whose card had to be replaced by its fallback, and the topics
    answered as not assessed because their rule raised."""

    cards: list[dict[str, Any]]
    fallbacks: list[str] = field(default_factory=list)
    not_assessed: list[str] = field(default_factory=list)


def _defect_fields(error: Exception) -> list[str]:
    """Where a validation failed (field names only: never the values, which may be PHI)."""
    if isinstance(error, ValidationError):
        return [".".join(str(part) for part in item["loc"]) for item in error.errors()]
    return []


def render_cards(
    findings: Sequence[Finding[TopicValues]],
    record: PatientRecord,
    orders: Sequence[NatalizumabOrder],
    notes: Sequence[DataNote] = (),
    kb: Knowledge | None = None,
) -> Rendered:
    kb = kb or knowledge()
    key = rendering_key(findings, record, orders, notes) if RENDERED_CACHE.enabled else None
    if key is not None:
        remembered = RENDERED_CACHE.cards(key, kb)
        if remembered is not None:
            return Rendered(remembered)
    rendered = _render_cards(findings, record, orders, notes, kb)
    if key is not None and not rendered.fallbacks and not rendered.not_assessed:
        RENDERED_CACHE.remember(key, rendered.cards, kb)
    return rendered


def _render_cards(
    findings: Sequence[Finding[TopicValues]],
    record: PatientRecord,
    orders: Sequence[NatalizumabOrder],
    notes: Sequence[DataNote],
    kb: Knowledge,
) -> Rendered:
    rendered = Rendered([])
    for finding in findings:
        if isinstance(finding.values, NotAssessed):
            rendered.cards.append(not_assessed_card(finding, notes, kb))
            rendered.not_assessed.append(finding.topic)
            continue
        try:
            card = render_card(finding, record, orders, notes, kb)
        except Exception as error:  # a defect must not drop the card or 500
            logger.error(
                "card replaced by its fallback",
                extra={
                    "topic": finding.topic,
                    "error": type(error).__name__,
                    "fields": _defect_fields(error),
                },
            )
            card = fallback_card(finding, kb)
            rendered.fallbacks.append(finding.topic)
        rendered.cards.append(card)
    return rendered
