"""The depth limit over ``prefetch`` is held when the call reads prefetch, and only then.

Contract section 1: a call without a natalizumab order is answered ``{"cards": []}`` at once,
"whatever prefetch holds"; the service never reads that prefetch, so it no longer proves the
prefetch's depth for it (the costliest limit check, bench/README.md). Every call that does read
prefetch (a natalizumab order; an order naming a Medication that prefetch may hold) gets the
same 400 ``too_deep`` as before, and everything outside prefetch is held to the limit up front.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.protocol import raw_bounds
from tests.security.hook_data import SERVICE_ID, order_sign_request
from tests.security.test_limits import nested
from tests.support.asgi import InProcessClient

PATH = f"/cds-services/{SERVICE_ID}"
LISINOPRIL = {
    "coding": [
        {
            "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
            "code": "314076",
            "display": "lisinopril 10 MG Oral Tablet",
        }
    ]
}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[InProcessClient]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}", max_json_depth=64)
    in_process = InProcessClient(create_app(settings))
    yield in_process
    in_process.close()


def answer(client: InProcessClient, body: dict[str, Any]) -> tuple[int, Any]:
    response = client.post(
        PATH, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    return response.status_code, response.json()


def _order(body: dict[str, Any]) -> dict[str, Any]:
    order: dict[str, Any] = body["context"]["draftOrders"]["entry"][0]["resource"]
    return order


def other_drug(body: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    _order(body)["medicationCodeableConcept"] = LISINOPRIL
    return body


def deep_prefetch(body: dict[str, Any], depth: int = 80) -> dict[str, Any]:
    body = copy.deepcopy(body)
    body["prefetch"]["deep"] = {"resourceType": "Basic", "id": "deep", "extension": nested(depth)}
    return body


Client = InProcessClient


def test_everyday_call_is_not_refused_for_a_prefetch_it_never_reads(client: Client) -> None:
    assert answer(client, deep_prefetch(other_drug(order_sign_request()))) == (
        200,
        {"cards": []},
    )


def test_natalizumab_call_with_a_deep_prefetch_is_refused(client: Client) -> None:
    status, body = answer(client, deep_prefetch(order_sign_request()))
    assert (status, body["error"]) == (400, "too_deep")


def test_shallower_than_the_limit_still_answers(client: Client) -> None:
    # nested(55) inside Basic.extension inside prefetch inside the body: 59 levels in all.
    status, body = answer(client, deep_prefetch(order_sign_request(), depth=55))
    assert status == 200
    assert body["cards"]


def test_an_order_naming_a_medication_reads_prefetch_so_the_limit_holds(client: Client) -> None:
    """The trigger looks for the referenced Medication in prefetch: it reads it, so 400."""
    body = other_drug(order_sign_request())
    order = _order(body)
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "Medication/med-unknown"}
    status, error = answer(client, deep_prefetch(body))
    assert (status, error["error"]) == (400, "too_deep")


@pytest.mark.parametrize("natalizumab", [True, False])
def test_depth_outside_prefetch_is_held_up_front(client: Client, natalizumab: bool) -> None:
    body = order_sign_request() if natalizumab else other_drug(order_sign_request())
    in_context = copy.deepcopy(body)
    _order(in_context)["extension"] = nested(80)
    at_top = copy.deepcopy(body)
    at_top["extension"] = nested(80)
    for hostile in (in_context, at_top):
        status, error = answer(client, hostile)
        assert (status, error["error"]) == (400, "too_deep")


def test_a_prefetch_that_is_not_an_object_is_checked_whole(client: Client) -> None:
    body = other_drug(order_sign_request())
    body["prefetch"] = [nested(80)]
    status, error = answer(client, body)
    assert (status, error["error"]) == (400, "too_deep")


def test_each_bound_is_proven_once_per_call(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Holding prefetch's depth later proves the depth only: the counts over the whole body
    (resources, commas, strings) were proven when it was parsed, and each is a pass over
    bytes that costs as much as the depth proof's (bench/README.md, N = 5,000)."""
    proofs: Counter[str] = Counter()
    for name in ("resources_at_most", "arrays_at_most", "strings_at_most", "depth_at_most"):
        proof = getattr(raw_bounds, name)

        def counted(*args: Any, _name: str = name, _proof: Any = proof) -> bool:
            proofs[_name] += 1
            return bool(_proof(*args))

        monkeypatch.setattr(raw_bounds, name, counted)
    status, answered = answer(client, order_sign_request())
    assert status == 200 and answered["cards"]
    assert proofs == Counter(
        resources_at_most=1, arrays_at_most=1, strings_at_most=1, depth_at_most=1
    )


