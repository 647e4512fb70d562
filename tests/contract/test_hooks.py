"""Natalizumab orders on each hook give cards; other orders give none (contract 1-3)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.contract.builders import (
    SERVICE_BY_HOOK,
    assert_card_structure,
    card_topics,
    full_prefetch,
    hook_request,
    natalizumab_order,
    other_order,
)
from tests.support.server import LiveServer

INDICATOR_RANK = {"critical": 0, "warning": 1, "info": 2}


def call(server: LiveServer, body: dict[str, Any]) -> httpx.Response:
    service = SERVICE_BY_HOOK[body["hook"]]
    return httpx.post(f"{server.url}/cds-services/{service}", json=body, timeout=30)


@pytest.mark.parametrize("hook", sorted(SERVICE_BY_HOOK))
def test_natalizumab_order_gets_cards_on_every_hook(live_server: LiveServer, hook: str) -> None:
    response = call(live_server, hook_request(hook))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"cards"}  # systemActions only when non-empty
    assert body["cards"], "a natalizumab order always gets at least the indication card"
    for card in body["cards"]:
        assert_card_structure(card)
    topics = card_topics(body)
    assert "natalizumab-indicated" in topics
    assert len(topics) == len(set(topics)), "no topic repeats within one response"
    ranks = [INDICATOR_RANK[card["indicator"]] for card in body["cards"]]
    assert ranks == sorted(ranks), "cards are ordered critical, warning, info"


@pytest.mark.parametrize("hook", sorted(SERVICE_BY_HOOK))
def test_other_orders_get_no_cards(live_server: LiveServer, hook: str) -> None:
    response = call(live_server, hook_request(hook, [other_order()]))
    assert response.status_code == 200
    assert response.json() == {"cards": []}


def test_order_select_acts_on_selected_orders_only(live_server: LiveServer) -> None:
    orders = [natalizumab_order(), other_order()]
    unselected = hook_request("order-select", orders, selections=["MedicationRequest/amox-1"])
    response = call(live_server, unselected)
    assert response.status_code == 200
    assert response.json() == {"cards": []}

    selected = hook_request("order-select", orders, selections=["MedicationRequest/nat-1"])
    assert "natalizumab-indicated" in card_topics(call(live_server, selected).json())


def test_two_natalizumab_orders_do_not_repeat_topics(live_server: LiveServer) -> None:
    orders = [natalizumab_order("nat-1"), natalizumab_order("nat-2")]
    topics = card_topics(call(live_server, hook_request("order-sign", orders)).json())
    assert "natalizumab-indicated" in topics
    assert len(topics) == len(set(topics))


def test_medication_prescribe_legacy_variants(live_server: LiveServer) -> None:
    body = hook_request("medication-prescribe")
    context = body["context"]
    context["user"] = context.pop("userId")
    context["encounterId"] = None
    context["medications"] = [natalizumab_order()]
    response = call(live_server, body)
    assert response.status_code == 200, response.text
    assert "natalizumab-indicated" in card_topics(response.json())


def test_one_invalid_resource_is_skipped(live_server: LiveServer) -> None:
    prefetch = full_prefetch()
    prefetch["observations"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": "broken",
                    "status": {"not": "a code"},
                    "code": "should be a CodeableConcept",
                }
            }
        ],
    }
    response = call(live_server, hook_request("order-sign", prefetch=prefetch))
    assert response.status_code == 200, response.text
    assert "natalizumab-indicated" in card_topics(response.json())


def test_same_answer_shape_for_the_same_request(live_server: LiveServer) -> None:
    body = hook_request("order-sign")
    first = call(live_server, body).json()
    second = call(live_server, body).json()
    assert card_topics(first) == card_topics(second)
    assert [c["indicator"] for c in first["cards"]] == [c["indicator"] for c in second["cards"]]
