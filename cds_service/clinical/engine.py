"""The clinical engine's single entry point: ``assess(record, orders, now)``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime

from cds_service.clinical import indication, monitoring, pml_risk, safety
from cds_service.clinical.findings import Finding
from cds_service.knowledge.loader import Rules, knowledge
from cds_service.record.model import Evidence, NatalizumabOrder, PatientRecord

# Within one indicator: the indication card first, then the safety cards, then monitoring
# (contract section 3); a stable order, so identical input gives identical output.
TOPIC_ORDER = (
    "natalizumab-indicated",
    "progressive-ms-not-indicated",
    "spms-on-natalizumab-review",
    "ms-activity-undetermined",
    "ms-phenotype-unspecified",
    "no-approved-indication",
    "pediatric-patient",
    "pml-history",
    "natalizumab-hypersensitivity",
    "immunocompromised",
    "concomitant-immunotherapy",
    "pml-risk",
    "jcv-test-due",
    "mri-due",
)


def assess(
    record: PatientRecord,
    orders: Sequence[NatalizumabOrder],
    now: datetime,
    rules: Rules | None = None,
) -> list[Finding]:
    """All findings for a natalizumab order, ordered critical, warning, info; none without one.

    Every rule applies to the patient, not to one order, so several natalizumab orders in one
    call still give one finding per topic.
    """
    if not orders:
        return []
    rules = rules or knowledge().rules
    indicated = indication.assess_indication(record, now, rules)
    candidates = [
        indicated,
        safety.pediatric(record, now, rules),
        safety.pml_history(record, now, rules),
        safety.hypersensitivity(record, rules),
        safety.immunocompromised(record, rules),
        safety.concomitant_immunotherapy(record, indicated, rules),
        pml_risk.pml_risk(record, now, rules),
        monitoring.jcv_test_due(record, now, rules),
        monitoring.mri_due(record, now, rules),
    ]
    findings = [
        replace(finding, evidence=tuple(sorted(set(finding.evidence), key=_evidence_order)))
        for finding in candidates
        if finding is not None
    ]
    return sorted(findings, key=lambda f: (f.indicator.rank, TOPIC_ORDER.index(f.topic)))


def _evidence_order(item: Evidence) -> tuple[date, str, str]:
    """Newest first; the order of resources in the request must never change a card."""
    day = item.date or date.min
    return (date.max - (day - date.min), item.reference, item.description)
