"""Reading a result's value, unit and upper reference limit from raw FHIR JSON, leniently.

Only what the record says is read; whether a limit is usable for a rule (same unit, a
multiple of it exceeded) is the rule's decision (``clinical``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cds_service.record.fhir import number
from cds_service.record.model import LimitSource, UpperLimit

# "7-56 U/L", "0.1 - 1.2 mg/dL", "< 40 U/L", "<=40", "up to 35 IU/L"; a range text that starts
# with anything else ("M: 7-56; F: 7-45", ">150") is not read: an ambiguous limit is no limit.
_RANGE_TEXT = re.compile(
    r"^\s*(?:(?:<=?|≤|up\s+to)\s*)?"
    r"(?:\d+(?:\.\d+)?\s*(?:-|–|to)\s*)?"
    r"(\d+(?:\.\d+)?)\s*([^\d\s;,][^;,]{0,20})?\s*$",
    re.IGNORECASE,
)


def text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def quantity(resource: Mapping[str, Any]) -> tuple[float | None, str, str, str]:
    """``valueQuantity`` as (value, comparator, unit code, unit text)."""
    value = resource.get("valueQuantity")
    if not isinstance(value, dict):
        return None, "", "", ""
    return (
        number(value.get("value")),
        text(value.get("comparator")),
        text(value.get("code")),
        text(value.get("unit")),
    )


def parse_range_text(range_text: str) -> tuple[float, str] | None:
    """The upper limit and unit of a reference range written as text, or None."""
    match = _RANGE_TEXT.match(range_text[:60])
    if match is None:
        return None
    return float(match.group(1)), (match.group(2) or "").strip()


def upper_limit(resource: Mapping[str, Any]) -> UpperLimit | None:
    """``referenceRange.high`` of the first range that has one, else its text, else None."""
    ranges = resource.get("referenceRange")
    if not isinstance(ranges, list):
        return None
    entries = [entry for entry in ranges if isinstance(entry, dict)]
    for entry in entries:
        high = entry.get("high")
        if isinstance(high, dict):
            value = number(high.get("value"))
            if value is not None and value > 0:
                unit = text(high.get("code")) or text(high.get("unit"))
                return UpperLimit(value, unit, LimitSource.HIGH)
    for entry in entries:
        parsed = parse_range_text(text(entry.get("text")))
        if parsed is not None and parsed[0] > 0:
            return UpperLimit(parsed[0], parsed[1], LimitSource.TEXT)
    return None


def value_concept(resource: Mapping[str, Any]) -> dict[str, Any] | None:
    """The coded or string value as a CodeableConcept-shaped dict, for value-set matching."""
    coded = resource.get("valueCodeableConcept")
    if isinstance(coded, dict):
        return coded
    string = resource.get("valueString")
    return {"text": string} if isinstance(string, str) else None
