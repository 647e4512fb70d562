"""Judging one laboratory result against its own upper reference limit, in its own unit."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from cds_service.record.model import ObservationFact


def unit_key(unit: str) -> str:
    """A unit spelling compared without spaces, case or the micro sign's variants."""
    return "".join(unit.split()).replace("µ", "u").replace("μ", "u").casefold()


def same_unit(fact: ObservationFact) -> bool:
    """The limit is in the result's unit: the same spelling as the result's code or unit, or
    no unit given with the limit (a range printed beside a result is in the result's unit)."""
    limit = fact.upper_limit
    if limit is None:
        return False
    if not limit.unit:
        return True
    wanted = unit_key(limit.unit)
    return any(wanted == unit_key(u) for u in (fact.unit_code, fact.unit) if u)


def multiple_of_limit(fact: ObservationFact) -> float | None:
    """The result as a multiple of its upper limit, when both are usable (else None)."""
    value = fact.evidence.value
    if value is None or fact.upper_limit is None or not same_unit(fact):
        return None
    return value / fact.upper_limit.value


def above(fact: ObservationFact, multiple: float) -> bool:
    """Above ``multiple`` times the limit; a "<" value is only an upper bound, never above."""
    ratio = multiple_of_limit(fact)
    return ratio is not None and ratio > multiple and fact.comparator not in ("<", "<=")


def within_limit(fact: ObservationFact) -> bool:
    """At or below the upper limit; a ">" value is only a lower bound, never within."""
    ratio = multiple_of_limit(fact)
    return ratio is not None and ratio <= 1 and fact.comparator not in (">", ">=")


def dated_since(facts: Iterable[ObservationFact], since: date) -> list[ObservationFact]:
    """Dated on or after ``since``, oldest first (undated results cannot be placed in time)."""
    dated = [f for f in facts if f.evidence.date is not None and f.evidence.date >= since]
    return sorted(dated, key=lambda f: (f.evidence.date or date.min, f.evidence.reference))
