"""A body split where its top-level prefetch begins, and prefetches parsed before.

``protocol/prefetch_split`` names a prefetch by the digest of its own bytes and, for a
prefetch sent before, parses only the envelope. Both are only sound if the split is where the
top-level prefetch really begins and the document put together is the one orjson parses from
the whole body: these tests hold them so over hostile documents (lookalike keys and values,
duplicate members, escapes) in several encodings, and over every call the project has.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.generate import dumps, generate_request
from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.examples import example_names, load_example
from cds_service.protocol.errors import ProtocolError
from cds_service.protocol.limits import parse_json
from cds_service.protocol.prefetch_split import (
    PARSED_PREFETCHES,
    ParsedPrefetches,
    split_at_prefetch,
)
from tests.interop.corpus import corpus_dir, published_requests
from tests.security.test_raw_bounds import encodings as raw_bounds_encodings
from tests.support.asgi import send_raw
from tests.support.cards import without_uuids

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
    """The same document as different EHRs might write it (those of the limit proofs), with
    space around it, and with the key escaped."""
    written = orjson.dumps(document)
    return [
        *raw_bounds_encodings(document),
        b"\n " + written + b" \n",
        written.replace(b'"prefetch"', b'"pr\\u0065fetch"'),
    ]


def rest_of(body: bytes, start: int) -> dict[str, Any]:
    """What the bytes from ``start`` on make, whatever came before them: the rest of a
    top-level object whose member ``prefetch`` begins there (of two members of one name, the
    last counts, as in orjson's parse of the whole)."""
    rest: dict[str, Any] = orjson.loads(b'{"prefetch":' + body[start:])
    return rest


def same_json(left: Any, right: Any) -> bool:
    """Equal, and written alike: the key order too."""
    return bool(orjson.dumps(left) == orjson.dumps(right))


def assert_split_is_exact(body: bytes) -> bool:
    """The envelope and the rest of a split make the whole body's document; False when the
    body was not split."""
    split = split_at_prefetch(body)
    if split is None:
        return False
    parsed = orjson.loads(body)
    assert list(split.envelope)[-1] == "prefetch", body  # the placeholder comes last
    whole = dict(split.envelope)
    whole.update(rest_of(body, split.start))
    assert same_json(whole, parsed), body
    return True


@settings(max_examples=400, deadline=None)
@given(hook_bodies())
def test_a_split_makes_the_document_orjson_parses(document: dict[str, Any]) -> None:
    for body in encodings(document):
        assert_split_is_exact(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":1,"prefetch":{"x":1},"a":2}',  # a member named again after prefetch
        b'{"prefetch":{"x":1},"prefetch":{"y":2}}',  # prefetch twice: the last counts
        b'{"prefetch":{"x":1},"hookInstance":"i","prefetch":[2]}',
        b'{"hook":["prefetch",{"prefetch":{}}],"prefetch":{"b":2}}',
    ],
)
def test_duplicates_after_the_split_are_the_parse_of_the_rest(body: bytes) -> None:
    assert assert_split_is_exact(body) == (b'["prefetch"' not in body)


def test_the_bench_and_every_published_prefetch_are_split() -> None:
    bodies = [dumps(generate_request(n, seed=5)) for n in (10, 200)]
    for _, request in published_requests(corpus_dir()):
        if isinstance(request, dict) and isinstance(request.get("prefetch"), dict):
            bodies += [json.dumps(request).encode(), json.dumps(request, indent=2).encode()]
    assert len(bodies) > 10
    for body in bodies:
        assert assert_split_is_exact(body), body[:200]


@pytest.mark.parametrize(
    "body",
    [
        b'{"hook":"x","pr\\u0065fetch":{"a":1}}',  # the key written with an escape
        b'{"hook":{"prefetch":{"a":1}},"pr\\u0065fetch":{"b":2}}',  # and a lookalike
        b'{"hook":"prefetch","prefetch":{"a":1}}',  # the token first as a value
        b'{"hook":{"prefetch":{"a":1}},"prefetch":{"b":2}}',  # first as a deeper key
        b'{"hook":"\\"prefetch","prefetch":{"a":1}}',  # first inside a string
        b'{"hook":"x","prefetch":[{"a":1}]}',  # not an object
        b'{"hook":"x","prefetch":null}',
        b'{"hook":x,"prefetch":{"a":1}}',  # not JSON before it
    ],
)
def test_what_the_bytes_cannot_show_is_not_split(body: bytes) -> None:
    assert split_at_prefetch(body) is None


