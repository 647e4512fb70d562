"""Date windows shared by the rules: "within N days" means on or after now - N days."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from cds_service.record.model import Evidence


def within(event: date | None, today: date, days: float) -> bool:
    """Undated events are never recent: a rule cannot rely on what it cannot place in time."""
    return event is not None and event >= today - timedelta(days=int(days))


def recent(evidence: Iterable[Evidence], today: date, days: float) -> list[Evidence]:
    return [item for item in evidence if within(item.date, today, days)]


def latest(items: Iterable[Evidence]) -> Evidence | None:
    """The most recent dated item; undated items only when nothing is dated."""
    ordered = sorted(items, key=lambda e: (e.date is not None, e.date or date.min, e.reference))
    return ordered[-1] if ordered else None
