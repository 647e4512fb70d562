"""What the hook path hands to the audit writer: no card text, no patient data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ShownCard:
    """One card as the audit keeps it."""

    uuid: str
    topic: str
    indicator: str


@dataclass(frozen=True, slots=True)
class AuditedCall:
    """One hook call answered 200 with cards; ``recorded_at`` is timezone-aware UTC."""

    recorded_at: datetime
    service_id: str
    hook_instance: str
    cards: tuple[ShownCard, ...]
