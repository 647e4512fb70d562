"""The validation cache must never let a changed resource through on an old verdict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from cds_service.record.validate import ValidationCache, content_digest


def _canonical(resource: Mapping[str, Any]) -> bytes:
    """The key the record builder passes: the digest of the canonical JSON."""
    return content_digest(orjson.dumps(resource, option=orjson.OPT_SORT_KEYS))


def test_verdicts_follow_content() -> None:
    cache = ValidationCache(max_entries=10)
    valid = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    invalid = {**valid, "valueQuantity": {"value": "not a number"}}
    assert cache.problem(valid, _canonical(valid)) is None
    assert cache.problem(invalid, _canonical(invalid)) is not None
    assert cache.problem(valid, _canonical(valid)) is None
    assert cache.problem(invalid, _canonical(invalid)) is not None


def test_cache_is_bounded() -> None:
    cache = ValidationCache(max_entries=3)
    for value in range(10):
        resource = {"resourceType": "Observation", "status": "final", "code": {"text": str(value)}}
        cache.problem(resource, _canonical(resource))
    assert len(cache._entries) == 3