class CountedParse:
    """The whole-body parser, counted: what a remembered prefetch saves."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, body: bytes) -> Any:
        self.calls += 1
        return parse_json(body)


def call(hook_instance: str, prefetch: dict[str, Any] | None = None) -> bytes:
    prefetch = prefetch or {"patient": {"resourceType": "Patient", "id": "p1"}}
    return orjson.dumps({"hook": "order-sign", "hookInstance": hook_instance, "prefetch": prefetch})


def test_a_prefetch_seen_twice_is_not_parsed_again() -> None:
    memo, parse = ParsedPrefetches(8, 1_000_000), CountedParse()
    for number in range(1, 6):
        body = call(f"call-{number}")
        document, split = memo.document(body, parse)
        assert same_json(document, orjson.loads(body))
        assert split is not None and split.digest == split_at_prefetch(call("other")).digest  # type: ignore[union-attr]
        assert parse.calls == 1  # the second call parses its envelope and its rest apart
    assert len(memo) == 1
    other = call("call-6", {"patient": {"resourceType": "Patient", "id": "p2"}})
    assert same_json(memo.document(other, parse)[0], orjson.loads(other))
    assert parse.calls == 2


def test_calls_sharing_a_remembered_prefetch_keep_their_own_envelope() -> None:
    memo, parse = ParsedPrefetches(8, 1_000_000), CountedParse()
    for _ in range(2):
        memo.document(call("first"), parse)
    one, _ = memo.document(call("one"), parse)
    two, _ = memo.document(call("two"), parse)
    assert parse.calls == 1
    assert (one["hookInstance"], two["hookInstance"]) == ("one", "two")
    assert one["prefetch"] is two["prefetch"]  # shared, read-only


@pytest.mark.parametrize(
    "body",
    [
        b'{"hook":"order-sign","prefetch":{"p":{"id":"1"}},"hookInstance":"x"}',
        b'{"hookInstance":"x","prefetch":{"p":{"id":"1"}},"hookInstance":"y"}',
    ],
)
def test_a_prefetch_with_members_after_it_is_parsed_every_time(body: bytes) -> None:
    memo, parse = ParsedPrefetches(8, 1_000_000), CountedParse()
    for _ in range(4):
        assert same_json(memo.document(body, parse)[0], orjson.loads(body))
    assert parse.calls == 1 and len(memo) == 0


def test_of_two_prefetch_members_the_last_is_remembered() -> None:
    body = b'{"hook":"x","prefetch":{"a":1},"prefetch":{"b":2}}'
    memo, parse = ParsedPrefetches(8, 1_000_000), CountedParse()
    for _ in range(3):
        document, _ = memo.document(body, parse)
        assert document == {"hook": "x", "prefetch": {"b": 2}}
    assert parse.calls == 1 and len(memo) == 1


def test_a_body_that_is_not_json_is_refused_whatever_was_remembered() -> None:
    memo, parse = ParsedPrefetches(8, 1_000_000), CountedParse()
    good = call("a")
    for _ in range(3):
        memo.document(good, parse)
    broken_before = good.replace(b'"hook":', b'"hook"', 1)
    broken_after = good[:-1] + b",}"
    for body in (broken_before, broken_after, good[:-1], good + b"]", b"[" + good):
        with pytest.raises(ProtocolError):
            memo.document(body, parse)
    for _ in range(3):  # seen again and again, a rest that is not JSON is still refused
        with pytest.raises(ProtocolError):
            memo.document(broken_after, parse)
    inside = b"[" + good + b"]"  # the same bytes one level down: not a top-level prefetch
    assert memo.document(inside, parse) == (orjson.loads(inside), None)


def test_the_memory_of_prefetches_is_bounded_in_entries_and_bytes() -> None:
    prefetches = [{"p": {"id": str(number), "text": "x" * 900}} for number in range(10)]
    memo = ParsedPrefetches(4, 1_000_000)
    for prefetch in prefetches:
        for _ in range(2):
            memo.document(call("a", prefetch), parse_json)
    assert len(memo) == 4
    memo = ParsedPrefetches(64, 3_000)  # about three of them
    for prefetch in prefetches:
        for _ in range(2):
            memo.document(call("a", prefetch), parse_json)
    assert len(memo) == 3
    digests = [split_at_prefetch(call("b", prefetch)).digest for prefetch in prefetches]  # type: ignore[union-attr]
    assert [digest in memo for digest in digests] == [False] * 7 + [True] * 3  # the newest
    memo.configure(0)
    parse = CountedParse()
    for _ in range(3):
        memo.document(call("c", prefetches[-1]), parse)
    assert parse.calls == 3 and len(memo) == 0


def test_a_large_prefetch_beyond_the_bound_is_not_remembered() -> None:
    memo, parse = ParsedPrefetches(8, 500), CountedParse()
    body = call("a", {"p": {"text": "x" * 600}})
    for _ in range(3):
        memo.document(body, parse)
    assert parse.calls == 3 and len(memo) == 0


def _requests() -> list[tuple[str, dict[str, Any]]]:
    now = datetime.now(UTC)
    found = []
    for name in example_names():
        example = load_example(name, now)
        found.append((example.service, example.request))
    found.append(("natalizumab-order-sign", generate_request(200, seed=9, now=now)))
    return found


async def _answers(settings: Settings, bodies: list[tuple[str, bytes]]) -> list[Any]:
    app = create_app(settings)
    answers = []
    async with app.router.lifespan_context(app):
        for service, body in bodies:
            status, raw = await send_raw(app, f"/cds-services/{service}", body)
            answers.append((status, without_uuids(orjson.loads(raw))))
    return answers


def _again(request: dict[str, Any], number: int) -> bytes:
    again = copy.deepcopy(request)
    again["hookInstance"] = f"{request.get('hookInstance', 'call')}-{number}"
    return orjson.dumps(again)


def test_the_service_answers_a_remembered_prefetch_as_a_parsed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every example and a bench record, each sent four times (another hookInstance each
    time): the answers with the prefetch remembered equal those with every body parsed
    whole, and after all those calls what is remembered still equals a fresh parse of its
    bytes (no call changed the shared prefetch)."""
    requests = _requests()
    bodies = [(service, _again(request, n)) for service, request in requests for n in range(4)]
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}")
    parse = CountedParse()
    monkeypatch.setattr("cds_service.protocol.limits.parse_json", parse)
    remembered = asyncio.run(_answers(settings, bodies))
    whole_parses = parse.calls
    assert len(PARSED_PREFETCHES) > 0
    held = 0
    for _, body in bodies:
        split = split_at_prefetch(body)
        known = PARSED_PREFETCHES._entries.get(split.digest) if split else None
        if known is not None:
            held += 1
            assert same_json(known[0], orjson.loads(body)["prefetch"])
    assert held > len(requests)
    off = Settings(database_url=f"sqlite:///{tmp_path / 'b.db'}", record_memo_entries=0)
    parsed = asyncio.run(_answers(off, bodies))
    assert remembered == parsed
    assert all(status == 200 for status, _ in remembered)
    assert whole_parses < len(bodies) and parse.calls - whole_parses == len(bodies)


def _counting(memo: ParsedPrefetches) -> tuple[CountedParse, Callable[[bytes], Any]]:
    parse = CountedParse()
    return parse, lambda body: memo.document(body, parse)[0]


@settings(max_examples=200, deadline=None)
@given(hook_bodies(), st.lists(st.sampled_from(["hook", "hookInstance", "context"]), max_size=3))
def test_remembered_or_not_every_document_is_orjsons(
    document: dict[str, Any], renamed: list[str]
) -> None:
    """The same prefetch in calls whose envelopes differ: each answered exactly."""
    memo = ParsedPrefetches(8, 1_000_000)
    parse, read = _counting(memo)
    for number in range(4):
        varied = {
            key: (f"v{number}" if key in renamed else value) for key, value in document.items()
        }
        for body in encodings(varied):
            assert same_json(read(body), orjson.loads(body)), body
    assert parse.calls >= 1
