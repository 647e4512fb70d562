"""Prometheus metrics, one registry per app.

A per-app :class:`CollectorRegistry` (not the process-global default) lets several apps live
in one process, as they do in the test suite, without "duplicated timeseries" errors. Label
values are bounded sets (service ids, status codes, topic codes, failure reasons) so that no
request data can blow up cardinality or leak into metrics.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The service's metrics, registered in their own registry."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "cds_requests",
            "HTTP requests by route, CDS service id and status code.",
            ["route", "service", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cds_request_latency_seconds",
            "HTTP request latency by route and CDS service id.",
            ["route", "service"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cards = Counter(
            "cds_cards",
            "Cards returned, by card topic code and indicator.",
            ["topic", "indicator"],
            registry=self.registry,
        )
        self.card_fallbacks = Counter(
            "cds_card_fallbacks",
            "Cards replaced by their topic's minimal fallback card because the full card could "
            "not be built or failed validation (a service defect; see the error log).",
            ["topic"],
            registry=self.registry,
        )
        self.rule_failures = Counter(
            "cds_rule_failures",
            "Rules that raised instead of concluding, by the topic whose card then says the "
            "check was not assessed (a service defect; see the error log).",
            ["topic"],
            registry=self.registry,
        )
        self.assessment_failures = Counter(
            "cds_assessment_failures",
            "Natalizumab calls whose whole assessment raised and was answered by one "
            "'not assessed' card (a service defect; see the error log).",
            registry=self.registry,
        )
        self.skipped_resources = Counter(
            "cds_skipped_resources",
            "FHIR resources skipped because they failed validation or were not objects.",
            registry=self.registry,
        )
        self.fhir_fetch_latency = Histogram(
            "cds_fhir_fetch_latency_seconds",
            "Latency of fetching one prefetch key from fhirServer (all pages).",
            ["key"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.fhir_fetch_failures = Counter(
            "cds_fhir_fetch_failures",
            "Failed fetches from fhirServer by prefetch key and reason.",
            ["key", "reason"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "cds_feedback_items",
            "Feedback items received, by outcome and whether they were new or duplicates.",
            ["outcome", "result"],
            registry=self.registry,
        )

        self.uploads = Gauge(
            "cds_uploads",
            "Request bodies being read now (reading) or waiting for an upload slot (waiting).",
            ["state"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)
