"""Every example in ``fhir_examples/`` through the real service over HTTP, compared with its
``expected.json``: the exact set of (topic, indicator) pairs, plus the contract's card invariants.

One uvicorn server for the whole module (started once; each example is one POST), so the
whole set runs in a few seconds. Examples are rendered with the real current time, so the
relative dates in the templates mean the same thing on every run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class

from cds_service.config import Settings
from fhir_examples.render import Example, example_names, load_example
from tests.examples.topics import SERVICE_HOOKS, TOPIC_INDICATORS, TOPIC_SYSTEM
from tests.support.server import LiveServer, start_live_server

INDICATOR_RANK = {"critical": 0, "warning": 1, "info": 2}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server for all examples, with its own throw-away SQLite feedback store."""
    db = tmp_path_factory.mktemp("examples") / "feedback.db"
    live = start_live_server(Settings(database_url=f"sqlite:///{db}"))
    yield live
    live.stop()


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def _post(client: httpx.Client, example: Example) -> list[dict[str, Any]]:
    response = client.post(f"/cds-services/{example.service}", json=example.request)
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, dict)
    assert isinstance(body.get("cards"), list), body
    assert set(body) <= {"cards", "systemActions"}
    if "systemActions" in body:
        assert body["systemActions"], "systemActions present but empty"
    cards: list[dict[str, Any]] = body["cards"]
    return cards


def _topic(card: dict[str, Any]) -> str:
    code: str = card["source"]["topic"]["code"]
    return code


def _check_card(card: dict[str, Any]) -> None:
    """The per-card rules of contract section 3 and CDS Hooks 2.0."""
    uuid.UUID(card["uuid"])
    summary = card["summary"]
    assert isinstance(summary, str)
    assert summary.strip()
    assert len(summary) < 140, summary
    assert card["indicator"] in INDICATOR_RANK
    source = card["source"]
    assert isinstance(source["label"], str)
    assert source["label"].strip()
    topic = source["topic"]
    assert topic["system"] == TOPIC_SYSTEM
    assert topic["code"] in TOPIC_INDICATORS, topic
    assert isinstance(topic.get("display"), str)
    assert topic["display"].strip()
    assert card["indicator"] in TOPIC_INDICATORS[topic["code"]], (topic["code"], card["indicator"])
    assert isinstance(card["detail"], str)
    assert card["detail"].strip()
    if card["indicator"] in {"warning", "critical"}:
        reasons = card.get("overrideReasons")
        assert isinstance(reasons, list)
        assert reasons, f"{topic['code']}: no overrideReasons"
        for reason in reasons:
            assert reason.get("code"), reason
            assert reason.get("system"), reason
            assert reason.get("display"), reason
    suggestions = card.get("suggestions") or []
    for suggestion in suggestions:
        uuid.UUID(suggestion["uuid"])
        assert isinstance(suggestion["label"], str)
        assert suggestion["label"].strip()
        assert suggestion["actions"], suggestion
        for action in suggestion["actions"]:
            assert action["type"] in {"create", "update", "delete"}
            assert isinstance(action["description"], str)
            assert action["description"].strip()
            if action["type"] in {"create", "update"}:
                resource = action["resource"]
                get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    if suggestions:
        assert card.get("selectionBehavior") in {"at-most-one", "any"}, card.get(
            "selectionBehavior"
        )


def _service_requests(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        action["resource"]
        for suggestion in card.get("suggestions") or []
        for action in suggestion["actions"]
        if action["type"] == "create" and action["resource"]["resourceType"] == "ServiceRequest"
    ]


@pytest.mark.parametrize("name", example_names())
def test_example_answers_exactly_the_expected_cards(client: httpx.Client, name: str) -> None:
    example = load_example(name, datetime.now(UTC))
    assert example.request["hook"] == SERVICE_HOOKS[example.service]
    cards = _post(client, example)

    got = [(_topic(card), card["indicator"]) for card in cards]
    summary = "\n".join(
        f"  {topic} {indicator}: {c['summary']}"
        for (topic, indicator), c in zip(got, cards, strict=True)
    )
    assert set(got) == example.expected_cards, (
        f"{name}: {example.expected['description']}\n"
        f"missing: {sorted(example.expected_cards - set(got))}\n"
        f"unexpected: {sorted(set(got) - example.expected_cards)}\nanswer:\n{summary}"
    )
    topics = [topic for topic, _ in got]
    assert len(topics) == len(set(topics)), f"duplicate topics: {topics}"

    for card in cards:
        _check_card(card)
    ranks = [INDICATOR_RANK[card["indicator"]] for card in cards]
    assert ranks == sorted(ranks), f"cards not ordered critical, warning, info: {got}"

    by_topic = {_topic(card): card for card in cards}
    for wanted in example.expected["cards"]:
        detail = by_topic[wanted["topic"]]["detail"].lower()
        for word in wanted.get("detailMentions", []):
            assert word.lower() in detail, f"{wanted['topic']} detail does not mention {word!r}"

    patient_ref = f"Patient/{example.request['context']['patientId']}"
    if "jcv-test-due" in by_topic:
        requests = _service_requests(by_topic["jcv-test-due"])
        assert requests, "jcv-test-due suggests no ServiceRequest"
        assert any(
            r.get("status") == "draft"
            and r.get("intent") == "proposal"
            and r.get("subject", {}).get("reference") == patient_ref
            for r in requests
        ), requests
    if "mri-due" in by_topic:
        assert _service_requests(by_topic["mri-due"]), "mri-due suggests no ServiceRequest"
