"""A remembered record gives exactly the cards that building it again gives.

The record builder remembers the whole record it built from a call's data
(:mod:`cds_service.record.record_cache`) and hands it to the next call that sends the very same
data. That is only right if the key holds everything the builder reads, if nobody changes a
record that later calls share, and if a call that gets a record back logs and counts what a
build would have: these tests hold each of those.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import hashlib
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.generate import generate_request
from cds_service import hook_call
from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.examples import example_names, load_example
from cds_service.hook_call import answer_hook_call
from cds_service.knowledge.loader import knowledge
from cds_service.pipeline import HookData, evaluate
from cds_service.protocol.errors import ProtocolError
from cds_service.protocol.prefetch_split import split_at_prefetch
from cds_service.protocol.services import SERVICES
from cds_service.record import build
from cds_service.record.memo import FACTS_MEMO
from cds_service.record.model import PatientRecord
from cds_service.record.record_cache import (
    RECORD_CACHE,
    RECORD_CACHE_ENTRIES,
    RecordCache,
    RememberedRecord,
    record_key,
)
from cds_service.record.terminology import terminology
from tests.clinical.fhir import concept, jcv, order, patient, rrms
from tests.contract.builders import full_prefetch, hook_request, rrms_condition
from tests.contract.builders import patient as builder_patient
from tests.interop.corpus import cases, corpus_dir
from tests.support.asgi import send_raw
from tests.support.cards import without_uuids
from tests.support.fhir_stub import start_fhir_stub

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
UNREACHABLE_SERVER = "http://127.0.0.1:9/fhir"  # never contacted: with-data cases are left out


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    RECORD_CACHE.configure(RECORD_CACHE_ENTRIES)
    yield
    RECORD_CACHE.configure(RECORD_CACHE_ENTRIES)


class BuildCounter:
    """Counts records built by reading resources (a remembered record is not built); the
    app's start-up check (``pipeline.warm_up``, patient "warm-up") is not counted."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        feed = build._Builder.feed

        def counting(builder: build._Builder, resources: Any) -> None:
            if builder.patient_id != "warm-up":
                self.count += 1
            feed(builder, resources)

        monkeypatch.setattr(build._Builder, "feed", counting)


def answer(request: dict[str, Any], service: str) -> tuple[int, Any]:
    """(status, cards without their uuids) of one call, as the service answers it."""
    try:
        result = asyncio.run(
            answer_hook_call(SERVICES[service], copy.deepcopy(request), Settings(), None, now=NOW)
        )
    except ProtocolError as error:
        return error.status_code, None
    return 200, without_uuids(result.body["cards"])


def requests() -> list[tuple[str, dict[str, Any], str]]:
    """Every example, every published request (and its natalizumab variant) that answers
    without a FHIR server, and the bench's records."""
    found = []
    for name in example_names():
        example = load_example(name, NOW)
        found.append((name, example.request, example.service))
    for case in cases(corpus_dir(), UNREACHABLE_SERVER):
        if not case.with_data and isinstance(case.body, dict):
            found.append((case.id, case.body, case.service))
    for seed in (1, 2):
        found.append((f"bench-200-{seed}", generate_request(200, seed=seed, now=NOW), ""))
    return found


@pytest.mark.parametrize(("name", "request_body", "service"), requests())
def test_a_remembered_record_gives_the_cards_building_gives(
    name: str, request_body: dict[str, Any], service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = service or "natalizumab-order-sign"
    RECORD_CACHE.configure(0)
    built = answer(request_body, service)
    RECORD_CACHE.configure(RECORD_CACHE_ENTRIES)
    first = answer(request_body, service)
    builds = BuildCounter(monkeypatch)
    again = answer(request_body, service)
    assert first == built, name
    assert again == built, name
    if len(RECORD_CACHE):
        assert builds.count == 0, name  # the record came back whole: nothing was read


def test_the_examples_are_answered_from_remembered_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The test above compared something: the natalizumab calls were remembered and reused."""
    for name in example_names():
        example = load_example(name, NOW)
        answer(example.request, example.service)
    assert len(RECORD_CACHE) >= 3
    builds = BuildCounter(monkeypatch)
    for name in example_names():
        example = load_example(name, NOW)
        answer(example.request, example.service)
    assert builds.count == 0


def hook_data(request: dict[str, Any]) -> HookData:
    """The engine's input for ``request``, as the service hands it over in a call."""
    captured: list[HookData] = []

    def capture(data: HookData, now: datetime) -> Any:
        captured.append(data)
        return evaluate(data, now=now)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hook_call, "evaluate", capture)
        answer(request, "natalizumab-order-sign")
    return captured[0]


