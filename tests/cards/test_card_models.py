"""Typed cards at the edge: what the card model refuses, and what happens at run time when a
card this service built is refused (the topic's fallback card, logged and counted; never a
dropped card, never a 500)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from cds_service.cards import registry as text_registry
from cds_service.cards.models import SUMMARY_MAX, Card
from cds_service.cards.registry import CardText, RegisteredText, TextContext
from cds_service.cards.render import render_cards
from cds_service.clinical.findings import Finding, Indicator, NoValues, TopicValues
from cds_service.config import Settings
from cds_service.record.model import Phenotype
from tests.clinical.fhir import jcv, rrms, run, topics
from tests.clinical.records import ORDER, evidence, phenotype, record
from tests.contract.builders import hook_request
from tests.support.server import LiveServer, start_live_server

TOPIC = {
    "system": "https://natalizumab-cds.example/fhir/CodeSystem/card-topic",
    "code": "mri-due",
    "display": "Brain MRI due",
}
REASON = {"system": "https://example.org/override", "code": "x", "display": "X"}


def card(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": "Brain MRI due",
        "indicator": "warning",
        "detail": "Detail",
        "source": {"label": "Natalizumab CDS", "topic": TOPIC},
        "overrideReasons": [REASON],
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def suggestion(**action: Any) -> dict[str, Any]:
    return {"uuid": str(uuid.uuid4()), "label": "Order it", "actions": [action]}


CREATE = {"type": "create", "description": "Create", "resource": {"resourceType": "ServiceRequest"}}


def test_a_well_formed_card_passes_and_keeps_its_wire_shape() -> None:
    wire = Card.model_validate(
        card(suggestions=[suggestion(**CREATE)], selectionBehavior="at-most-one")
    ).wire()
    assert list(wire) == [
        "uuid",
        "summary",
        "indicator",
        "detail",
        "source",
        "suggestions",
        "selectionBehavior",
        "overrideReasons",
    ]


@pytest.mark.parametrize(
    "changes",
    [
        {"summary": "x" * (SUMMARY_MAX + 1)},
        {"summary": "**Bold** summary"},
        {"summary": "A <b>tag</b>"},
        {"summary": "A [link](https://example.org)"},
        {"summary": "two\nlines"},
        {"summary": "  "},
        {"indicator": "urgent"},
        {"uuid": "not-a-uuid"},
        {"overrideReasons": None},  # a warning without override reasons
        {"suggestions": [suggestion(**CREATE)]},  # suggestions without selectionBehavior
        {"suggestions": [], "selectionBehavior": "any"},
        {
            "suggestions": [suggestion(type="create", description="x")],  # no resource
            "selectionBehavior": "any",
        },
        {
            "suggestions": [suggestion(type="delete", description="x")],  # no resourceId
            "selectionBehavior": "any",
        },
        {"suggestions": [suggestion(**{**CREATE, "type": "replace"})], "selectionBehavior": "any"},
        {"selectionBehavior": "all"},
        {"links": [{"label": "x", "url": "https://example.org", "type": "relative"}]},
        {"links": [{"label": "x", "url": "/relative/path", "type": "absolute"}]},
        {"links": [{"label": "x", "url": "https://e.org", "type": "absolute", "appContext": "a"}]},
        {"source": {"label": "x", "topic": {"system": "s", "code": "c"}}},  # Coding w/o display
        {"unknownField": 1},
    ],
)
def test_the_card_model_refuses(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Card.model_validate(card(**changes))


def test_an_info_card_needs_no_override_reasons() -> None:
    Card.model_validate(card(indicator="info", overrideReasons=None))


@pytest.fixture
def broken_text(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the mri-due text with one that fails in the given way (set per test)."""
    failures: list[str] = []

    def failing(finding: Finding[Any], context: TextContext) -> CardText:
        mode = failures[0] if failures else "raise"
        if mode == "markdown":
            return CardText("**Brain MRI** due", "detail")
        raise RuntimeError("text defect")

    values = text_registry.registered_texts()["mri-due"].values
    monkeypatch.setitem(text_registry._TEXTS, "mri-due", RegisteredText("mri-due", values, failing))
    return failures


@pytest.mark.parametrize("mode", ["raise", "markdown"])
def test_a_card_that_cannot_be_built_is_replaced_by_its_fallback(
    broken_text: list[str], mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    broken_text.append(mode)
    with caplog.at_level(logging.ERROR, logger="cds_service.cards"):
        evaluation = run([rrms(), jcv("2026-06-01", 0.1)])
    found = topics(evaluation)
    assert found["mri-due"] == "warning"  # kept, at its own indicator
    assert evaluation.card_fallbacks == ["mri-due"]
    fallback = next(c for c in evaluation.cards if c["source"]["topic"]["code"] == "mri-due")
    Card.model_validate(fallback)
    assert "full card unavailable" in fallback["summary"]
    assert fallback["overrideReasons"]
    assert "natalizumab-indicated" in found and "pml-risk" in found  # the others are intact
    records = [r for r in caplog.records if r.getMessage() == "card replaced by its fallback"]
    assert records and getattr(records[0], "topic", None) == "mri-due"
    assert "text defect" not in caplog.text  # the exception message is not logged


def test_an_indicator_the_topic_does_not_allow_falls_back_to_its_most_severe() -> None:
    patient = record(phenotypes=(phenotype(Phenotype.RRMS),))
    wrong: Finding[TopicValues] = Finding(
        "natalizumab-hypersensitivity",
        Indicator.WARNING,  # the CodeSystem allows critical only
        (evidence("AllergyIntolerance", 10, "natalizumab allergy"),),
        ("tysabri-uspi-4",),
        NoValues(),
    )
    rendered = render_cards([wrong], patient, [ORDER])
    assert rendered.fallbacks == ["natalizumab-hypersensitivity"]
    assert rendered.cards[0]["indicator"] == "critical"


def test_values_of_the_wrong_type_fall_back() -> None:
    patient = record(phenotypes=(phenotype(Phenotype.RRMS),), jcv_results=[])
    wrong: Finding[TopicValues] = Finding("pml-risk", Indicator.INFO, (), ("x",), NoValues())
    rendered = render_cards([wrong], patient, [ORDER])
    assert rendered.fallbacks == ["pml-risk"]
    assert rendered.cards[0]["indicator"] == "info"
    assert "overrideReasons" not in rendered.cards[0]


@pytest.fixture
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    db = tmp_path_factory.mktemp("fallback") / "feedback.db"
    server = start_live_server(Settings(database_url=f"sqlite:///{db}"))
    yield server
    server.stop()


def test_over_http_a_fallback_is_a_200_and_is_counted(
    broken_text: list[str], live: LiveServer
) -> None:
    body = hook_request("order-sign")
    with httpx.Client(base_url=live.url, timeout=30) as client:
        response = client.post("/cds-services/natalizumab-order-sign", json=body)
        assert response.status_code == 200, response.text
        codes = [c["source"]["topic"]["code"] for c in response.json()["cards"]]
        metrics = client.get("/metrics").text
    assert "mri-due" in codes, codes
    assert 'cds_card_fallbacks_total{topic="mri-due"} 1.0' in metrics
