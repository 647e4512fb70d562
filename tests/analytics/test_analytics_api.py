"""GET /analytics/cards: the 404/401 rules, period validation, and the arithmetic on known data."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds_service.config import Settings
from cds_service.feedback.store import FeedbackStore
from tests.analytics.fixtures import REASONS, SINCE, UNTIL, seed
from tests.audit.support import weekly_matches_daily
from tests.support.server import LiveServer

TOKEN = "committee-token-0123456789abcdef0123456789"


def _url_of(store: FeedbackStore) -> str:
    return store.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def analytics_server(
    audit_store: FeedbackStore, live_server_factory: Callable[[Settings], LiveServer]
) -> LiveServer:
    seed(audit_store)
    return live_server_factory(Settings(database_url=_url_of(audit_store), analytics_token=TOKEN))


def get(
    server: LiveServer, query: str = "", token: str | None = TOKEN, **kw: Any
) -> httpx.Response:
    headers = kw.pop("headers", {} if token is None else {"Authorization": f"Bearer {token}"})
    return httpx.get(f"{server.url}/analytics/cards{query}", headers=headers, timeout=30, **kw)


def test_without_the_setting_both_paths_are_404(live_server: LiveServer) -> None:
    for path in ("/analytics", "/analytics/cards", "/analytics/static/analytics.js"):
        response = httpx.get(
            f"{live_server.url}{path}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert response.status_code == 404
        assert set(response.json()) == {"error", "message"}


def test_an_empty_setting_is_unset(tmp_path: Path) -> None:
    assert Settings(database_url="sqlite://", analytics_token="  ").analytics_token is None


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer"},
        [("Authorization", f"Bearer {TOKEN}"), ("Authorization", f"Bearer {TOKEN}")],
    ],
    ids=["none", "wrong", "longer", "basic", "no-scheme", "empty", "two-headers"],
)
def test_anything_but_the_bearer_token_is_401(analytics_server: LiveServer, headers: Any) -> None:
    response = get(analytics_server, f"?since={SINCE}&until={UNTIL}", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "shown" not in response.text


def test_the_token_in_the_url_is_not_accepted(analytics_server: LiveServer) -> None:
    assert (
        get(analytics_server, f"?token={TOKEN}&access_token={TOKEN}", token=None).status_code == 401
    )


@pytest.mark.parametrize(
    "query",
    [
        "?since=2025-13-01",
        "?since=20251201",
        "?since=yesterday",
        "?until=2025-02-30",
        "?since=2026-01-02&until=2026-01-01",
        "?since=2000-01-01&until=2026-01-01",
        f"?since={SINCE}&since={SINCE}",
        "?format=xml",
    ],
)
def test_a_bad_period_is_400(analytics_server: LiveServer, query: str) -> None:
    response = get(analytics_server, query)
    assert response.status_code == 400
    assert set(response.json()) == {"error", "message"}


def test_default_period_is_the_last_90_days(analytics_server: LiveServer) -> None:
    body = get(analytics_server).json()
    today = datetime.now(UTC).date()
    assert body["until"] == today.isoformat()
    assert body["since"] == (today - timedelta(days=89)).isoformat()
    assert get(analytics_server, f"?since={today.isoformat()}").json()["since"] == today.isoformat()


def _row(body: dict[str, Any], topic: str, indicator: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = body["topics"]
    [row] = [r for r in rows if (r["topic"], r["indicator"]) == (topic, indicator)]
    return row


def _counts(entry: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("shown", "accepted", "overridden", "answered", "override_rate")
    return tuple(entry[k] for k in (*keys, "response_override_rate", "feedback_rate"))


def test_override_rate_arithmetic_on_known_data(analytics_server: LiveServer) -> None:
    response = get(analytics_server, f"?since={SINCE}&until={UNTIL}")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert (body["since"], body["until"]) == (SINCE, UNTIL)
    assert weekly_matches_daily(analytics_server.settings.database_url)

    warning = _row(body, "pml-risk", "warning")
    assert _counts(warning) == (4, 2, 3, 4, 0.75, 0.75, 1.0)
    assert {(r["code"], r["count"]) for r in warning["override_reasons"]} == {
        ("benefit-outweighs-risk", 1),
        (None, 1),
        ('=HYPERLINK("x")', 1),
    }
    [benefit] = [r for r in warning["override_reasons"] if r["code"] == "benefit-outweighs-risk"]
    assert benefit["system"] == REASONS
    assert benefit["display"] == "Benefit outweighs risk; discussed with patient"
    assert _counts(_row(body, "pml-risk", "critical")) == (1, 0, 1, 1, 1.0, 1.0, 1.0)
    assert _counts(_row(body, "mri-due", "warning")) == (1, 1, 0, 1, 0.0, 0.0, 1.0)
    assert _counts(_row(body, "natalizumab-indicated", "info")) == (1, 0, 0, 0, 0.0, None, 0.0)
    # Topic order follows the card-topic CodeSystem; the card shown on 2025-12-20 is outside.
    assert [r["topic"] for r in body["topics"]] == [
        "natalizumab-indicated",
        "pml-risk",
        "pml-risk",
        "mri-due",
    ]
    assert _counts(body["total"]) == (7, 3, 4, 6, 0.5714, 0.6667, 0.8571)
    assert {(r["code"], r["count"]) for r in body["total"]["override_reasons"]} == {
        ("benefit-outweighs-risk", 2),
        (None, 1),
        ('=HYPERLINK("x")', 1),
    }

    # ISO weeks: 2025-12-28 is in 2025-W52, 2025-12-29 already in 2026-W01.
    weeks = {w["week"]: w for w in body["weeks"]}
    assert list(weeks) == ["2025-W52", "2026-W01"]
    assert (weeks["2025-W52"]["start"], weeks["2025-W52"]["end"]) == ("2025-12-22", "2025-12-28")
    assert _counts(weeks["2025-W52"])[:4] == (4, 1, 2, 3)
    assert _counts(weeks["2026-W01"])[:4] == (3, 2, 2, 3)
    per_week = {w["week"]: _counts(w)[:4] for w in warning["weeks"]}
    assert per_week == {"2025-W52": (2, 0, 2, 2), "2026-W01": (2, 2, 1, 2)}
    assert body["knowledge_versions"][0]["version"] == "sha256:test"
    assert "pml-history" in {t["code"] for t in body["topics_not_shown"]}


def test_feedback_stored_before_its_cards_gives_the_same_numbers(
    audit_store: FeedbackStore, live_server_factory: Callable[[Settings], LiveServer]
) -> None:
    seed(audit_store, feedback_first=True)
    server = live_server_factory(Settings(database_url=_url_of(audit_store), analytics_token=TOKEN))
    body = get(server, f"?since={SINCE}&until={UNTIL}").json()
    assert _counts(body["total"]) == (7, 3, 4, 6, 0.5714, 0.6667, 0.8571)


def test_csv_and_html_carry_the_same_numbers_safely(analytics_server: LiveServer) -> None:
    text = get(analytics_server, f"?since={SINCE}&until={UNTIL}&format=csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    [total] = [r for r in rows if r["period"] == "total" and r["topic"] == "*"]
    assert (total["shown"], total["overridden"], total["override_rate"]) == ("7", "4", "0.5714")
    [warning] = [
        r
        for r in rows
        if (r["period"], r["topic"], r["indicator"]) == ("total", "pml-risk", "warning")
    ]
    assert set(warning["override_reasons"].split("; ")) == {
        "benefit-outweighs-risk=1",
        "none=1",
        '=HYPERLINK("x")=1',
    }
    # No cell can start a spreadsheet formula.
    assert not [cell for row in rows for cell in row.values() if cell[:1] in "=+-@" and cell]

    html = get(analytics_server, f"?since={SINCE}&until={UNTIL}&format=html").text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<span class="figure" id="total-shown">7</span>' in html


def test_a_period_cut_mid_week_counts_only_its_days(analytics_server: LiveServer) -> None:
    """Partial first and last weeks come from the daily roll-up, whole weeks from the weekly."""
    body = get(analytics_server, "?since=2025-12-28&until=2025-12-29").json()
    weeks = {w["week"]: w for w in body["weeks"]}
    assert (weeks["2025-W52"]["start"], weeks["2025-W52"]["end"]) == ("2025-12-28", "2025-12-28")
    assert _counts(weeks["2025-W52"])[:4] == (4, 1, 2, 3)  # c1-c4, all on the 28th
    assert _counts(weeks["2026-W01"])[:4] == (2, 1, 1, 2)  # c5, c6 on the 29th; not c7 (30th)
    assert {(r["code"], r["count"]) for r in body["total"]["override_reasons"]} == {
        ("benefit-outweighs-risk", 2),
        (None, 1),
    }
    whole = get(analytics_server, f"?since={SINCE}&until={UNTIL}").json()
    for label in ("2025-W52", "2026-W01"):
        [week] = [w for w in whole["weeks"] if w["week"] == label]
        daily = get(analytics_server, f"?since={week['start']}&until={week['end']}").json()
        assert _counts(daily["total"]) == _counts(week)
        assert daily["total"]["override_reasons"] == week["override_reasons"]
