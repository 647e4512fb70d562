"""Remembered facts give exactly the cards that reading the resources again gives.

The record builder remembers what reading a relevant resource added to the record
(:mod:`cds_service.record.memo`) and replays it when a later call sends the same resource. The
replay must be indistinguishable from reading: on every example, on the bench's long records,
and where reading depends on the call (draft orders, drugs named by reference, the text
budget), which must not be remembered or must be told apart.
"""

from __future__ import annotations

import asyncio
import copy
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.generate import generate_request
from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.examples import example_names, load_example
from cds_service.hook_call import answer_hook_call
from cds_service.protocol.services import SERVICES
from cds_service.record import build
from cds_service.record.memo import DEFAULT_ENTRIES, FACTS_MEMO, Facts, FactsMemo
from cds_service.record.record_cache import RECORD_CACHE, RECORD_CACHE_ENTRIES
from cds_service.record.terminology import terminology
from cds_service.record.validate import ELEMENT_CACHE, ELEMENT_CACHE_ENTRIES
from tests.support.cards import without_uuids

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@pytest.fixture(autouse=True)
def fresh_memo() -> Iterator[None]:
    """A fresh facts memo, and no whole-record cache: it would answer a repeated call before
    the facts memo is asked (``test_record_cache`` covers it)."""
    FACTS_MEMO.configure(DEFAULT_ENTRIES)
    RECORD_CACHE.configure(0)
    yield
    FACTS_MEMO.configure(DEFAULT_ENTRIES)
    RECORD_CACHE.configure(RECORD_CACHE_ENTRIES)


def cards(request: dict[str, Any], service: str = "natalizumab-order-sign") -> Any:
    result = asyncio.run(
        answer_hook_call(SERVICES[service], copy.deepcopy(request), Settings(), None, now=NOW)
    )
    return without_uuids(result.body["cards"])


