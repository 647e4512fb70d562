"""The decision audit's Prometheus metrics, registered on the app's own registry.

A lost audit write must be visible to operations without failing the hook call: failures,
drops and the queue depth are what an alert on the audit watches.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Info


class AuditMetrics:
    """Counters of the audit writer plus the knowledge version as an info metric."""

    def __init__(self, registry: CollectorRegistry, knowledge_version: str) -> None:
        self.calls_written = Counter(
            "cds_audit_calls_written",
            "Hook calls written to the decision audit.",
            registry=registry,
        )
        self.write_failures = Counter(
            "cds_audit_write_failures",
            "Failed decision-audit database writes (each is retried, then counted as dropped).",
            ["operation"],
            registry=registry,
        )
        self.calls_dropped = Counter(
            "cds_audit_calls_dropped",
            "Hook calls never written to the audit, by reason.",
            ["reason"],
            registry=registry,
        )
        self.purged_cards = Counter(
            "cds_audit_purged_cards",
            "Audited cards deleted by the retention purge.",
            registry=registry,
        )
        self.queue = Gauge(
            "cds_audit_queue_calls",
            "Hook calls waiting in memory to be written to the audit.",
            registry=registry,
        )
        self.knowledge = Info(
            "cds_knowledge",
            "Content hash of the clinical knowledge data this process serves.",
            registry=registry,
        )
        self.knowledge.info({"version": knowledge_version})

    def watch_queue(self, depth: Callable[[], float]) -> None:
        """Report ``depth()`` as the queue gauge at every scrape."""
        self.queue.set_function(depth)
