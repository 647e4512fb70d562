"""Build the app's audit recorder from settings (kept out of ``app.py``, which others edit)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from cds_service.audit.knowledge_version import knowledge_version
from cds_service.audit.metrics import AuditMetrics
from cds_service.audit.recorder import AuditRecorder
from cds_service.config import Settings
from cds_service.database import DatabaseTimeouts, is_sqlite, make_engine
from cds_service.feedback.store import FeedbackStore

#: SQLite busy timeout of the audit writer's connections, seconds.
AUDIT_SQLITE_BUSY_S = 0.05


def create_recorder(
    settings: Settings, store: FeedbackStore, registry: CollectorRegistry
) -> AuditRecorder:
    """A recorder writing to the feedback database, with its metrics on ``registry``."""
    version = knowledge_version()
    engine = store.engine
    if is_sqlite(settings.database_url):
        # Its own engine with a short busy timeout: on a file lock held by another writer the
        # audit steps aside and retries (AuditRecorder), feedback posts keep the full wait.
        engine = make_engine(
            settings.database_url,
            DatabaseTimeouts(settings.db_connect_timeout_s, AUDIT_SQLITE_BUSY_S),
        )
    return AuditRecorder(
        engine,
        knowledge_version=version,
        retention_days=settings.audit_retention_days,
        metrics=AuditMetrics(registry, version),
        ensure_schema=store.ensure_schema,
        flush_interval_s=settings.audit_flush_interval_s,
        max_pending=settings.audit_max_pending,
        database_write_lock=store.write_lock,
        dispose_engine=engine is not store.engine,
    )
