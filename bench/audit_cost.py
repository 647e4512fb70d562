"""CPU cost of the decision audit: the hook path's hand-off, and the background flush.

    python bench/audit_cost.py [--calls 100000] [--flush-calls 20000]

The hook path cost is ``AuditRecorder.record`` (what the route calls) for a realistic answer
of 6 cards, measured as process CPU time (``time.process_time``) over many calls, so other
processes on the machine do not distort it. The flush cost is the CPU time of writing those
calls to a fresh SQLite database through the real writer (client side: with PostgreSQL the
server's own CPU is not in this number). Target (issue 12): record <= 0.3 ms CPU per call.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client import CollectorRegistry

from cds_service.audit.metrics import AuditMetrics
from cds_service.audit.recorder import AuditRecorder
from cds_service.feedback.store import FeedbackStore

TOPICS = [
    ("natalizumab-indicated", "info"),
    ("pml-risk", "warning"),
    ("jcv-test-due", "warning"),
    ("mri-due", "warning"),
    ("concomitant-immunotherapy", "warning"),
    ("pediatric-patient", "warning"),
]


def cards() -> list[dict[str, Any]]:
    """Six cards shaped like the service's (text included: record must ignore it cheaply)."""
    return [
        {
            "uuid": str(uuid.uuid4()),
            "summary": "x" * 120,
            "indicator": indicator,
            "detail": "y" * 2000,
            "source": {"label": "Natalizumab CDS", "topic": {"code": topic, "system": "s"}},
        }
        for topic, indicator in TOPICS
    ]


def recorder(store: FeedbackStore, max_pending: int) -> AuditRecorder:
    return AuditRecorder(
        store.engine,
        knowledge_version="sha256:" + "0" * 64,
        retention_days=365,
        metrics=AuditMetrics(CollectorRegistry(), "bench"),
        ensure_schema=store.ensure_schema,
        max_pending=max_pending,
        batch_size=500,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--flush-calls", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = FeedbackStore(f"sqlite:///{Path(folder) / 'audit.db'}")
        store.ensure_schema()
        audit = recorder(store, max_pending=args.calls + 1)
        answers = [cards() for _ in range(100)]
        started = time.process_time()
        for index in range(args.calls):
            audit.record("natalizumab-order-sign", "hook-instance", answers[index % 100])
        record_cpu = time.process_time() - started
        assert audit.pending == args.calls

        flush = recorder(store, max_pending=args.flush_calls + 1)
        for index in range(args.flush_calls):
            flush.record("natalizumab-order-sign", str(index), cards())
        started = time.process_time()
        assert flush.flush()
        flush_cpu = time.process_time() - started
        store.dispose()
    result = {
        "record_us_cpu_per_call": round(record_cpu / args.calls * 1e6, 2),
        "record_calls": args.calls,
        "flush_us_cpu_per_call": round(flush_cpu / args.flush_calls * 1e6, 1),
        "flush_us_cpu_per_card": round(flush_cpu / (args.flush_calls * len(TOPICS)) * 1e6, 1),
        "flush_calls": args.flush_calls,
        "cards_per_call": len(TOPICS),
        "target_record_us": 300,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
