"""Analytics query time on a year of audit for a large hospital (default 2 million cards).

    python bench/analytics_query.py --backend sqlite [--cards 2000000] [--feedback 0.3]
    python bench/analytics_query.py --backend postgres --url postgresql+psycopg://...

Generates the data through the real writers (``cds_service.audit.writes``: calls and cards,
then feedback rows folded by card uuid), with 4 cards per call spread evenly over 365 days,
13 topics x 3 indicators, and ``--feedback`` of the cards getting an accepted or overridden
item with one of 6 reasons. Then times ``summarize`` + JSON rendering of the whole year (what
``GET /analytics/cards`` does besides HTTP), median of ``--repeat`` runs, wall and CPU time.
A SQLite file is kept in ``bench/results/`` and reused when it already holds the data set.
Target (issue 12): under 200 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
from sqlalchemy import func, insert, select

from cds_service.analytics.report import as_json
from cds_service.audit import writes
from cds_service.audit.entries import AuditedCall, ShownCard
from cds_service.audit.models import AuditCard
from cds_service.audit.summary import summarize
from cds_service.feedback.models import FeedbackRecord
from cds_service.feedback.store import FeedbackStore

RESULTS = Path(__file__).resolve().parent / "results"
TOPICS = [f"topic-{index:02d}" for index in range(13)]
INDICATORS = ["info", "warning", "critical"]
REASONS = [
    "benefit-outweighs-risk",
    "record-out-of-date",
    "monitoring-arranged-elsewhere",
    "patient-declined",
    "specialist-decision",
    "not-applicable",
]
CARDS_PER_CALL = 4
FIRST_DAY = date(2025, 1, 1)
BATCH_CALLS = 2_500


def generate(store: FeedbackStore, cards: int, feedback: float, seed: int) -> None:
    rng = random.Random(seed)
    calls = cards // CARDS_PER_CALL
    step = timedelta(days=365) / calls
    start = datetime.combine(FIRST_DAY, datetime.min.time(), UTC)
    feedback_rows: list[dict[str, Any]] = []
    serial = 0
    began = time.perf_counter()
    for first in range(0, calls, BATCH_CALLS):
        batch = []
        for index in range(first, min(calls, first + BATCH_CALLS)):
            when = start + step * index
            shown = []
            for _ in range(CARDS_PER_CALL):
                serial += 1
                uuid = f"{serial:032x}"
                shown.append(ShownCard(uuid, rng.choice(TOPICS), rng.choice(INDICATORS)))
                if rng.random() < feedback:
                    overridden = rng.random() < 0.6
                    feedback_rows.append(
                        {
                            "service_id": "natalizumab-order-sign",
                            "card_uuid": uuid,
                            "outcome": "overridden" if overridden else "accepted",
                            "accepted_suggestions": [] if overridden else ["s"],
                            "override_reason_code": rng.choice(REASONS) if overridden else None,
                            "override_reason_system": "https://natalizumab-cds.example/fhir/CodeSystem/override-reason"
                            if overridden
                            else None,
                            "override_reason_display": None,
                            "user_comment": None,
                            "outcome_timestamp": (when + timedelta(minutes=2)).replace(tzinfo=None),
                            "received_at": (when + timedelta(minutes=2)).replace(tzinfo=None),
                        }
                    )
            batch.append(AuditedCall(when, "natalizumab-order-sign", f"h{index}", tuple(shown)))
        with store.engine.begin() as connection:
            writes.write_calls(connection, batch, "sha256:bench")
        if first % (BATCH_CALLS * 40) == 0:
            print(
                f"  calls {first:,}/{calls:,} ({time.perf_counter() - began:.0f} s)",
                file=sys.stderr,
            )
    for first in range(0, len(feedback_rows), 5_000):
        chunk = feedback_rows[first : first + 5_000]
        with store.engine.begin() as connection:
            connection.execute(insert(FeedbackRecord), chunk)
            writes.fold_feedback(connection, [row["card_uuid"] for row in chunk])
    print(f"  generated in {time.perf_counter() - began:.0f} s", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--url", help="database URL (postgres: required; sqlite: optional)")
    parser.add_argument("--cards", type=int, default=2_000_000)
    parser.add_argument("--feedback", type=float, default=0.3)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    if args.backend == "postgres" and not args.url:
        parser.error("--url is required for postgres")
    RESULTS.mkdir(exist_ok=True)
    url = args.url or f"sqlite:///{RESULTS / f'analytics-{args.cards}.db'}"
    store = FeedbackStore(url)
    store.ensure_schema()
    with store.engine.connect() as connection:
        present = connection.execute(select(func.count()).select_from(AuditCard)).scalar_one()
    if present != args.cards // CARDS_PER_CALL * CARDS_PER_CALL:
        if present:
            sys.exit(f"{url} holds {present} cards, not {args.cards}: use an empty database")
        generate(store, args.cards, args.feedback, args.seed)
    since, until = FIRST_DAY, FIRST_DAY + timedelta(days=364)
    walls, cpus = [], []
    body = b""
    for _ in range(args.repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        with store.engine.connect() as connection:
            summary = summarize(connection, since, until)
        body = orjson.dumps(as_json(summary))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    store.dispose()
    print(
        json.dumps(
            {
                "backend": args.backend,
                "cards": summary.total.shown,
                "feedback_answered_cards": summary.total.answered,
                "period": [since.isoformat(), until.isoformat()],
                "median_wall_ms": round(statistics.median(walls) * 1000, 1),
                "max_wall_ms": round(max(walls) * 1000, 1),
                "median_cpu_ms": round(statistics.median(cpus) * 1000, 1),
                "response_bytes": len(body),
                "repeat": args.repeat,
                "target_ms": 200,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
