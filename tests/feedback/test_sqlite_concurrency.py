"""The embedded SQLite store takes a hundred concurrent writers (issue 11: 503 from 40-80).

``cds-service serve --workers 2`` with the default SQLite store, 100 clients posting
feedback at once (each its own cards) while 16 more keep both workers busy with hook calls
(the CPU load is what stretched each writer's hold on the file lock): every feedback post
answers 200 and every acknowledged item is in the database afterwards. Bounded: 100 writers
x 3 posts, at most 60 s. The full load check (2,000 calls) is ``tests/security/test_load_check.py``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from bench.generate import dumps, generate_request
from tests.support.process import service_process

WRITERS = 100
POSTS_EACH = 3
HOOK_CALLERS = 16
MAX_SECONDS = 60.0


def _outcome(response: httpx.Response) -> str:
    if response.status_code == 200:
        return "200"
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):  # not JSON, or not the contract's error object
        error = "unreadable"
    return f"{response.status_code} {error}"


def _items(count: int) -> list[dict[str, Any]]:
    return [
        {
            "card": str(uuid.uuid4()),
            "outcome": "overridden",
            "outcomeTimestamp": "2026-11-26T02:00:00Z",
        }
        for _ in range(count)
    ]


def test_a_hundred_concurrent_writers_on_sqlite(tmp_path: Path) -> None:
    database = tmp_path / "cds_feedback.db"
    statuses: Counter[str] = Counter()
    acknowledged: set[str] = set()
    lock = threading.Lock()
    start = threading.Barrier(WRITERS)
    with service_process({"CDS_DATABASE_URL": f"sqlite:///{database}"}, workers=2) as url:
        assert (
            httpx.post(  # the schema exists before the stampede
                f"{url}/cds-services/natalizumab-order-sign/feedback",
                json={"feedback": _items(1)},
                timeout=30,
            ).status_code
            == 200
        )
        deadline = time.monotonic() + MAX_SECONDS

        def writer() -> None:
            with httpx.Client(base_url=url, timeout=60) as client:
                start.wait(timeout=30)
                for _ in range(POSTS_EACH):
                    if time.monotonic() > deadline:
                        return
                    items = _items(3)
                    response = client.post(
                        "/cds-services/natalizumab-order-sign/feedback", json={"feedback": items}
                    )
                    with lock:
                        # A refusal is counted with its error code, so a failure says which
                        # limit refused it (the upload gate, or the database's deadline).
                        statuses[_outcome(response)] += 1
                        if response.status_code == 200:
                            acknowledged.update(item["card"] for item in items)

        writing = threading.Event()
        writing.set()
        hook_body = dumps(generate_request(200))

        def hook_caller() -> None:
            with httpx.Client(base_url=url, timeout=60) as client:
                while writing.is_set() and time.monotonic() < deadline:
                    response = client.post(
                        "/cds-services/natalizumab-order-sign",
                        content=hook_body,
                        headers={"Content-Type": "application/json"},
                    )
                    assert response.status_code == 200

        callers = [threading.Thread(target=hook_caller) for _ in range(HOOK_CALLERS)]
        threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
        for thread in [*callers, *threads]:
            thread.start()
        for thread in threads:
            thread.join(timeout=MAX_SECONDS + 30)
        writing.clear()
        for thread in callers:
            thread.join(timeout=60)

    print(f"\nsqlite, {WRITERS} concurrent writers: {dict(statuses)}")
    assert statuses == Counter({"200": WRITERS * POSTS_EACH})
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        stored = {row[0] for row in connection.execute(text("SELECT card_uuid FROM cds_feedback"))}
    engine.dispose()
    assert acknowledged <= stored
