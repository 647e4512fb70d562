"""Feedback joins the audit by card uuid: each item is counted under its card's topic, once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds_service.config import Settings
from tests.audit.support import audit_tables, wait_for
from tests.contract.builders import hook_request
from tests.support.server import LiveServer

SIGN = "natalizumab-order-sign"
REASON_SYSTEM = "https://natalizumab-cds.example/fhir/CodeSystem/override-reason"


def _sign(server: LiveServer) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{server.url}/cds-services/{SIGN}", json=hook_request("order-sign"), timeout=30
    )
    assert response.status_code == 200
    cards: list[dict[str, Any]] = response.json()["cards"]
    return cards


def _feedback(server: LiveServer, items: list[dict[str, Any]]) -> None:
    response = httpx.post(
        f"{server.url}/cds-services/{SIGN}/feedback", json={"feedback": items}, timeout=30
    )
    assert response.status_code == 200


def _items(cards: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    with_suggestion = next(card for card in cards if card.get("suggestions"))
    other = next(card for card in cards if card is not with_suggestion)
    accepted = {
        "card": with_suggestion["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": with_suggestion["suggestions"][0]["uuid"]}],
        "outcomeTimestamp": "2026-01-05T10:00:00Z",
    }
    overridden = {
        "card": other["uuid"],
        "outcome": "overridden",
        "overrideReason": {
            "reason": {
                "system": REASON_SYSTEM,
                "code": "benefit-outweighs-risk",
                "display": "Benefit outweighs risk; discussed with patient",
            }
        },
        "outcomeTimestamp": "2026-01-05T10:01:00Z",
    }
    expected = [
        (with_suggestion["source"]["topic"]["code"], with_suggestion["indicator"], "accepted"),
        (other["source"]["topic"]["code"], other["indicator"], "overridden"),
    ]
    return accepted, overridden, expected


def _outcomes(database_url: str) -> dict[tuple[str, str], tuple[int, int, int]]:
    return {
        (row["topic"], row["indicator"]): (row["shown"], row["accepted"], row["overridden"])
        for row in audit_tables(database_url)["cds_audit_daily"]
    }


def _check(database_url: str, cards: list[dict[str, Any]], expected: list[Any]) -> None:
    outcomes = _outcomes(database_url)
    (acc_topic, acc_indicator, _), (ovr_topic, ovr_indicator, _) = expected
    assert outcomes[(acc_topic, acc_indicator)][1] == 1
    assert outcomes[(ovr_topic, ovr_indicator)][2] == 1
    assert sum(shown for shown, _, _ in outcomes.values()) == len(cards)
    assert sum(accepted for _, accepted, _ in outcomes.values()) == 1
    assert sum(overridden for _, _, overridden in outcomes.values()) == 1
    [reason] = audit_tables(database_url)["cds_audit_daily_reason"]
    assert (reason["topic"], reason["indicator"]) == (ovr_topic, ovr_indicator)
    assert (reason["reason_system"], reason["reason_code"], reason["overridden"]) == (
        REASON_SYSTEM,
        "benefit-outweighs-risk",
        1,
    )


def test_feedback_after_the_audit_is_counted_by_topic_once(
    tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer]
) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    server = live_server_factory(Settings(database_url=url, audit_flush_interval_s=0.05))
    cards = _sign(server)
    wait_for(lambda: len(audit_tables(url)["cds_audit_card"]) == len(cards))
    accepted, overridden, expected = _items(cards)
    _feedback(server, [accepted, overridden])
    wait_for(lambda: sum(o[2] for o in _outcomes(url).values()) == 1)
    # Resending, and a second override of the same card, change nothing.
    _feedback(server, [accepted, overridden])
    _feedback(server, [{**overridden, "outcomeTimestamp": "2026-01-05T11:00:00Z"}])
    server.stop()
    _check(url, cards, expected)


@pytest.mark.parametrize("restart", [False, True])
def test_feedback_that_arrives_before_its_card_is_written_still_counts(
    tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer], restart: bool
) -> None:
    """Another replica may store the feedback while this one still holds the card in memory."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    settings = Settings(database_url=url, audit_flush_interval_s=3600)
    server = live_server_factory(settings)
    cards = _sign(server)
    accepted, overridden, expected = _items(cards)
    feedback_server = live_server_factory(settings) if restart else server
    _feedback(feedback_server, [accepted, overridden])
    assert audit_tables(url)["cds_audit_card"] == []
    feedback_server.stop()
    server.stop()  # graceful shutdown writes the queued call and finds its feedback
    _check(url, cards, expected)
