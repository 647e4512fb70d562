"""Comparing answers across calls: each card gets a fresh ``uuid``, everything else must match."""

from __future__ import annotations

from typing import Any


def without_uuids(value: Any) -> Any:
    """``value`` (cards, or any JSON holding them) with every ``uuid`` member left out."""
    if isinstance(value, dict):
        return {k: without_uuids(v) for k, v in value.items() if k != "uuid"}
    if isinstance(value, list):
        return [without_uuids(v) for v in value]
    return value