class ReadCounter:
    """Counts resources validated to be read (a remembered resource is not; a Patient is
    never remembered: it is kept whole for the end of the build)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        accept = build._Builder.accept

        def counting(builder: build._Builder, resource: Any, digest: bytes) -> bool:
            if resource.get("resourceType") != "Patient":
                self.count += 1
            return accept(builder, resource, digest)

        monkeypatch.setattr(build._Builder, "accept", counting)


def requests() -> list[tuple[str, dict[str, Any], str]]:
    found = []
    for name in example_names():
        example = load_example(name, NOW)
        found.append((name, example.request, example.service))
    for seed in (1, 2, 3, 4):
        found.append((f"bench-200-{seed}", generate_request(200, seed=seed, now=NOW), ""))
    return found


@pytest.mark.parametrize(("name", "request_body", "service"), requests())
def test_replayed_facts_give_the_cards_reading_gives(
    name: str, request_body: dict[str, Any], service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = service or "natalizumab-order-sign"
    FACTS_MEMO.configure(0)
    read = cards(request_body, service)
    FACTS_MEMO.configure(DEFAULT_ENTRIES)
    first_reads = ReadCounter(monkeypatch)
    first = cards(request_body, service)
    remembered = len(FACTS_MEMO)
    replay_reads = ReadCounter(monkeypatch)
    replayed = cards(request_body, service)
    assert first == read
    assert replayed == read
    # Every resource remembered by the first call was replayed, not read again.
    assert replay_reads.count == first_reads.count - remembered, name


def test_the_bench_record_is_replayed_without_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    request = generate_request(200, seed=1, now=NOW)
    cards(request)
    assert len(FACTS_MEMO) > 20
    counter = ReadCounter(monkeypatch)
    cards(request)
    assert counter.count == 0


NATALIZUMAB = {"system": RXNORM, "code": "354770", "display": "natalizumab"}
METHOTREXATE = {"system": RXNORM, "code": "6851", "display": "methotrexate"}


def _order(coding: dict[str, str], status: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "mr-1",
        "status": status,
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2026-01-05",
        "medicationCodeableConcept": {"coding": [coding]},
    }


def _with_history(request: dict[str, Any], *resources: dict[str, Any]) -> dict[str, Any]:
    request = copy.deepcopy(request)
    request["prefetch"]["medicationRequests"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": copy.deepcopy(r)} for r in resources],
    }
    return request


def test_a_draft_and_a_history_order_with_the_same_content_are_told_apart() -> None:
    """A completed methotrexate order in history is prior use; the same order as a draft is
    concomitant immunotherapy: what reading it gives depends on the call, so it is keyed so."""
    order = _order(METHOTREXATE, "completed")
    as_history = _with_history(generate_request(30, seed=1, now=NOW), order)
    as_draft = copy.deepcopy(as_history)
    as_draft["context"]["draftOrders"]["entry"].append({"resource": copy.deepcopy(order)})
    FACTS_MEMO.configure(0)
    expected_history, expected_draft = cards(as_history), cards(as_draft)
    assert expected_history != expected_draft
    FACTS_MEMO.configure(DEFAULT_ENTRIES)
    for _ in range(2):
        assert cards(as_history) == expected_history
        assert cards(as_draft) == expected_draft


def test_a_drug_named_by_reference_is_read_every_time() -> None:
    """The Medication may differ from call to call: what the order means is never remembered."""
    order = _order(NATALIZUMAB, "active")
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "Medication/med-1"}
    base = generate_request(30, seed=1, now=NOW)
    requests = [
        _with_history(
            base, order, {"resourceType": "Medication", "id": "med-1", "code": {"coding": [drug]}}
        )
        for drug in (METHOTREXATE, NATALIZUMAB)
    ]
    FACTS_MEMO.configure(0)
    expected = [cards(r) for r in requests]
    assert expected[0] != expected[1]  # the referenced drug decides what the order is
    FACTS_MEMO.configure(DEFAULT_ENTRIES)
    assert [cards(r) for r in requests] == expected
    assert [cards(r) for r in reversed(requests)] == expected[::-1]


def test_a_read_that_ran_out_of_text_budget_is_not_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without budget a text not matched before reads as "no match": that is not remembered."""
    monkeypatch.setattr(build, "MAX_TEXT_CHARS_PER_CALL", 0)
    shared = terminology()
    for matcher in [*shared._matchers.values(), *shared._unions.values()]:
        monkeypatch.setattr(matcher, "_text_cache", {})
    request = generate_request(200, seed=1, now=NOW)
    answered = cards(request)
    assert "free text in this record was not read" in str(answered)  # the cards say so
    assert len(FACTS_MEMO) == 0


def test_the_memo_is_bounded_and_forgets_the_oldest_first() -> None:
    memo = FactsMemo(max_entries=2)
    owner = object()
    for key in (b"a", b"b", b"c"):
        memo.put(key, Facts(()), owner)
    assert len(memo) == 2
    assert memo.get(b"a", owner) is None
    assert memo.get(b"c", owner) is not None


def test_other_knowledge_data_forgets_what_was_read_under_the_old() -> None:
    memo = FactsMemo()
    old, new = object(), object()
    memo.put(b"a", Facts(()), old)
    assert memo.get(b"a", new) is None
    memo.put(b"b", Facts(()), new)
    assert memo.get(b"a", new) is None
    assert len(memo) == 1


def test_zero_entries_turns_the_memo_off_through_the_setting() -> None:
    request = generate_request(30, seed=1, now=NOW)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'f.db'}", record_memo_entries=0)
        app = create_app(settings)

        async def post() -> int:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://cds.test") as c:
                response = await c.post("/cds-services/natalizumab-order-sign", json=request)
                return response.status_code

        assert asyncio.run(post()) == 200
    assert not FACTS_MEMO.enabled
    assert len(FACTS_MEMO) == 0
    assert len(ELEMENT_CACHE) == 0  # no patient data held between calls: elements neither
    ELEMENT_CACHE.configure(ELEMENT_CACHE_ENTRIES)
