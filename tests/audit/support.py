"""Helpers for the audit tests: read audit tables, wait for the background writer, read metrics."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from sqlalchemy import create_engine, select

from cds_service.audit.models import AuditCall, AuditCard, AuditDaily, AuditDailyReason

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
                for model in (AuditCall, AuditCard, AuditDaily, AuditDailyReason)
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
