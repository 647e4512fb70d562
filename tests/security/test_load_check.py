"""The load check of issue 11: 2,000 hook and feedback calls, 100 at a time, no 5xx, nothing lost.

``cds-service serve --workers 2`` exactly as documented, with the embedded default store
(``sqlite:///./cds_feedback.db`` in its working directory, a temporary one here). 100
clients share 2,000 calls: half hook calls (the project's example requests, rendered for
now, each to its own service), half feedback posts of one to three new items. Asserted:
no answer is a 5xx, every hook call answers 200, and every feedback item acknowledged with
a 200 is in the database afterwards. Bounded: 2,000 calls and 300 s, loopback only.

Run with ``pytest tests/security/test_load_check.py -m slow -s`` (prints the figures).
"""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from cds_service.examples import example_names, load_example
from tests.security.mutation import SERVICE_BY_HOOK
from tests.support.process import service_process

pytestmark = pytest.mark.slow

CALLS = 2_000
CONCURRENCY = 100
MAX_SECONDS = 300.0


def _hook_calls() -> list[tuple[str, bytes]]:
    now = datetime.now(UTC)
    calls = []
    for name in example_names():
        request = load_example(name, now).request
        calls.append(
            (f"/cds-services/{SERVICE_BY_HOOK[request['hook']]}", json.dumps(request).encode())
        )
    return calls


def test_two_thousand_calls_at_a_hundred_concurrent(tmp_path: Path) -> None:
    hook_calls = _hook_calls()
    statuses: Counter[tuple[str, int]] = Counter()
    latencies: dict[str, list[float]] = {"hook": [], "feedback": []}
    acknowledged: set[str] = set()
    lock = threading.Lock()
    issued = 0
    started = threading.Barrier(CONCURRENCY)

    with service_process({"CDS_DATABASE_URL": None}, workers=2, cwd=tmp_path) as url:
        deadline = time.monotonic() + MAX_SECONDS

        def next_call() -> int | None:
            nonlocal issued
            with lock:
                if issued >= CALLS or time.monotonic() > deadline:
                    return None
                issued += 1
                return issued

        def client(seed: int) -> None:
            rng = random.Random(seed)
            with httpx.Client(base_url=url, timeout=120) as http:
                started.wait(timeout=60)
                while (number := next_call()) is not None:
                    kind = "hook" if number % 2 else "feedback"
                    items: list[dict[str, Any]] = []
                    began = time.monotonic()
                    if kind == "hook":
                        path, body = hook_calls[number % len(hook_calls)]
                        response = http.post(
                            path, content=body, headers={"Content-Type": "application/json"}
                        )
                    else:
                        items = [
                            {
                                "card": str(uuid.uuid4()),
                                "outcome": "overridden",
                                "outcomeTimestamp": "2026-11-26T02:00:00Z",
                            }
                            for _ in range(rng.randint(1, 3))
                        ]
                        response = http.post(
                            "/cds-services/natalizumab-order-sign/feedback",
                            json={"feedback": items},
                        )
                    elapsed = time.monotonic() - began
                    with lock:
                        statuses[(kind, response.status_code)] += 1
                        latencies[kind].append(elapsed)
                        if kind == "feedback" and response.status_code == 200:
                            assert response.json() == {"stored": len(items), "duplicates": 0}
                            acknowledged.update(item["card"] for item in items)

        run_started = time.monotonic()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(CONCURRENCY)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=MAX_SECONDS + 60)
        wall = time.monotonic() - run_started

    def summary(kind: str) -> str:
        values = sorted(latencies[kind])
        if not values:
            return f"{kind}: none"
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        return f"{kind}: p50 {statistics.median(values) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"

    total = sum(statuses.values())
    print(
        f"\nload check: {total} calls at {CONCURRENCY} concurrent in {wall:.1f} s "
        f"({total / wall:.0f}/s): {sorted(statuses.items())}; {summary('hook')}; "
        f"{summary('feedback')}"
    )
    assert total == CALLS
    assert all(status < 500 for _, status in statuses)
    assert {kind_status for kind_status in statuses if kind_status[0] == "hook"} == {("hook", 200)}
    engine = create_engine(f"sqlite:///{tmp_path / 'cds_feedback.db'}")
    try:
        with engine.connect() as connection:
            stored = {r[0] for r in connection.execute(text("SELECT card_uuid FROM cds_feedback"))}
    finally:
        engine.dispose()
    missing = acknowledged - stored
    assert not missing, f"{len(missing)} acknowledged feedback items are not in the database"
    print(f"load check: {len(acknowledged)} acknowledged feedback items, all stored")
