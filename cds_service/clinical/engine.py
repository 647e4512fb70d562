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
    """The finding that stands for a rule that raised: a warning where the topic allows one
    (a check that did not run needs a look and an override reason, not an alarm), else the
    topic's own severity. Logged with the rule and the error type only: the message of an
    exception raised on record data may quote that data."""
    logger.error(
        "rule raised; its topic is answered as not assessed",
        extra={
            "rule": registered.name,
            "topic": registered.unassessed,
            "error": type(error).__name__,
        },
    )
    topic = kb.topics.get(registered.unassessed)
    indicator = Indicator.WARNING
    if topic is not None and indicator not in topic.indicators:
        indicator = topic.most_severe
    return Finding(registered.unassessed, indicator, (), (), NotAssessed(registered.name))


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