class DepthProofs:
    """Counts the depth proofs over bytes (the costly pass this file is about)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        proof = raw_bounds.depth_at_most

        def counted(*args: Any) -> bool:
            self.count += 1
            return bool(proof(*args))

        monkeypatch.setattr(raw_bounds, "depth_at_most", counted)


def _again(body: dict[str, Any]) -> dict[str, Any]:
    """The same call sent again: another hookInstance, the same prefetch."""
    body = copy.deepcopy(body)
    body["hookInstance"] = f"{body['hookInstance']}-again"
    return body


@pytest.mark.parametrize("prefetch_first", [False, True])
def test_a_prefetch_held_once_is_not_proven_again(
    client: Client, monkeypatch: pytest.MonkeyPatch, prefetch_first: bool
) -> None:
    """order-select, then order-sign: the same prefetch nests the same, so its depth is proven
    once; another prefetch is proven again. Last in the body (as EHRs write it) the prefetch is
    named by its bytes (``protocol/prefetch_split``), first by what orjson writes back."""
    proofs = DepthProofs(monkeypatch)
    first = order_sign_request()
    if prefetch_first:
        first = {"prefetch": first.pop("prefetch"), **first}
    assert answer(client, first)[0] == 200
    assert answer(client, _again(first))[0] == 200
    assert proofs.count == 1
    changed = copy.deepcopy(first)
    changed["prefetch"]["extra"] = {"resourceType": "Basic", "id": "x"}
    assert answer(client, changed)[0] == 200
    assert proofs.count == 2


def test_a_deep_prefetch_is_refused_every_time(client: Client) -> None:
    hostile = deep_prefetch(order_sign_request())
    for body in (hostile, _again(hostile)):
        status, error = answer(client, body)
        assert (status, error["error"]) == (400, "too_deep")


def test_depth_outside_a_known_prefetch_is_still_held(client: Client) -> None:
    body = order_sign_request()
    assert answer(client, body)[0] == 200
    hostile = _again(body)
    _order(hostile)["extension"] = nested(80)
    status, error = answer(client, hostile)
    assert (status, error["error"]) == (400, "too_deep")


def test_a_prefetch_held_to_one_limit_is_held_again_to_a_lower_one(tmp_path: Path) -> None:
    body = deep_prefetch(order_sign_request(), depth=55)  # 58 levels of containers in all
    for limit, expected in ((64, 200), (57, 400), (58, 200)):
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / f'{limit}.db'}", max_json_depth=limit
        )
        in_process = InProcessClient(create_app(settings))
        try:
            status, answered = answer(in_process, _again(body))
        finally:
            in_process.close()
        assert status == expected, limit
        if expected == 400:
            assert answered["error"] == "too_deep"


def test_with_the_record_caches_off_every_call_proves_its_prefetch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}", record_memo_entries=0)
    in_process = InProcessClient(create_app(settings))
    proofs = DepthProofs(monkeypatch)
    try:
        body = order_sign_request()
        assert answer(in_process, body)[0] == 200
        assert answer(in_process, _again(body))[0] == 200
    finally:
        in_process.close()
    assert proofs.count == 2
