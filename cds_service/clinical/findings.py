"""What a rule concludes, before any wording: topic, severity, evidence and citations."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cds_service.record.model import Evidence


class Indicator(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Cards are ordered critical, warning, info (contract section 3)."""
        return {"critical": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True)
class Finding:
    """One conclusion of one rule.

    ``values`` holds the topic-specific numbers and names the card needs (e.g. the PML risk
    stratum, months of exposure, the drugs involved); ``suggestions`` names orderables from the
    knowledge data (``rules.json`` ``orderables``) that the card offers as one-click actions.
    """

    topic: str
    indicator: Indicator
    evidence: tuple[Evidence, ...]
    citations: tuple[str, ...]
    values: dict[str, Any] = field(default_factory=dict)
    suggestions: tuple[str, ...] = ()