def key_of(data: HookData, now: datetime = NOW) -> bytes | None:
    return record_key(
        prefetch_digest=data.prefetch_digest,
        resources=data.resources,
        trigger_orders=data.trigger_orders,
        draft_orders=data.draft_orders,
        natalizumab_orders=data.natalizumab_orders,
        unavailable=data.unavailable,
        incomplete=data.incomplete,
        patient_id=data.patient_id,
        today=now.date(),
    )


def _bench_data() -> HookData:
    return hook_data(generate_request(60, seed=5, now=NOW))


def _changed_value(data: HookData) -> HookData:
    resources: list[Any] = copy.deepcopy(list(data.resources))
    observation = next(r for r in resources if r.get("resourceType") == "Observation")
    observation["status"] = "amended" if observation.get("status") != "amended" else "final"
    return replace(data, resources=resources)


def _pool_holds_a_copy_of_the_trigger(data: HookData) -> HookData:
    """Same JSON, but the pooled order is a copy, not the trigger's own object."""
    resources = [copy.deepcopy(r) if r in data.trigger_orders else r for r in data.resources]
    assert resources != list(data.resources) or any(
        r is t for r in data.resources for t in data.trigger_orders
    )
    return replace(data, resources=resources)


JUNK: Any = 7  # not a resource

VARIANTS: dict[str, Callable[[HookData], tuple[HookData, datetime]]] = {
    "another day": lambda d: (d, NOW + timedelta(days=1)),
    "another patient id": lambda d: (replace(d, patient_id="someone-else"), NOW),
    "a key unavailable": lambda d: (replace(d, unavailable=frozenset({"conditions"})), NOW),
    "a key incomplete": lambda d: (replace(d, incomplete={"observations": "timeout"}), NOW),
    "no trigger verdict": lambda d: (replace(d, natalizumab_orders=None), NOW),
    "one value changed": lambda d: (_changed_value(d), NOW),
    "resources reordered": lambda d: (replace(d, resources=list(d.resources)[::-1]), NOW),
    "a resource more": lambda d: (replace(d, resources=[*d.resources, rrms()]), NOW),
    "something not a resource": lambda d: (
        replace(d, resources=[*d.resources, JUNK]),
        NOW,
    ),
    "a draft more": lambda d: (replace(d, draft_orders=[*d.draft_orders, order()]), NOW),
    "a trigger more": lambda d: (replace(d, trigger_orders=[*d.trigger_orders, order()]), NOW),
    "the trigger's own object": lambda d: (_pool_holds_a_copy_of_the_trigger(d), NOW),
}


def test_the_same_data_gives_the_same_key() -> None:
    data = _bench_data()
    again = hook_data(generate_request(60, seed=5, now=NOW))
    assert key_of(data) is not None
    assert key_of(data) == key_of(again)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_what_the_builder_reads_is_in_the_key(variant: str) -> None:
    data = _bench_data()
    changed, now = VARIANTS[variant](data)
    assert key_of(changed, now) != key_of(data), variant


def test_the_trigger_s_own_object_decides_what_is_read() -> None:
    """Why the key holds which pooled objects are the trigger's: the builder skips those by
    identity, so the same JSON pooled as a copy is read as one more natalizumab order."""
    drug = concept("http://www.nlm.nih.gov/research/umls/rxnorm", "354770", "natalizumab")
    own = {**order(drug), "status": "active", "authoredOn": "2026-05-01"}
    copied = copy.deepcopy(own)
    base = [patient(), rrms()]
    kwargs: dict[str, Any] = {"trigger_orders": [own], "draft_orders": [], "patient_id": "p1"}
    RECORD_CACHE.configure(0)
    as_own = build.build_record(resources=[*base, own], now=NOW, **kwargs)
    as_copy = build.build_record(resources=[*base, copied], now=NOW, **kwargs)
    assert as_own.record != as_copy.record
    RECORD_CACHE.configure(RECORD_CACHE_ENTRIES)
    for _ in range(2):
        assert build.build_record(resources=[*base, own], now=NOW, **kwargs) == as_own
        assert build.build_record(resources=[*base, copied], now=NOW, **kwargs) == as_copy


