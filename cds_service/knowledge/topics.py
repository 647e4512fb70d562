"""The card topics as typed data, read from the card-topic CodeSystem.

A topic's place in the answer (its group and order), the indicators its cards may carry and
the prefetch keys its facts come from are properties of its concept in
``codesystems/card-topic.json``; everything else (the engine's ordering, the card checks, the
data notes, the registry test) reads them from here, so a topic is described in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TOPIC_SYSTEM = "https://natalizumab-cds.example/fhir/CodeSystem/card-topic"


class Indicator(StrEnum):
    """CDS Hooks card.indicator."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Cards are ordered critical, warning, info (contract section 3)."""
        return _RANK[self]


_RANK = {Indicator.CRITICAL: 0, Indicator.WARNING: 1, Indicator.INFO: 2}


class TopicGroup(StrEnum):
    """Within one indicator: the indication card first, then safety, then monitoring."""

    INDICATION = "indication"
    SAFETY = "safety"
    MONITORING = "monitoring"

    @property
    def rank(self) -> int:
        return list(TopicGroup).index(self)


class TopicDefinition(BaseModel):
    """One card topic as the CodeSystem declares it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    display: str
    group: TopicGroup
    order: int
    indicators: frozenset[Indicator] = Field(min_length=1)
    #: None: the topic declares no prefetch keys, so every missing key concerns it.
    prefetch_keys: frozenset[str] | None = None

    @property
    def most_severe(self) -> Indicator:
        return min(self.indicators, key=lambda indicator: indicator.rank)


def _values(concept: Mapping[str, Any], code: str, kind: str) -> list[Any]:
    return [
        prop[kind]
        for prop in concept.get("property", [])
        if prop.get("code") == code and kind in prop
    ]


def read_topics(codesystem: Mapping[str, Any]) -> dict[str, TopicDefinition]:
    """Every concept of the card-topic CodeSystem, checked: a missing group, order or
    indicator, or two topics sharing an order, fails the load (start-up and tests)."""
    topics: dict[str, TopicDefinition] = {}
    for concept in codesystem.get("concept", []):
        code = str(concept["code"])
        groups = _values(concept, "group", "valueCode")
        orders = _values(concept, "order", "valueInteger")
        if len(groups) != 1 or len(orders) != 1:
            raise ValueError(f"card topic {code}: exactly one 'group' and one 'order' needed")
        keys = _values(concept, "prefetch-key", "valueString")
        topics[code] = TopicDefinition(
            code=code,
            display=str(concept["display"]),
            group=TopicGroup(groups[0]),
            order=int(orders[0]),
            indicators=frozenset(Indicator(v) for v in _values(concept, "indicator", "valueCode")),
            prefetch_keys=frozenset(str(k) for k in keys) if keys else None,
        )
    orders = [topic.order for topic in topics.values()]
    if len(set(orders)) != len(orders):
        raise ValueError("card topics: two topics share an 'order'")
    by_order = sorted(topics.values(), key=lambda topic: topic.order)
    ranks = [topic.group.rank for topic in by_order]
    if ranks != sorted(ranks):
        raise ValueError("card topics: 'order' must run indication, then safety, then monitoring")
    return topics
