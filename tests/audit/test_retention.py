"""Retention: audit rows of days older than CDS_AUDIT_RETENTION_DAYS go, at start-up and daily."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cds_service.config import Settings
from cds_service.feedback.store import FeedbackStore
from tests.audit.conftest import Clock, make_recorder
from tests.audit.support import audit_tables, wait_for, weekly_matches_daily
from tests.support.server import LiveServer


def _card(uuid: str, topic: str = "pml-risk") -> dict[str, object]:
    return {"uuid": uuid, "indicator": "warning", "source": {"topic": {"code": topic}}}


def _days(url: str) -> dict[str, set[date]]:
    tables = audit_tables(url)
    return {
        "calls": {row["recorded_at"].date() for row in tables["cds_audit_call"]},
        "cards": {row["shown_on"] for row in tables["cds_audit_card"]},
        "daily": {row["shown_on"] for row in tables["cds_audit_daily"]},
    }


def test_purge_with_an_injected_clock(audit_store: FeedbackStore) -> None:
    url = audit_store.engine.url.render_as_string(hide_password=False)
    clock = Clock(datetime(2025, 1, 1, 10, 0, tzinfo=UTC))
    recorder, registry = make_recorder(audit_store, clock, retention_days=365)
    recorder.record("natalizumab-order-sign", "h1", [_card("a1"), _card("a2", "mri-due")])
    clock.now = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
    recorder.record("natalizumab-order-sign", "h2", [_card("b1")])
    assert recorder.flush()
    both = {date(2025, 1, 1), date(2025, 6, 1)}
    assert _days(url) == {"calls": both, "cards": both, "daily": both}

    assert recorder.maintain() is True  # the start-up run: nothing is old enough yet
    assert _days(url)["cards"] == both
    clock.now += timedelta(hours=23)
    assert recorder.maintain() is False  # not due again within the day

    # 365 days after the first call, its day is still inside the retention period...
    clock.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert recorder.maintain() is True
    assert _days(url)["cards"] == both
    # ...and one day later it is not: raw rows and roll-ups of that day go together.
    clock.now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    assert recorder.maintain() is True
    kept = {date(2025, 6, 1)}
    assert _days(url) == {"calls": kept, "cards": kept, "daily": kept}
    assert registry.get_sample_value("cds_audit_purged_cards_total") == 2
    assert weekly_matches_daily(url)


def test_a_purge_mid_week_rebuilds_that_week(audit_store: FeedbackStore) -> None:
    url = audit_store.engine.url.render_as_string(hide_password=False)
    clock = Clock(datetime(2025, 3, 3, 9, tzinfo=UTC))  # a Monday
    recorder, _ = make_recorder(audit_store, clock, retention_days=30)
    for day in range(7):
        clock.now = datetime(2025, 3, 3 + day, 9, tzinfo=UTC)
        recorder.record("natalizumab-order-sign", f"d{day}", [_card(f"d{day}")])
    assert recorder.flush()
    assert weekly_matches_daily(url)
    [week] = audit_tables(url)["cds_audit_weekly"]
    assert week["shown"] == 7
    clock.now = datetime(2025, 4, 5, 12, tzinfo=UTC)  # first kept day: Thursday 2025-03-06
    assert recorder.maintain()
    assert weekly_matches_daily(url)
    [week] = audit_tables(url)["cds_audit_weekly"]
    assert (week["week_start"], week["shown"]) == (date(2025, 3, 3), 4)


def test_the_service_purges_at_start_up(
    tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer]
) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = FeedbackStore(url)
    store.ensure_schema()
    now = datetime.now(UTC)
    recorder, _ = make_recorder(store, Clock(now - timedelta(days=40)))
    recorder.record("natalizumab-order-sign", "old", [_card("old")])
    recorder._clock = Clock(now - timedelta(days=2))
    recorder.record("natalizumab-order-sign", "recent", [_card("recent")])
    assert recorder.flush()
    store.dispose()

    live_server_factory(
        Settings(database_url=url, audit_retention_days=30, audit_flush_interval_s=0.05)
    )
    wait_for(lambda: len(audit_tables(url)["cds_audit_card"]) == 1)
    [call] = audit_tables(url)["cds_audit_call"]
    assert call["hook_instance"] == "recent"
