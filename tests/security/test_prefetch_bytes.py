"""Where ``prefetch`` begins in a body's bytes, and the digest that names it from there.

The record caches name a prefetch by a digest (``protocol/limits.prefetch_digest``). Read from
the body's own bytes it costs no serialisation, but it is only sound if the offset found is
really where the top-level prefetch value begins: these tests hold every offset found, over
hostile documents and several encodings of each, to what a JSON decoder reads from there.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.generate import dumps, generate_request
from cds_service.protocol.limits import prefetch_digest
from cds_service.protocol.raw_bounds import prefetch_value_start
from tests.interop.corpus import corpus_dir, published_requests

TRICKY_TEXT = st.text(alphabet=st.sampled_from('ab{}[]"\\/,:é\n x'), max_size=12)
#: "prefetch" as a key or a value anywhere, and strings that hold its token once escaped.
LOOKALIKES = st.sampled_from(["prefetch", '"prefetch"', 'x"prefetch', "prefetch:", "Prefetch"])
KEYS = st.one_of(TRICKY_TEXT, LOOKALIKES)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), TRICKY_TEXT, LOOKALIKES)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(KEYS, children, max_size=3)
    ),
    max_leaves=20,
)
MEMBERS = st.lists(st.tuples(st.sampled_from(["hook", "hookInstance", "context"]), VALUES))


@st.composite
def hook_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A call's top level: some members, prefetch (an object) among them at any place."""
    members = draw(MEMBERS)
    prefetch = draw(st.dictionaries(KEYS, VALUES, max_size=4))
    members.insert(draw(st.integers(0, len(members))), ("prefetch", prefetch))
    return dict(members)


def encodings(document: Any) -> list[bytes]:
    """The same document as different EHRs might write it, the key escaped in one of them."""
    written = [
        json.dumps(document).encode(),  # ASCII escapes, spaces after separators
        json.dumps(document, ensure_ascii=False, indent=2).encode(),
        orjson.dumps(document),
        b"\n " + orjson.dumps(document) + b" \n",
    ]
    return [*written, orjson.dumps(document).replace(b'"prefetch"', b'"pr\\u0065fetch"')]


def read_from(body: bytes, start: int) -> Any:
    """The prefetch the bytes from ``start`` on make, whatever came before them: read as the
    rest of a top-level object whose member ``prefetch`` begins there (of two members of that
    name, the last one counts, as in orjson's parse)."""
    return orjson.loads(b'{"prefetch":' + body[start:])["prefetch"]


@settings(max_examples=400, deadline=None)
@given(hook_bodies())
def test_an_offset_found_is_where_the_top_level_prefetch_begins(document: dict[str, Any]) -> None:
    for body in encodings(document):
        parsed = orjson.loads(body)
        start = prefetch_value_start(body, parsed)
        if start is None:
            continue
        assert read_from(body, start) == parsed["prefetch"], body
        value, end = json.JSONDecoder().raw_decode(body[start:].decode())
        assert value == parsed["prefetch"]  # and it is the last member: nothing else follows
        assert body[start:].decode()[end:].strip() == "}"


def test_the_bench_and_every_published_prefetch_are_found() -> None:
    bodies = [dumps(generate_request(n, seed=5)) for n in (10, 200)]
    for _, request in published_requests(corpus_dir()):
        if isinstance(request, dict) and isinstance(request.get("prefetch"), dict):
            bodies += [json.dumps(request).encode(), json.dumps(request, indent=2).encode()]
    assert len(bodies) > 10
    for body in bodies:
        parsed = orjson.loads(body)
        start = prefetch_value_start(body, parsed)
        assert start is not None
        assert read_from(body, start) == parsed["prefetch"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"prefetch":{"a":1},"hookInstance":"x"}',  # not the last member
        b'{"hook":"x","pr\\u0065fetch":{"a":1}}',  # the key written with an escape
        b'{"hook":{"prefetch":{"a":1}},"pr\\u0065fetch":{"b":2}}',  # and a lookalike
        b'{"hook":"prefetch","prefetch":{"a":1}}',  # the token first as a value
        b'{"hook":{"prefetch":{"a":1}},"prefetch":{"b":2}}',  # first as a deeper key
        b'{"hook":["prefetch",{"prefetch":{}}],"prefetch":{"b":2}}',
        b'{"hook":"\\"prefetch","prefetch":{"a":1}}',  # the token inside a string
        b'{"hook":"x","prefetch":[{"a":1}]}',  # not an object
        b'{"hook":"x","prefetch":null}',
    ],
)
def test_what_the_bytes_cannot_show_is_left_to_the_parsed_prefetch(body: bytes) -> None:
    assert prefetch_value_start(body, orjson.loads(body)) is None


def test_of_two_prefetch_members_the_bytes_hold_the_last() -> None:
    body = b'{"hook":"x","prefetch":{"a":1},"prefetch":{"b":2}}'
    parsed = orjson.loads(body)
    assert parsed["prefetch"] == {"b": 2}
    start = prefetch_value_start(body, parsed)
    assert start == body.index(b'{"a"')
    assert read_from(body, start) == {"b": 2}


def call(hook_instance: str, *, prefetch_last: bool = True) -> bytes:
    document: dict[str, Any] = {"hook": "order-sign", "hookInstance": hook_instance}
    prefetch = {"patient": {"resourceType": "Patient", "id": "p1"}}
    if prefetch_last:
        return orjson.dumps({**document, "prefetch": prefetch})
    return orjson.dumps({"prefetch": prefetch, **document})


def digest_of(body: bytes) -> bytes | None:
    return prefetch_digest(body, orjson.loads(body))


def test_the_same_prefetch_is_named_alike_in_another_call() -> None:
    assert digest_of(call("a")) == digest_of(call("b")) is not None
    assert digest_of(call("a", prefetch_last=False)) == digest_of(call("b", prefetch_last=False))
    changed = call("a").replace(b'"p1"', b'"p2"')
    assert digest_of(changed) != digest_of(call("a"))


def test_a_prefetch_found_in_the_bytes_is_not_written_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The point of the offset: no serialisation of the parsed prefetch."""
    expected = digest_of(call("a"))
    found, not_found = call("b"), call("b", prefetch_last=False)

    def refuse(*args: Any, **kwargs: Any) -> bytes:
        raise AssertionError("prefetch serialised again")

    monkeypatch.setattr(orjson, "dumps", refuse)  # what limits calls to write it back
    assert digest_of(found) == expected
    with pytest.raises(AssertionError):
        digest_of(not_found)


def test_the_two_ways_never_name_different_prefetches_alike() -> None:
    """A digest of bytes is tagged: it never equals the digest of a prefetch written back."""
    body = call("a")
    parsed = orjson.loads(body)
    written_back = hashlib.sha256(orjson.dumps(parsed["prefetch"])).digest()
    assert digest_of(body) != written_back
    assert digest_of(call("a", prefetch_last=False)) == written_back
