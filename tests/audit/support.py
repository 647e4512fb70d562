"""Helpers for the audit tests: read audit tables, wait for the background writer, read metrics."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from sqlalchemy import create_engine, select

from cds_service.audit.models import (
    AuditCall,
    AuditCard,
    AuditDaily,
    AuditDailyReason,
    AuditWeekly,
    AuditWeeklyReason,
)

T = TypeVar("T")


def wait_for(probe: Callable[[], T], timeout: float = 15.0) -> T:
    """``probe()`` once it is truthy; fails after ``timeout`` seconds (a bound, not a target)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            assert value, "condition not reached in time"
            return value
        time.sleep(0.05)


def audit_tables(database_url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of the audit tables as dicts."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return {
                model.__tablename__: [
                    dict(row._mapping) for row in connection.execute(select(model.__table__))
                ]
                for model in (
                    AuditCall,
                    AuditCard,
                    AuditDaily,
                    AuditDailyReason,
                    AuditWeekly,
                    AuditWeeklyReason,
                )
            }
    finally:
        engine.dispose()


def metric(base_url: str, name: str, **labels: str) -> float:
    """The value of one sample in ``/metrics`` (0 when absent)."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(\{.*\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(match.group(3))
    return 0.0


def weekly_matches_daily(database_url: str) -> bool:
    """The weekly roll-ups are exactly the daily ones summed per ISO week (Monday)."""
    from collections import Counter
    from datetime import timedelta

    tables = audit_tables(database_url)

    def summed(
        rows: list[dict[str, Any]], day: str, key: tuple[str, ...], sums: tuple[str, ...]
    ) -> Counter[Any]:
        total: Counter[Any] = Counter()
        for row in rows:
            week = row[day] - timedelta(days=row[day].weekday()) if day == "shown_on" else row[day]
            for name in sums:
                total[(week, *(row[k] for k in key), name)] += row[name]
        return +total

    counts = ("shown", "accepted", "overridden", "answered")
    reason_key = ("topic", "indicator", "reason_system", "reason_code")
    return summed(tables["cds_audit_daily"], "shown_on", ("topic", "indicator"), counts) == summed(
        tables["cds_audit_weekly"], "week_start", ("topic", "indicator"), counts
    ) and summed(
        tables["cds_audit_daily_reason"], "shown_on", reason_key, ("overridden",)
    ) == summed(tables["cds_audit_weekly_reason"], "week_start", reason_key, ("overridden",))
