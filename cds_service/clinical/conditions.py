"""What a safety Condition's clinical status means (contract section 2).

Safety Conditions count only while active, recurrence or relapse — unlike MS, where remission
still counts (MS is lifelong). Where the contract says so, a Condition without a clinical
status counts too, as long as it records no end.
"""

from __future__ import annotations

from cds_service.record.model import ConditionFact

ACTIVE_STATUSES = frozenset({"active", "recurrence", "relapse"})


def is_active(fact: ConditionFact, *, absent_counts: bool = False) -> bool:
    if fact.clinical_status in ACTIVE_STATUSES:
        return True
    return absent_counts and fact.clinical_status is None and not fact.abated


def is_resolved(fact: ConditionFact) -> bool:
    """Resolved: so recorded, or no status but an end recorded."""
    if fact.clinical_status == "resolved":
        return True
    return fact.clinical_status is None and fact.abated
