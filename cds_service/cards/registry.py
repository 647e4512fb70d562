"""The text side of the topic registry: every card text registers for its topic.

A text module in :mod:`cds_service.cards.topics` decorates one function per topic with
:func:`card_text`, naming the topic and the typed values its findings carry; the function gets
a ``Finding`` of exactly that type (``mypy --strict`` checks it) and returns the card's words as
a :class:`CardText`. The renderer (``cards.render``) is the same for every topic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cds_service.clinical.findings import Finding, TopicValues
from cds_service.clinical.registry import import_package_modules
from cds_service.knowledge.loader import Knowledge, Rules
from cds_service.record.model import NatalizumabOrder

TEXT_PACKAGE = "cds_service.cards.topics"
T = TypeVar("T", bound=TopicValues)


@dataclass(frozen=True)
class CardText:
    """A topic's words for one finding.

    ``explanation`` is markdown placed above the facts and the sources; ``facts`` are markdown
    list lines of derived values worth stating beside the records (exposure, index, age);
    ``links`` name links of ``rules.json``; ``facts_expected`` makes an empty fact list say
    so ("No matching record found"), for topics whose point is that nothing was found.
    """

    summary: str
    explanation: str
    facts: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    facts_expected: bool = False


@dataclass(frozen=True)
class TextContext:
    """What a text function may read besides the finding: knowledge and the orders."""

    kb: Knowledge
    orders: Sequence[NatalizumabOrder]

    @property
    def rules(self) -> Rules:
        return self.kb.rules


TextFunction = Callable[[Finding[Any], TextContext], CardText]


@dataclass(frozen=True)
class RegisteredText:
    topic: str
    values: type[TopicValues]
    function: TextFunction


class WrongValues(TypeError):
    """A finding whose values are not the type its topic's text was registered for."""


_TEXTS: dict[str, RegisteredText] = {}


def card_text(
    topic: str, values: type[T]
) -> Callable[
    [Callable[[Finding[T], TextContext], CardText]], Callable[[Finding[T], TextContext], CardText]
]:
    """Register the text of ``topic``, whose findings carry ``values``."""

    def register(
        function: Callable[[Finding[T], TextContext], CardText],
    ) -> Callable[[Finding[T], TextContext], CardText]:
        known = _TEXTS.get(topic)
        if known is not None and known.function.__qualname__ != function.__qualname__:
            raise ValueError(f"two texts registered for topic {topic}")
        _TEXTS[topic] = RegisteredText(topic, values, function)
        return function

    return register


def registered_texts() -> dict[str, RegisteredText]:
    import_package_modules(TEXT_PACKAGE)
    return dict(_TEXTS)


def word(finding: Finding[TopicValues], context: TextContext) -> CardText:
    """The registered text of the finding's topic (KeyError: no text for it)."""
    registered = registered_texts()[finding.topic]
    if not isinstance(finding.values, registered.values):
        raise WrongValues(
            f"{finding.topic}: values {type(finding.values).__name__}, "
            f"text expects {registered.values.__name__}"
        )
    return registered.function(finding, context)
