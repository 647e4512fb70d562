"""What a rule concludes, before any wording: topic, severity, evidence, citations, values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from cds_service.knowledge.topics import Indicator
from cds_service.record.model import Evidence

__all__ = ["Finding", "Indicator", "NoValues", "NotAssessed", "TopicValues"]


@dataclass(frozen=True)
class TopicValues:
    """Base of every topic's typed values: the structured facts its card text needs.

    Each topic declares its own frozen dataclass (``PmlRiskValues``, ``LiverInjuryValues``,
    ...) next to its rule, and its text function is typed for exactly that class, so
    ``mypy --strict`` checks what passes from ``clinical`` to ``cards``: no untyped dict.
    """


@dataclass(frozen=True)
class NoValues(TopicValues):
    """For topics whose card needs nothing beyond the evidence."""


@dataclass(frozen=True)
class NotAssessed(TopicValues):
    """A rule that raised instead of concluding (a service defect).

    The engine puts this in place of the rule's finding so that the clinician is told that
    part of the check did not run, rather than reading the absence of a card as "nothing
    found"; ``cards.render`` words it the same way for every topic. ``rule`` is the rule's
    qualified name, for logs and metrics only.
    """

    rule: str


V = TypeVar("V", bound=TopicValues, covariant=True)


@dataclass(frozen=True)
class Finding(Generic[V]):
    """One conclusion of one rule.

    ``suggestions`` names orderables from the knowledge data (``rules.json`` ``orderables``)
    that the card offers as one-click actions.
    """

    topic: str
    indicator: Indicator
    evidence: tuple[Evidence, ...]
    citations: tuple[str, ...]
    values: V
    suggestions: tuple[str, ...] = ()
