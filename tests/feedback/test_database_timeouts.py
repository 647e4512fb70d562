"""A database that does not answer: /readyz within 2 s, feedback 503 within its timeout.

Three kinds of "not answering", none of them "down" (a refused connection fails at once):

* a loopback listener that accepts connections and never says a word (a PostgreSQL URL
  pointing at it): only connect timeouts end the wait;
* SQLite locked by another writer: only the busy timeout ends the wait;
* a real PostgreSQL frozen with SIGSTOP after the service has connected (``postgres``
  marker): the pooled connection is open and silent; only a deadline kept by the service
  itself ends the wait, because a frozen server cannot enforce its statement_timeout.

Feedback answered 503 is retry-safe: storing is idempotent, so a write that the frozen
database completes later is counted as a duplicate when the EHR resends it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from cds_service.config import Settings
from tests.support.server import LiveServer
from tests.support.silent import SilentListener

SIGN = "natalizumab-order-sign"
READY_WITHIN_S = 2.0
POSTGRES_URL = os.environ.get("CDS_TEST_POSTGRES_URL")


def item(card: str | None = None) -> dict[str, Any]:
    return {
        "card": card or str(uuid.uuid4()),
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-26T02:00:00Z",
    }


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def feedback(server: LiveServer, items: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(
        f"{server.url}/cds-services/{SIGN}/feedback", json={"feedback": items}, timeout=60
    )


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "feedback_store_unavailable"
    assert int(response.headers["retry-after"]) > 0


def test_a_database_that_never_answers(
    live_server_factory: Callable[[Settings], LiveServer],
) -> None:
    with SilentListener() as silent:
        settings = Settings(
            database_url=f"postgresql+psycopg://cds@127.0.0.1:{silent.port}/cds",
            db_connect_timeout_s=1.0,
            db_statement_timeout_s=3.0,
            log_level="CRITICAL",
        )
        started = time.monotonic()
        server = live_server_factory(settings)  # the start itself must not wait for it
        assert time.monotonic() - started < 10

        ready, ready_s = timed(lambda: httpx.get(f"{server.url}/readyz", timeout=30))
        assert ready.status_code == 503 and ready_s < READY_WITHIN_S

        answer, answer_s = timed(lambda: feedback(server, [item()]))
        assert_unavailable(answer)
        assert answer_s < settings.db_statement_timeout_s + 1.0
        assert silent.connections >= 1  # it really was contacted, and stayed silent

        # Still bounded when many probes arrive while earlier calls are stuck.
        for _ in range(5):
            ready, ready_s = timed(lambda: httpx.get(f"{server.url}/readyz", timeout=30))
            assert ready.status_code == 503 and ready_s < READY_WITHIN_S


def test_sqlite_locked_by_another_writer(
    tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer]
) -> None:
    database = tmp_path / "feedback.db"
    settings = Settings(database_url=f"sqlite:///{database}", db_statement_timeout_s=1.0)
    server = live_server_factory(settings)
    card = str(uuid.uuid4())
    assert feedback(server, [item()]).status_code == 200  # schema created, pool warm

    blocker = sqlite3.connect(database, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        answer, answer_s = timed(lambda: feedback(server, [item(card)]))
        assert_unavailable(answer)
        assert answer_s < settings.db_statement_timeout_s + 1.5
        ready, ready_s = timed(lambda: httpx.get(f"{server.url}/readyz", timeout=30))
        assert ready.status_code in {200, 503} and ready_s < READY_WITHIN_S
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    resent = feedback(server, [item(card)])  # the EHR retries: stored exactly once
    assert resent.status_code == 200
    assert resent.json()["stored"] + resent.json()["duplicates"] == 1


# --- a frozen PostgreSQL ---------------------------------------------------------------


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == parent:
                    found.append(int(entry.name))
    return found


def _postgres_processes(url: str) -> list[int]:
    """The postmaster serving ``url`` and all its children, found from a backend's parent."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            backend = int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
    finally:
        engine.dispose()
    status = Path(f"/proc/{backend}/status")
    if not status.exists():
        pytest.skip("the PostgreSQL server is not a local process; it cannot be frozen here")
    parent = next(
        int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("PPid")
    )
    return [parent, *_children(parent)]


@contextlib.contextmanager
def frozen(pids: list[int]) -> Iterator[None]:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="CDS_TEST_POSTGRES_URL is not set")
def test_a_frozen_postgres(live_server_factory: Callable[[Settings], LiveServer]) -> None:
    assert POSTGRES_URL is not None
    settings = Settings(
        database_url=POSTGRES_URL,
        db_connect_timeout_s=1.0,
        db_statement_timeout_s=2.0,
        log_level="CRITICAL",
    )
    server = live_server_factory(settings)
    assert feedback(server, [item()]).status_code == 200  # connected: the pool holds it
    card = str(uuid.uuid4())
    with frozen(_postgres_processes(POSTGRES_URL)):
        answer, answer_s = timed(lambda: feedback(server, [item(card)]))
        assert_unavailable(answer)
        assert answer_s < settings.db_statement_timeout_s + 1.0
        for _ in range(3):
            ready, ready_s = timed(lambda: httpx.get(f"{server.url}/readyz", timeout=30))
            assert ready.status_code == 503 and ready_s < READY_WITHIN_S
    deadline = time.monotonic() + 30
    while httpx.get(f"{server.url}/readyz", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "the service did not recover after the freeze"
        time.sleep(0.2)
    resent = feedback(server, [item(card)])
    assert resent.status_code == 200
    assert resent.json()["stored"] + resent.json()["duplicates"] == 1


def test_the_jti_store_gives_up_in_time_too() -> None:
    """With CDS_JTI_STORE=database every authenticated call checks it: bounded as well."""
    import asyncio

    from cds_service.database import DatabaseTimeouts
    from cds_service.protocol.jti import DatabaseJtiStore, JtiStoreUnavailable

    with SilentListener() as silent:
        store = DatabaseJtiStore(
            f"postgresql+psycopg://cds@127.0.0.1:{silent.port}/cds",
            timeouts=DatabaseTimeouts(connect_s=1.0, statement_s=2.0),
        )
        started = time.monotonic()
        with pytest.raises(JtiStoreUnavailable):
            asyncio.run(store.remember("key", time.time() + 60, time.time()))
        assert time.monotonic() - started < 3.0
        store.dispose()
