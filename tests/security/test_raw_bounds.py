"""The raw-bytes proof of the JSON limits never lets through what the exact walk refuses.

``within_limits`` may only answer True for a body whose parsed document passes
``check_json_limits``; these tests hold it to that on generated documents written in every
way JSON allows (escapes, brackets and quotes inside strings, keys spelled with ``\\u``
escapes), and check that it does prove the ordinary calls, which is what makes it worth having.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.generate import dumps, generate_request
from cds_service.protocol.errors import ProtocolError
from cds_service.protocol.limits import check_json_limits
from cds_service.protocol.raw_bounds import (
    depth_at_most,
    mask_escapes,
    skeleton,
    strings_at_most,
    within_limits,
)

TRICKY_TEXT = st.text(alphabet=st.sampled_from('ab{}[]"\\/,:é\n\u2028x'), max_size=12)
KEYS = st.one_of(TRICKY_TEXT, st.sampled_from(["resourceType", "entry", "resource"]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(0, 1), TRICKY_TEXT)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)
    ),
    max_leaves=40,
)


def depth(document: Any) -> int:
    if isinstance(document, dict):
        return 1 + max(map(depth, document.values()), default=0)
    if isinstance(document, list):
        return 1 + max(map(depth, document), default=0)
    return 0


def walk_accepts(document: Any, **limits: int) -> bool:
    try:
        check_json_limits(document, **limits)
    except ProtocolError:
        return False
    return True


def encodings(document: Any) -> list[bytes]:
    """The same document as different EHRs would write it."""
    return [
        json.dumps(document).encode(),  # ASCII escapes, spaces after separators
        json.dumps(document, ensure_ascii=False, indent=1).encode(),
        orjson.dumps(document),
    ]


@settings(max_examples=300, deadline=None)
@given(DOCUMENTS, st.integers(1, 8), st.integers(0, 6), st.integers(1, 6), st.integers(2, 12))
def test_a_proven_body_always_passes_the_walk(
    document: Any, max_depth: int, max_resources: int, max_items: int, max_chars: int
) -> None:
    limits = {
        "max_depth": max_depth,
        "max_resources": max_resources,
        "max_array_items": max_items,
        "max_string_chars": max_chars,
    }
    for body in encodings(document):
        assert orjson.loads(body) == document
        if within_limits(body, **limits):
            assert walk_accepts(document, **limits), body


@settings(max_examples=300, deadline=None)
@given(DOCUMENTS)
def test_the_skeleton_is_the_documents_own_brackets(document: Any) -> None:
    for body in encodings(document):
        structure = skeleton(mask_escapes(body))
        assert structure == skeleton(mask_escapes(orjson.dumps(document)))
        assert set(structure) <= set(b"[]")
        assert depth_at_most(mask_escapes(body), depth(document))  # exact
        if depth(document) > 0:
            assert not depth_at_most(mask_escapes(body), depth(document) - 1)


def test_depth_is_exact_for_objects_arrays_and_siblings() -> None:
    flat: Any = [[1], {"a": [2]}, {"b": {"c": [[3]]}}]  # depths 2, 3 and 5 side by side
    assert depth(flat) == 5
    assert depth_at_most(json.dumps(flat).encode(), 5)
    assert not depth_at_most(json.dumps(flat).encode(), 4)


def test_depth_is_exact_for_alternating_objects_and_arrays() -> None:
    document: Any = "[not a bracket]"
    for level in range(64):
        document = {"a": document} if level % 2 else [document]
    body = json.dumps(document).encode()
    assert depth_at_most(body, 64)
    deeper = json.dumps([document]).encode()
    assert not depth_at_most(deeper, 64)
    with pytest.raises(ProtocolError):
        check_json_limits([document], max_depth=64, max_resources=10)


def test_a_key_spelled_with_escapes_is_not_counted_blindly() -> None:
    body = b'[{"resourc\\u0065Type":"Basic"},{"resourc\\u0065Type":"Basic"}]'
    document = orjson.loads(body)
    assert not walk_accepts(document, max_depth=64, max_resources=1)
    assert not within_limits(
        body, max_depth=64, max_resources=1, max_string_chars=100, max_array_items=100
    )


def test_a_long_string_of_escaped_quotes_is_not_missed() -> None:
    body = b'{"a":"' + b'\\"' * 600 + b'"}'  # 600 characters in 1,200 bytes
    assert len(orjson.loads(body)["a"]) == 600
    assert not strings_at_most(mask_escapes(body), 500)
    assert strings_at_most(mask_escapes(body), 2_000)


@pytest.mark.parametrize("n", [10, 200, 5000])
def test_ordinary_calls_are_proven_without_the_walk(n: int) -> None:
    body = dumps(generate_request(n, seed=3))
    assert within_limits(
        body,
        max_depth=64,
        max_resources=20_000,
        max_string_chars=1_000_000,
        max_array_items=100_000,
    )
    assert not within_limits(
        body, max_depth=5, max_resources=20_000, max_string_chars=1_000, max_array_items=10
    )
