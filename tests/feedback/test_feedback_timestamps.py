"""``outcomeTimestamp`` at and beyond the limits of a date: 400 when unusable, never a 500.

``0001-01-01T00:00:00+01:00`` is 0000-12-31 in UTC and ``9999-12-31T23:59:59-01:00`` is
10000-01-01 in UTC: neither exists as a Python datetime, and converting them to UTC raised
OverflowError, which left as a 500 (issue 11). The spec's timestamp is an RFC 3339 string,
so anything that is not a date-time string, or that names a moment outside years 1-9999 in
UTC, is a 400 with the JSON error body; the limits themselves are stored as sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.feedback.store import FeedbackStore
from tests.support.asgi import InProcessClient
from tests.support.server import LiveServer

SIGN = "natalizumab-order-sign"

UNUSABLE: list[Any] = [
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:59:59+01:00",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:00:00-14:00",
    "0000-00-00",
    "0000-01-01T00:00:00Z",
    "99999-01-01T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-11-26T02:00:00+25:00",
    "2026-11-26T25:00:00Z",
    "NaN",
    "Infinity",
    "-Infinity",
    "",
    " ",
    "now",
    "999999999999",
    "1e308",
    0,
    1e20,
    -1e20,
    253402300800,
    True,
    None,
    [],
    {},
]

AT_THE_LIMITS = {
    "0001-01-01T00:00:00Z": datetime(1, 1, 1),
    "0001-01-01T00:00:00-01:00": datetime(1, 1, 1, 1),
    "9999-12-31T23:59:59Z": datetime(9999, 12, 31, 23, 59, 59),
    "9999-12-31T23:59:59+01:00": datetime(9999, 12, 31, 22, 59, 59),
    "2026-11-26T02:00:00.123456+14:00": datetime(2026, 11, 25, 12, 0, 0, 123456),
}


def item(when: Any) -> dict[str, Any]:
    return {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": when}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessClient]:
    database = tmp_path_factory.mktemp("ts") / "feedback.db"
    in_process = InProcessClient(create_app(Settings(database_url=f"sqlite:///{database}")))
    yield in_process
    in_process.close()


@pytest.mark.parametrize("when", UNUSABLE, ids=repr)
def test_unusable_timestamp_is_a_400(client: InProcessClient, when: Any) -> None:
    response = client.post(f"/cds-services/{SIGN}/feedback", json={"feedback": [item(when)]})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert "outcomeTimestamp" in body["message"]


@pytest.mark.parametrize(("when", "stored"), sorted(AT_THE_LIMITS.items()))
def test_timestamps_at_the_limits_are_stored_in_utc(
    client: InProcessClient, when: str, stored: datetime
) -> None:
    sent = item(when)
    response = client.post(f"/cds-services/{SIGN}/feedback", json={"feedback": [sent]})
    assert response.status_code == 200, response.text
    store: FeedbackStore = client.app.state.feedback_store
    [record] = [r for r in store.records(SIGN) if r.card_uuid == sent["card"]]
    assert record.outcome_timestamp == stored


def test_out_of_range_timestamp_over_real_http(live_server: LiveServer) -> None:
    response = httpx.post(
        f"{live_server.url}/cds-services/{SIGN}/feedback",
        json={"feedback": [item("0001-01-01T00:00:00+01:00")]},
        timeout=30,
    )
    assert response.status_code == 400
    assert set(response.json()) == {"error", "message"}
