"""The rule side of the topic registry: every rule function registers the topics it decides.

A rule module in :mod:`cds_service.clinical.topics` decorates its rule with :func:`rule`,
naming each topic it can conclude, the typed values that topic's findings carry and the
indicators it can give them. The engine runs every registered rule; nothing lists topics by
hand, so a new topic cannot be forgotten in an engine table (tests/clinical/test_registry.py
checks the registry against the CodeSystem, ``rules.json`` and the card texts).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from cds_service.clinical.findings import Finding, Indicator, TopicValues
from cds_service.knowledge.loader import Rules
from cds_service.record.model import PatientRecord

RuleFunction = Callable[[PatientRecord, datetime, Rules], "Finding[TopicValues] | None"]
F = TypeVar("F", bound=RuleFunction)
M = TypeVar("M", bound="TopicData")

TOPIC_PACKAGE = "cds_service.clinical.topics"


class TopicData(BaseModel):
    """Base of a topic's typed view of its own ``thresholds`` and ``parameters`` in rules.json.

    Fields are read by name from both; a typo in either fails at start-up (and in the registry
    test), not in a call.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Emits:
    """One topic a rule can conclude: its values type and the indicators it can give."""

    topic: str
    values: type[TopicValues]
    indicators: frozenset[Indicator]


def emits(topic: str, values: type[TopicValues], *indicators: Indicator) -> Emits:
    return Emits(topic, values, frozenset(indicators))


@dataclass(frozen=True)
class RegisteredRule:
    name: str
    function: RuleFunction
    emits: tuple[Emits, ...]
    data: tuple[tuple[str, type[TopicData]], ...] = ()
    #: The topic whose card says so when the rule raises (see ``clinical.engine``).
    unassessed: str = ""

    def declared(self, finding: Finding[TopicValues]) -> Emits | None:
        return next((e for e in self.emits if e.topic == finding.topic), None)


_RULES: list[RegisteredRule] = []


def rule(
    *emitted: Emits, data: type[TopicData] | None = None, unassessed: str | None = None
) -> Callable[[F], F]:
    """Register a rule for the topics it can conclude (``data``: its typed rules.json view).

    ``unassessed`` names the emitted topic that carries the "could not be assessed" card when
    the rule raises; a rule with one topic uses it, a rule with several must choose (the card
    code the committee will see counted for that defect).
    """
    if not emitted:
        raise ValueError("a rule must name at least one topic")
    topics = [e.topic for e in emitted]
    if unassessed is None and len(topics) > 1:
        raise ValueError(f"a rule concluding {topics} must name its 'unassessed' topic")
    failure_topic = unassessed or topics[0]
    if failure_topic not in topics:
        raise ValueError(f"unassessed topic {failure_topic} is not one the rule concludes")

    def register(function: F) -> F:
        name = f"{function.__module__}.{function.__qualname__}"
        typed = tuple((e.topic, data) for e in emitted) if data is not None else ()
        _RULES[:] = [r for r in _RULES if r.name != name]  # a module reload replaces, not adds
        _RULES.append(RegisteredRule(name, function, emitted, typed, failure_topic))
        return function

    return register


@cache
def import_package_modules(package_name: str) -> None:
    """Import every module of a package once: importing a topic module registers it (its rules
    here, its texts in ``cards.registry``), so no list of topics is kept by hand."""
    package = importlib.import_module(package_name)
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package_name}.{module.name}")


def registered_rules() -> tuple[RegisteredRule, ...]:
    import_package_modules(TOPIC_PACKAGE)
    return tuple(_RULES)


def rule_topics() -> dict[str, Emits]:
    """Every topic a registered rule can conclude."""
    return {e.topic: e for registered in registered_rules() for e in registered.emits}


_DATA_CACHE: dict[tuple[int, str, type[Any]], tuple[Rules, Any]] = {}
_DATA_CACHE_SIZE = 64


def topic_data(rules: Rules, topic: str, model: type[M]) -> M:
    """A topic's own ``thresholds`` and ``parameters`` from ``rules``, parsed by ``model``.

    Parsed once per knowledge object (the rules are immutable): the hot path reads a cached
    model, never the raw JSON.
    """
    key = (id(rules), topic, model)
    cached = _DATA_CACHE.get(key)
    if cached is not None and cached[0] is rules:
        parsed: M = cached[1]
        return parsed
    entry = rules.rule(topic)
    parsed = model.model_validate({**entry.parameters, **entry.thresholds})
    if len(_DATA_CACHE) >= _DATA_CACHE_SIZE:
        _DATA_CACHE.clear()
    _DATA_CACHE[key] = (rules, parsed)
    return parsed


def check_topic_data(rules: Rules, registered: Iterable[RegisteredRule]) -> None:
    """Parse every rule's typed data now, so bad knowledge fails the start, not a call."""
    for item in registered:
        for topic, model in item.data:
            topic_data(rules, topic, model)
