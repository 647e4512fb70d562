"""On SQLite the audit writer steps aside while another writer holds the file lock.

Feedback posts and the audit share one SQLite file; the audit is asynchronous, so it must not
queue on the lock ahead of feedback (whose posts answer 503 after their deadline). With the
lock held by another connection, a flush writes nothing, counts no failure and keeps every
call queued; once the lock is free the next flush writes them, and shutdown waits the lock
out instead of dropping what is queued.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine

from cds_service.audit.setup import create_recorder
from cds_service.config import Settings
from cds_service.feedback.store import FeedbackStore
from tests.audit.support import audit_tables

CARDS = [
    {"uuid": "c-1", "indicator": "info", "source": {"topic": {"code": "natalizumab-indicated"}}}
]


def _failures(registry: CollectorRegistry) -> float:
    return sum(
        sample.value
        for metric in registry.collect()
        if metric.name == "cds_audit_write_failures"
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


def _hold_lock(url: str, release: threading.Event, held: threading.Event) -> None:
    """Another writer: BEGIN IMMEDIATE takes the SQLite write lock until ``release``."""
    engine = create_engine(url)
    raw = engine.raw_connection()
    try:
        raw.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait(30)
        raw.rollback()
    finally:
        raw.close()
        engine.dispose()


def test_audit_steps_aside_from_a_held_sqlite_lock_and_writes_after(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    settings = Settings(database_url=url)
    store = FeedbackStore(url)
    store.ensure_schema()
    registry = CollectorRegistry()
    recorder = create_recorder(settings, store, registry)
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_lock, args=(url, release, held))
    holder.start()
    try:
        assert held.wait(10)
        recorder.record("natalizumab-order-sign", "hi-1", CARDS)
        started = time.monotonic()
        assert recorder.flush() is False
        assert time.monotonic() - started < 2  # stepped aside, did not wait out the lock
        assert recorder.pending == 1  # kept, not dropped
        assert _failures(registry) == 0  # contention is not a failure
    finally:
        release.set()
        holder.join(10)
    assert recorder.flush() is True
    assert [row["hook_instance"] for row in audit_tables(url)["cds_audit_call"]] == ["hi-1"]
    recorder.close()
    store.dispose()


def test_shutdown_waits_out_a_brief_lock_instead_of_dropping(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = FeedbackStore(url)
    store.ensure_schema()
    recorder = create_recorder(Settings(database_url=url), store, CollectorRegistry())
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_lock, args=(url, release, held))
    holder.start()
    assert held.wait(10)
    recorder.record("natalizumab-order-sign", "hi-2", CARDS)
    threading.Timer(0.5, release.set).start()  # the other writer finishes soon
    recorder.close()
    holder.join(10)
    assert [row["hook_instance"] for row in audit_tables(url)["cds_audit_call"]] == ["hi-2"]
    store.dispose()
