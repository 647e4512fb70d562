"""Hostile free text in a whole call: bounded work, and the cards say when text went unread."""

from __future__ import annotations

import time
import uuid

import pytest

from cds_service.record import build
from tests.clinical.fhir import concept, condition, rrms, run, topics

RED_TEAM_CONDITIONS = 2_400


def _conditions(unit: str, count: int) -> list[dict[str, object]]:
    texts = [f"{uuid.uuid4()} " for _ in range(count)]
    return [condition(concept(text=t + unit * 650)) for t in texts]


def test_red_team_record_costs_what_any_record_of_its_size_costs() -> None:
    """2,400 Conditions of "ms ms ms ..." (5 MB) took 71 s; now they cost like plain text.

    Compared with a benign record of the same size and shape (a ratio, not an absolute
    time): a backtracking engine made the hostile one hundreds of times dearer.
    """

    def cpu(resources: list[dict[str, object]]) -> float:
        started = time.process_time()
        run([rrms(), *resources])
        return time.process_time() - started

    benign = cpu(_conditions("ab ", RED_TEAM_CONDITIONS))
    hostile = cpu(_conditions("ms ", RED_TEAM_CONDITIONS))
    assert hostile < 3 * benign + 0.5, f"hostile {hostile:.2f} s vs benign {benign:.2f} s"


def test_exhausted_text_budget_is_named_in_every_card(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "MAX_TEXT_CHARS_PER_CALL", 50_000)
    evaluation = run([rrms(), *_conditions("multiple sclerosis ", 40)])
    assert "natalizumab-indicated" in topics(evaluation)  # coded data is still read
    assert evaluation.cards
    for card in evaluation.cards:
        assert "was not read" in card["detail"]


def test_a_normal_record_stays_within_the_budget() -> None:
    evaluation = run([rrms(), *_conditions("multiple sclerosis ", 40)])
    assert all("was not read" not in card["detail"] for card in evaluation.cards)
