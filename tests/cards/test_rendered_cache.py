"""Remembered cards are the cards rendering gives, with uuids of their own.

:mod:`cds_service.cards.remembered` hands back the cards of an earlier rendering when every
input of the rendering is the same. These tests hold that the cards are then exactly what
rendering again would give (uuids apart), that each input is in the key with its type, that a
call cannot change what a later call gets, and that defect paths are never remembered.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench.generate import generate_request
from cds_service.app import create_app
from cds_service.cards import registry as text_registry
from cds_service.cards import render
from cds_service.cards.registry import CardText, RegisteredText, TextContext
from cds_service.cards.remembered import (
    RENDERED_CACHE,
    RENDERED_CACHE_ENTRIES,
    rendering_key,
)
from cds_service.cards.render import render_cards
from cds_service.clinical.engine import assess
from cds_service.clinical.findings import Finding, TopicValues
from cds_service.config import Settings
from cds_service.examples import example_names, load_example
from cds_service.hook_call import answer_hook_call
from cds_service.protocol.services import SERVICES
from cds_service.record.model import (
    Evidence,
    NatalizumabOrder,
    Phenotype,
    Product,
    SkippedResources,
)
from cds_service.record.record_cache import RECORD_CACHE, RECORD_CACHE_ENTRIES
from tests.clinical.fhir import jcv, rrms, run
from tests.clinical.records import ORDER, phenotype, record
from tests.support.cards import without_uuids

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    RENDERED_CACHE.configure(RENDERED_CACHE_ENTRIES)
    yield
    RENDERED_CACHE.configure(RENDERED_CACHE_ENTRIES)
    RECORD_CACHE.configure(RECORD_CACHE_ENTRIES)


class RenderCounter:
    """Counts renderings done (remembered cards are not rendered)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = render._render_cards

        def counting(*args: Any) -> render.Rendered:
            self.count += 1
            return original(*args)

        monkeypatch.setattr(render, "_render_cards", counting)


def cards(request: dict[str, Any], service: str) -> list[dict[str, Any]]:
    result = asyncio.run(
        answer_hook_call(SERVICES[service], copy.deepcopy(request), Settings(), None, now=NOW)
    )
    found: list[dict[str, Any]] = result.body["cards"]
    return found


def _uuids(answer: list[dict[str, Any]]) -> list[str]:
    found = []
    for card in answer:
        found.append(card["uuid"])
        found += [s["uuid"] for s in card.get("suggestions", ())]
    return found


def requests() -> list[tuple[str, dict[str, Any], str]]:
    found = []
    for name in example_names():
        example = load_example(name, NOW)
        found.append((name, example.request, example.service))
    for seed in (1, 2, 3):
        found.append((f"bench-200-{seed}", generate_request(200, seed=seed, now=NOW), ""))
    return found


@pytest.mark.parametrize(("name", "request_body", "service"), requests())
def test_remembered_cards_are_the_cards_rendering_gives(
    name: str, request_body: dict[str, Any], service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = service or "natalizumab-order-sign"
    RECORD_CACHE.configure(0)  # every call builds its record: only the cards are remembered
    RENDERED_CACHE.configure(0)
    rendered = cards(request_body, service)
    RENDERED_CACHE.configure(RENDERED_CACHE_ENTRIES)
    first = cards(request_body, service)
    renders = RenderCounter(monkeypatch)
    again = cards(request_body, service)
    assert renders.count == 0, name  # the cards came back (or there were none to render)
    assert without_uuids(first) == without_uuids(rendered), name
    assert without_uuids(again) == without_uuids(rendered), name
    every = [*_uuids(rendered), *_uuids(first), *_uuids(again)]
    assert len(set(every)) == len(every), name  # every card and suggestion has its own
    assert bool(every) == bool(rendered), name


def _findings() -> tuple[list[Finding[TopicValues]], Any]:
    patient = record(phenotypes=(phenotype(Phenotype.RRMS),))
    return assess(patient, [ORDER], NOW), patient


def test_a_call_that_changes_its_cards_does_not_change_the_next_call_s() -> None:
    findings, patient = _findings()
    first = render_cards(findings, patient, [ORDER]).cards
    expected = copy.deepcopy(first)
    second = render_cards(findings, patient, [ORDER]).cards
    second[0]["summary"] = "changed by a caller"
    second[0].setdefault("suggestions", []).append({"label": "added"})
    third = render_cards(findings, patient, [ORDER]).cards
    assert without_uuids(third) == without_uuids(expected)


def test_each_input_of_the_rendering_is_in_the_key() -> None:
    findings, patient = _findings()
    base = rendering_key(findings, patient, [ORDER], [])
    assert rendering_key(list(findings), patient, [ORDER], []) == base
    variants = {
        "one finding fewer": rendering_key(findings[1:], patient, [ORDER], []),
        "another order": rendering_key(
            findings, patient, [NatalizumabOrder("MedicationRequest/2", Product.TYRUKO)], []
        ),
        "a data note": rendering_key(findings, patient, [ORDER], [SkippedResources("Basic", 1)]),
        "another patient": rendering_key(
            findings, replace(patient, patient_reference="Patient/other"), [ORDER], []
        ),
        "a key unavailable": rendering_key(
            findings, replace(patient, unavailable=frozenset({"conditions"})), [ORDER], []
        ),
        "a key incomplete": rendering_key(
            findings, replace(patient, incomplete={"conditions": "timeout"}), [ORDER], []
        ),
    }
    for name, key in variants.items():
        assert key != base, name


def test_values_equal_in_python_but_written_differently_are_told_apart() -> None:
    """``1 == 1.0`` and their hashes agree, but a card may write them differently."""
    whole = Evidence("Observation/1", NOW.date(), "index", value=1)
    decimal = Evidence("Observation/1", NOW.date(), "index", value=1.0)
    assert whole == decimal and hash(whole) == hash(decimal)
    findings, patient = _findings()
    as_whole = [replace(findings[0], evidence=(whole,)), *findings[1:]]
    as_decimal = [replace(findings[0], evidence=(decimal,)), *findings[1:]]
    assert rendering_key(as_whole, patient, [ORDER], []) != rendering_key(
        as_decimal, patient, [ORDER], []
    )


@pytest.fixture
def broken_mri_text(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(finding: Finding[Any], context: TextContext) -> CardText:
        raise RuntimeError("text defect")

    values = text_registry.registered_texts()["mri-due"].values
    monkeypatch.setitem(text_registry._TEXTS, "mri-due", RegisteredText("mri-due", values, failing))


def test_a_rendering_with_a_fallback_card_is_never_remembered(
    broken_mri_text: None, caplog: pytest.LogCaptureFixture
) -> None:
    resources = [rrms(), jcv("2026-06-01", 0.1)]
    for _ in range(2):
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="cds_service.cards"):
            evaluation = run(resources)
        assert evaluation.card_fallbacks == ["mri-due"]  # the defect is counted on every call
        assert "card replaced by its fallback" in caplog.text  # and logged on every call
    assert len(RENDERED_CACHE) == 0


def test_settings_bound_the_cache_and_zero_turns_it_off(tmp_path: Path) -> None:
    create_app(Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}", record_memo_entries=0))
    assert not RENDERED_CACHE.enabled
    findings, patient = _findings()
    render_cards(findings, patient, [ORDER])
    assert len(RENDERED_CACHE) == 0
    create_app(Settings(database_url=f"sqlite:///{tmp_path / 'b.db'}"))
    assert RENDERED_CACHE.enabled
    render_cards(findings, patient, [ORDER])
    assert len(RENDERED_CACHE) == 1
