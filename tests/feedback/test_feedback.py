"""POST /cds-services/{id}/feedback: stored, idempotent, durable; SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds_service.config import Settings
from cds_service.feedback.store import FeedbackStore
from cds_service.protocol.models import parse_feedback
from tests.support.server import LiveServer

SIGN = "natalizumab-order-sign"
OVERRIDE_SYSTEM = "https://natalizumab-cds.example/fhir/CodeSystem/override-reason"


def accepted(card: str, suggestion: str, when: str = "2021-12-11T10:05:31Z") -> dict[str, Any]:
    return {
        "card": card,
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": suggestion}],
        "outcomeTimestamp": when,
    }


def overridden(card: str, when: str = "2020-12-11T00:00:00Z") -> dict[str, Any]:
    return {
        "card": card,
        "outcome": "overridden",
        "overrideReason": {
            "reason": {
                "code": "patient-informed-consent",
                "system": OVERRIDE_SYSTEM,
                "display": "Patient informed and consents",
            },
            "userComment": "Discussed with the patient.",
        },
        "outcomeTimestamp": when,
    }


def send(server: LiveServer, items: list[dict[str, Any]], service: str = SIGN) -> httpx.Response:
    return httpx.post(
        f"{server.url}/cds-services/{service}/feedback", json={"feedback": items}, timeout=30
    )


def test_feedback_is_stored_with_every_field(live_server: LiveServer) -> None:
    card_a, card_b, suggestion = (str(uuid.uuid4()) for _ in range(3))
    before = datetime.now(UTC).replace(tzinfo=None)
    response = send(live_server, [accepted(card_a, suggestion), overridden(card_b)])
    assert response.status_code == 200
    assert response.json() == {"stored": 2, "duplicates": 0}

    store = FeedbackStore(live_server.settings.database_url)
    try:
        rows = {row.card_uuid: row for row in store.records(SIGN)}
    finally:
        store.dispose()
    assert set(rows) == {card_a, card_b}
    a, b = rows[card_a], rows[card_b]
    assert a.outcome == "accepted"
    assert a.accepted_suggestions == [suggestion]
    assert a.outcome_timestamp == datetime(2021, 12, 11, 10, 5, 31)
    assert a.override_reason_code is None
    assert b.outcome == "overridden"
    assert b.accepted_suggestions == []
    assert (b.override_reason_code, b.override_reason_system, b.override_reason_display) == (
        "patient-informed-consent",
        OVERRIDE_SYSTEM,
        "Patient informed and consents",
    )
    assert b.user_comment == "Discussed with the patient."
    assert b.outcome_timestamp == datetime(2020, 12, 11)
    assert before <= a.received_at <= datetime.now(UTC).replace(tzinfo=None)
    assert a.service_id == SIGN


def test_feedback_is_idempotent(live_server: LiveServer) -> None:
    card = str(uuid.uuid4())
    item = overridden(card)
    assert send(live_server, [item]).json() == {"stored": 1, "duplicates": 0}
    assert send(live_server, [item]).json() == {"stored": 0, "duplicates": 1}
    # The same timestamp written with another offset is the same instant.
    same_instant = overridden(card, when="2020-12-11T01:00:00+01:00")
    assert send(live_server, [same_instant, item]).json() == {"stored": 0, "duplicates": 2}
    # A later outcome for the same card, or the same card on another service, is new.
    later = overridden(card, when="2020-12-12T00:00:00Z")
    assert send(live_server, [later]).json() == {"stored": 1, "duplicates": 0}
    other = send(live_server, [item], service="natalizumab-order-select")
    assert other.json() == {"stored": 1, "duplicates": 0}


def test_duplicates_inside_one_request_are_stored_once(live_server: LiveServer) -> None:
    item = accepted(str(uuid.uuid4()), str(uuid.uuid4()))
    assert send(live_server, [item, item]).json() == {"stored": 1, "duplicates": 1}


def test_feedback_survives_a_restart(
    tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer]
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'durable.db'}")
    card = str(uuid.uuid4())
    first = live_server_factory(settings)
    assert send(first, [overridden(card)]).json() == {"stored": 1, "duplicates": 0}
    first.stop()

    second = live_server_factory(settings)
    assert send(second, [overridden(card)]).json() == {"stored": 0, "duplicates": 1}
    store = FeedbackStore(settings.database_url)
    try:
        assert [row.card_uuid for row in store.records(SIGN)] == [card]
    finally:
        store.dispose()


INVALID_FEEDBACK: list[tuple[str, Any]] = [
    ("not an object", [1]),
    ("no feedback key", {"items": []}),
    ("feedback not an array", {"feedback": {"card": "x"}}),
    ("missing card", {"feedback": [{"outcome": "overridden", "outcomeTimestamp": "2020-12-11"}]}),
    (
        "bad outcome",
        {"feedback": [{"card": "c", "outcome": "ignored", "outcomeTimestamp": "2020-12-11"}]},
    ),
    ("missing timestamp", {"feedback": [{"card": "c", "outcome": "overridden"}]}),
    (
        "bad timestamp",
        {"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "yesterday"}]},
    ),
    (
        "accepted without suggestions",
        {"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2020-12-11"}]},
    ),
    (
        "suggestion without id",
        {
            "feedback": [
                {
                    "card": "c",
                    "outcome": "accepted",
                    "acceptedSuggestions": [{}],
                    "outcomeTimestamp": "2020-12-11T00:00:00Z",
                }
            ]
        },
    ),
]


@pytest.mark.parametrize(
    ("label", "body"), INVALID_FEEDBACK, ids=[label for label, _ in INVALID_FEEDBACK]
)
def test_invalid_feedback_is_400_and_nothing_is_stored(
    live_server: LiveServer, label: str, body: Any
) -> None:
    response = httpx.post(f"{live_server.url}/cds-services/{SIGN}/feedback", json=body)
    assert response.status_code == 400
    assert set(response.json()) == {"error", "message"}
    store = FeedbackStore(live_server.settings.database_url)
    try:
        assert store.records() == []
    finally:
        store.dispose()


def test_one_invalid_item_rejects_the_whole_request(live_server: LiveServer) -> None:
    good = overridden(str(uuid.uuid4()))
    bad = {"card": "c", "outcome": "maybe", "outcomeTimestamp": "2020-12-11T00:00:00Z"}
    response = httpx.post(
        f"{live_server.url}/cds-services/{SIGN}/feedback", json={"feedback": [good, bad]}
    )
    assert response.status_code == 400
    assert send(live_server, [good]).json() == {"stored": 1, "duplicates": 0}


def test_feedback_needs_json(live_server: LiveServer) -> None:
    response = httpx.post(
        f"{live_server.url}/cds-services/{SIGN}/feedback",
        content=b"feedback=1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415


# --- PostgreSQL ----------------------------------------------------------------------------

POSTGRES_URL = os.environ.get("CDS_TEST_POSTGRES_URL")


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="CDS_TEST_POSTGRES_URL is not set")
def test_postgres_feedback_is_stored_idempotent_and_durable(
    live_server_factory: Callable[[Settings], LiveServer],
) -> None:
    assert POSTGRES_URL is not None
    settings = Settings(database_url=POSTGRES_URL)
    card, suggestion = str(uuid.uuid4()), str(uuid.uuid4())
    first = live_server_factory(settings)
    assert httpx.get(f"{first.url}/readyz").status_code == 200
    items = [accepted(card, suggestion), overridden(card)]
    assert send(first, items).json() == {"stored": 2, "duplicates": 0}
    assert send(first, items).json() == {"stored": 0, "duplicates": 2}
    first.stop()

    second = live_server_factory(settings)
    assert send(second, [overridden(card)]).json() == {"stored": 0, "duplicates": 1}
    store = FeedbackStore(POSTGRES_URL)
    try:
        rows = [row for row in store.records(SIGN) if row.card_uuid == card]
    finally:
        store.dispose()
    assert sorted(row.outcome for row in rows) == ["accepted", "overridden"]
    by_outcome = {row.outcome: row for row in rows}
    assert by_outcome["accepted"].accepted_suggestions == [suggestion]
    assert by_outcome["overridden"].override_reason_code == "patient-informed-consent"
    assert by_outcome["overridden"].outcome_timestamp == datetime(2020, 12, 11)


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="CDS_TEST_POSTGRES_URL is not set")
def test_postgres_concurrent_resends_store_once() -> None:
    import concurrent.futures

    assert POSTGRES_URL is not None
    store = FeedbackStore(POSTGRES_URL)
    items = parse_feedback({"feedback": [overridden(str(uuid.uuid4()))]}).feedback
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            results = list(
                pool.map(lambda _: store.store(SIGN, items, datetime.now(UTC)), range(8))
            )
    finally:
        store.dispose()
    assert sum(result.stored for result in results) == 1
    assert sum(result.duplicates for result in results) == 7