def _remembered_after_a_call(data: HookData) -> tuple[bytes, RememberedRecord]:
    """Evaluate ``data`` once; its key and the record the cache then holds for it."""
    evaluate(data, NOW)
    key = key_of(data)
    assert key is not None
    remembered = RECORD_CACHE.get(key, knowledge())
    assert remembered is not None
    return key, remembered


def test_a_remembered_record_is_left_as_it_was() -> None:
    """Assessing and rendering only read the record, so calls can share it."""
    data = _bench_data()
    key, remembered = _remembered_after_a_call(data)
    before = copy.deepcopy(remembered.result)
    for _ in range(3):
        evaluate(data, NOW)
    assert RECORD_CACHE.get(key, knowledge()) is remembered
    assert remembered.result == before
    for item in fields(before.record):
        assert getattr(remembered.result.record, item.name) == getattr(before.record, item.name)


def test_a_remembered_record_holds_no_part_of_the_call_s_json() -> None:
    """Only facts are kept: the call's parsed body is freed when the call ends."""
    data = _bench_data()
    _, remembered = _remembered_after_a_call(data)
    body_containers: set[int] = set()
    pending: list[Any] = [list(data.resources), list(data.trigger_orders)]
    while pending:
        item = pending.pop()
        if isinstance(item, dict | list):
            body_containers.add(id(item))
            pending.extend(item.values() if isinstance(item, dict) else item)
    reached: set[int] = set()
    pending = [remembered]
    while pending:
        item = pending.pop()
        if id(item) in reached or isinstance(item, str | bytes | int | float | type):
            continue
        reached.add(id(item))
        pending.extend(gc.get_referents(item))
    assert not reached & body_containers


def _invalid_relevant_request() -> dict[str, Any]:
    request = generate_request(30, seed=2, now=NOW)
    bad = jcv("2026-05-01", valueQuantity={"value": "not a number"})
    request["prefetch"]["observations"]["entry"].append({"resource": bad})
    return request


def test_a_call_that_gets_a_record_back_logs_what_was_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    request = _invalid_relevant_request()
    logged = []
    for _ in range(3):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="cds_service.record.build"):
            result = asyncio.run(
                answer_hook_call(
                    SERVICES["natalizumab-order-sign"], copy.deepcopy(request), Settings(), None
                )
            )
        assert result.skipped_resources == 1
        logged.append(
            [
                (r.getMessage(), r.__dict__.get("resource_type"), r.__dict__.get("problem"))
                for r in caplog.records
            ]
        )
    assert len(RECORD_CACHE) == 1
    assert logged[0] and logged[0][0][:2] == ("skipped invalid resource", "Observation")
    assert logged[1] == logged[0] and logged[2] == logged[0]


def test_a_record_that_ran_out_of_text_budget_is_not_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(build, "MAX_TEXT_CHARS_PER_CALL", 0)
    shared = terminology()
    for matcher in [*shared._matchers.values(), *shared._unions.values()]:
        monkeypatch.setattr(matcher, "_text_cache", {})
    status, answered = answer(generate_request(200, seed=1, now=NOW), "natalizumab-order-sign")
    assert status == 200
    assert "free text in this record was not read" in str(answered)
    assert len(RECORD_CACHE) == 0


def test_data_that_cannot_be_serialised_exactly_is_built_every_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request = generate_request(30, seed=2, now=NOW)
    huge = {"resourceType": "Basic", "id": "huge", "extension": [{"valueInteger": 2**70}]}
    request["prefetch"]["observations"]["entry"].append({"resource": huge})
    assert key_of(hook_data(request)) is None
    builds = BuildCounter(monkeypatch)
    first = answer(request, "natalizumab-order-sign")
    assert answer(request, "natalizumab-order-sign") == first
    assert first[0] == 200 and builds.count == 2
    assert len(RECORD_CACHE) == 0


def test_other_knowledge_data_finds_nothing_and_the_bound_holds() -> None:
    cache = RecordCache(max_entries=2)
    result = build.BuildResult(record=PatientRecord(), orders=[])
    entry = RememberedRecord(result, ())
    owner, other = object(), object()
    for key in (b"a", b"b", b"c"):
        cache.put(key, entry, owner)
    assert len(cache) == 2
    assert cache.get(b"a", owner) is None and cache.get(b"c", owner) is entry
    assert cache.get(b"c", other) is None
    cache.put(b"d", entry, other)  # written under other data: the old entries are forgotten
    assert len(cache) == 1 and cache.get(b"c", owner) is None


