"""The clinical engine's single entry point: ``assess(record, orders, now)``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime

from cds_service.clinical.findings import Finding, Indicator, NotAssessed, TopicValues
from cds_service.clinical.registry import RegisteredRule, registered_rules
from cds_service.knowledge.loader import Knowledge, knowledge
from cds_service.knowledge.topics import TopicDefinition
from cds_service.record.model import Evidence, NatalizumabOrder, PatientRecord

logger = logging.getLogger("cds_service.clinical")


def assess(
    record: PatientRecord,
    orders: Sequence[NatalizumabOrder],
    now: datetime,
    kb: Knowledge | None = None,
) -> list[Finding[TopicValues]]:
    """All findings for a natalizumab order, ordered critical, warning, info; none without one.

    Every registered rule runs (``clinical.registry``). Every rule applies to the patient, not
    to one order, so several natalizumab orders in one call still give one finding per topic.
    A rule that raises (a defect) never fails the call and never goes unmentioned: it gives a
    :class:`NotAssessed` finding, which becomes a card saying the check did not run.
    """
    if not orders:
        return []
    kb = kb or knowledge()
    findings = []
    for registered in registered_rules():
        try:
            finding = registered.function(record, now, kb.rules)
        except Exception as error:
            finding = _not_assessed(registered, error, kb)
        if finding is None:
            continue
        evidence = tuple(sorted(set(finding.evidence), key=_evidence_order))
        findings.append(replace(finding, evidence=evidence))
    return sorted(findings, key=lambda f: card_order(f, kb.topics))


def _not_assessed(
    registered: RegisteredRule, error: Exception, kb: Knowledge
) -> Finding[TopicValues]:
    """The finding that stands for a rule that raised, logged with the rule and the error type
    only: the message of an exception raised on record data may quote that data."""
    logger.error(
        "rule raised; its topic is answered as not assessed",
        extra={
            "rule": registered.name,
            "topic": registered.unassessed,
            "error": type(error).__name__,
        },
    )
    return not_assessed(registered.unassessed, registered.name, kb)


def not_assessed(topic: str, rule: str, kb: Knowledge) -> Finding[TopicValues]:
    """A :class:`NotAssessed` finding on ``topic``: a warning where the topic allows one (a
    check that did not run needs a look and an override reason, not an alarm), else the
    topic's own severity."""
    definition = kb.topics.get(topic)
    indicator = Indicator.WARNING
    if definition is not None and indicator not in definition.indicators:
        indicator = definition.most_severe
    return Finding(topic, indicator, (), (), NotAssessed(rule))


def whole_assessment_not_assessed(kb: Knowledge | None = None) -> Finding[TopicValues]:
    """The one finding for a call whose assessment failed as a whole: on the "not assessed"
    topic of the rule that comes first in card order (the indication rule), so it stands
    where the indication card would."""
    kb = kb or knowledge()
    topics = kb.topics
    unassessed = [r.unassessed for r in registered_rules() if r.unassessed in topics]
    topic = min(unassessed, key=lambda code: (topics[code].group.rank, topics[code].order))
    return not_assessed(topic, "whole assessment", kb)


def card_order(
    finding: Finding[TopicValues], topics: dict[str, TopicDefinition]
) -> tuple[int, int, str]:
    """Critical, warning, info; within one indicator by the topic's CodeSystem ``order``
    (indication, then safety, then monitoring). An unknown topic sorts last, never fails:
    the card renderer replaces its card (see ``cards.render``)."""
    topic = topics.get(finding.topic)
    return (finding.indicator.rank, topic.order if topic else 1 << 30, finding.topic)


def _evidence_order(item: Evidence) -> tuple[date, str, str]:
    """Newest first; the order of resources in the request must never change a card."""
    day = item.date or date.min
    return (date.max - (day - date.min), item.reference, item.description)
