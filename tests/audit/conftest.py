"""Fixtures: a migrated audit database (SQLite, or a fresh PostgreSQL one) and a settable clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from cds_service.audit.metrics import AuditMetrics
from cds_service.audit.recorder import AuditRecorder
from cds_service.feedback.store import FeedbackStore
from tests.support.databases import POSTGRES_URL, fresh_postgres_database


@dataclass
class Clock:
    """An injected clock the test moves by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def audit_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FeedbackStore]:
    """A migrated feedback database with the audit tables."""
    if request.param == "sqlite":
        store = FeedbackStore(f"sqlite:///{tmp_path / 'audit.db'}")
        store.ensure_schema()
        yield store
        store.dispose()
        return
    if not POSTGRES_URL:
        pytest.skip("CDS_TEST_POSTGRES_URL is not set")
    with fresh_postgres_database() as url:
        store = FeedbackStore(url)
        store.ensure_schema()
        yield store
        store.dispose()


def make_recorder(
    store: FeedbackStore, clock: Clock, retention_days: int = 365
) -> tuple[AuditRecorder, CollectorRegistry]:
    """A recorder on ``store`` whose time is ``clock`` (no thread started)."""
    registry = CollectorRegistry()
    recorder = AuditRecorder(
        store.engine,
        knowledge_version="sha256:test",
        retention_days=retention_days,
        metrics=AuditMetrics(registry, "sha256:test"),
        ensure_schema=store.ensure_schema,
        clock=clock,
    )
    return recorder, registry