def test_settings_bound_the_cache_and_zero_turns_it_off(tmp_path: Path) -> None:
    create_app(Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}", record_memo_entries=0))
    assert not RECORD_CACHE.enabled
    status, answered = answer(generate_request(30, seed=1, now=NOW), "natalizumab-order-sign")
    assert status == 200 and answered and len(RECORD_CACHE) == 0
    create_app(Settings(database_url=f"sqlite:///{tmp_path / 'b.db'}", record_memo_entries=10))
    assert RECORD_CACHE.enabled
    for seed in range(12):
        answer(generate_request(10, seed=seed, now=NOW), "natalizumab-order-sign")
    assert len(RECORD_CACHE) == 10
    create_app(Settings(database_url=f"sqlite:///{tmp_path / 'c.db'}"))
    assert FACTS_MEMO.enabled and RECORD_CACHE.enabled


def test_the_key_is_a_digest_not_the_data() -> None:
    """What is kept as a key is 32 bytes, whatever the size of the call."""
    data = _bench_data()
    key = key_of(data)
    assert key is not None and len(key) == 32
    assert key not in orjson.dumps(list(data.resources))


class CapturedData:
    """The HookData of every call the service evaluates."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[HookData] = []

        def capture(data: HookData, now: datetime) -> Any:
            self.calls.append(data)
            return evaluate(data, now=now)

        monkeypatch.setattr(hook_call, "evaluate", capture)


async def _post_each(settings: Settings, bodies: list[dict[str, Any]]) -> list[Any]:
    app = create_app(settings)
    answers = []
    async with app.router.lifespan_context(app):
        for body in bodies:
            status, raw = await send_raw(
                app, "/cds-services/natalizumab-order-sign", orjson.dumps(body)
            )
            assert status == 200, raw[:300]
            answers.append(without_uuids(orjson.loads(raw)["cards"]))
    return answers


def _sent_again(body: dict[str, Any]) -> dict[str, Any]:
    again = copy.deepcopy(body)
    again["hookInstance"] = str(uuid.uuid4())
    return again


def test_a_call_that_sent_all_its_data_is_named_by_its_prefetch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The web app names the call's resources by the digest of its prefetch (computed for the
    depth limit anyway), not by serialising them again: the second call is a hit."""
    body = generate_request(200, seed=4, now=datetime.now(UTC))
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}")
    RECORD_CACHE.configure(0)
    expected = asyncio.run(_post_each(settings, [body]))[0]
    captured = CapturedData(monkeypatch)
    builds = BuildCounter(monkeypatch)
    answers = asyncio.run(_post_each(settings, [body, _sent_again(body)]))
    assert answers == [expected, expected]
    assert builds.count == 1  # the second call got the record back
    digests = [data.prefetch_digest for data in captured.calls]
    split = split_at_prefetch(orjson.dumps(body))  # as _post_each sends it
    assert split is not None and digests[0] == split.digest
    assert digests == [digests[0], digests[0]]


def test_a_call_that_fetched_is_named_by_its_resources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the FHIR server answered is not in the request: such a call keys on its data."""
    stub = start_fhir_stub([builder_patient(), rrms_condition()])
    try:
        prefetch = full_prefetch()
        del prefetch["procedures"]
        body = hook_request("order-sign", prefetch=prefetch) | {"fhirServer": stub.base_url}
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'f.db'}", allowed_fhir_servers=[stub.base_url]
        )
        captured = CapturedData(monkeypatch)
        builds = BuildCounter(monkeypatch)
        first, again = asyncio.run(_post_each(settings, [body, _sent_again(body)]))
    finally:
        stub.stop()
    assert first == again
    assert [data.prefetch_digest for data in captured.calls] == [None, None]
    assert builds.count == 1  # still remembered, by the resources themselves


def test_the_two_namings_never_share_an_entry() -> None:
    data = _bench_data()
    digest = hashlib.sha256(b"a prefetch").digest()
    named = replace(data, prefetch_digest=digest)
    assert key_of(named) != key_of(data)
    # The digest stands for the resources (the caller's promise): their content is not read...
    resources = list(data.resources)
    index = next(i for i, r in enumerate(resources) if r.get("resourceType") == "Observation")
    resources[index] = {**resources[index], "status": "entered-in-error"}
    assert key_of(replace(named, resources=resources)) == key_of(named)
    # ... but another prefetch, or another count of resources, is another call.
    other = hashlib.sha256(b"another prefetch").digest()
    assert key_of(replace(named, prefetch_digest=other)) != key_of(named)
    assert key_of(replace(named, resources=list(data.resources)[1:])) != key_of(named)
