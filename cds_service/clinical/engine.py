"""The clinical engine's single entry point: ``assess(record, orders, now)``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime

from cds_service.clinical.findings import Finding, TopicValues
from cds_service.clinical.registry import registered_rules
from cds_service.knowledge.loader import Knowledge, knowledge
from cds_service.knowledge.topics import TopicDefinition
from cds_service.record.model import Evidence, NatalizumabOrder, PatientRecord


def assess(
    record: PatientRecord,
    orders: Sequence[NatalizumabOrder],
    now: datetime,
    kb: Knowledge | None = None,
) -> list[Finding[TopicValues]]:
    """All findings for a natalizumab order, ordered critical, warning, info; none without one.

    Every registered rule runs (``clinical.registry``). Every rule applies to the patient, not
    to one order, so several natalizumab orders in one call still give one finding per topic.
    """
    if not orders:
        return []
    kb = kb or knowledge()
    findings = []
    for registered in registered_rules():
        finding = registered.function(record, now, kb.rules)
        if finding is None:
            continue
        evidence = tuple(sorted(set(finding.evidence), key=_evidence_order))
        findings.append(replace(finding, evidence=evidence))
    return sorted(findings, key=lambda f: card_order(f, kb.topics))


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
