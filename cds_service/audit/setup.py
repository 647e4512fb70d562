"""Build the app's audit recorder from settings (kept out of ``app.py``, which others edit)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from cds_service.audit.knowledge_version import knowledge_version
from cds_service.audit.metrics import AuditMetrics
from cds_service.audit.recorder import AuditRecorder
from cds_service.config import Settings
from cds_service.feedback.store import FeedbackStore


def create_recorder(
    settings: Settings, store: FeedbackStore, registry: CollectorRegistry
) -> AuditRecorder:
    """A recorder writing to the feedback database, with its metrics on ``registry``."""
    version = knowledge_version()
    return AuditRecorder(
        store.engine,
        knowledge_version=version,
        retention_days=settings.audit_retention_days,
        metrics=AuditMetrics(registry, version),
        ensure_schema=store.ensure_schema,
        flush_interval_s=settings.audit_flush_interval_s,
        max_pending=settings.audit_max_pending,
    )
