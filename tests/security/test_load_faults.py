"""Bounded load with faults: a flaky FHIR server and a feedback-database outage mid-run.

16 workers send at most 400 requests (and stop after 60 s) to the real server on loopback:
hook calls without prefetch, so the service fetches everything from a stand-in FHIR server
that answers slowly, with errors, with garbage or drops the connection at random; feedback
posts; and readiness probes. Meanwhile the feedback database goes away and comes back:

* SQLite (default): the pool is closed and the database's directory is moved away for a
  few seconds, so every new connection fails, then moved back;
* PostgreSQL (``CDS_TEST_POSTGRES_URL`` set): the cluster serving that port is stopped and
  started again with ``pg_ctlcluster`` (or the command in ``CDS_TEST_PG_RESTART``).

Asserted: no 5xx except 503 from /readyz and from feedback during the outage (always the JSON
error body, never a 500), hook calls answer 200 or 412, and no acknowledged feedback is lost:
every item of every 200 feedback answer is in the database afterwards.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import create_engine, text

from cds_service.config import Settings
from tests.security.hook_data import SERVICE_ID, fhir_resources, order_sign_request
from tests.support.databases import drop_service_tables
from tests.support.server import LiveServer

WORKERS = 16
MAX_REQUESTS = 400
MAX_SECONDS = 60.0
OUTAGE_AFTER = 100  # requests completed before the database goes away
OUTAGE_SECONDS = 3.0
POSTGRES_URL = os.environ.get("CDS_TEST_POSTGRES_URL")


class FlakyFhirHandler(BaseHTTPRequestHandler):
    server: FlakyFhirServer

    def do_GET(self) -> None:
        fate = self.server.fate()
        if fate == "drop":
            self.close_connection = True
            self.connection.close()
            return
        if fate == "slow":
            time.sleep(self.server.pick(0.3, 2.0))
        if fate == "error":
            self._answer(503, b'{"resourceType":"OperationOutcome"}')
            return
        if fate == "garbage":
            self._answer(200, b'{"resourceType": "Bundle", "entry": [')
            return
        self._answer(200, json.dumps(self.server.document(self.path)).encode())

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class FlakyFhirServer(ThreadingHTTPServer):
    """Serves the test patient; each answer is fast, slow, an error, garbage or a drop."""

    daemon_threads = True
    FATES = ("ok",) * 11 + ("slow",) * 3 + ("error",) * 3 + ("drop",) * 2 + ("garbage",)

    def __init__(self, seed: int) -> None:
        super().__init__(("127.0.0.1", 0), FlakyFhirHandler)
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.resources = fhir_resources()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/fhir"

    def fate(self) -> str:
        with self._lock:
            return self._random.choice(self.FATES)

    def pick(self, low: float, high: float) -> float:
        with self._lock:
            return self._random.uniform(low, high)

    def document(self, path: str) -> dict[str, Any]:
        kind = urlsplit(path).path.split("/")[2]
        if kind == "Patient":
            return self.resources[0]
        matches = [r for r in self.resources if r["resourceType"] == kind]
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": r} for r in matches],
        }

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Dropped connections are the point of this server: no traceback on stderr."""

    def __enter__(self) -> FlakyFhirServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


@dataclass
class Outcome:
    kind: str  # service, feedback, readyz
    status: int
    body: Any
    started: float
    cards: list[str] = field(default_factory=list)


class Outage:
    """Takes the feedback database away once, for a few seconds, and brings it back."""

    def __init__(self, live: LiveServer, database_dir: Path | None) -> None:
        self.live = live
        self.database_dir = database_dir
        self.began = self.ended = float("nan")
        self.claimed = False
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        app: Any = self.live.server.config.app
        store = app.state.feedback_store
        self.began = time.monotonic()
        try:
            if POSTGRES_URL:
                restart_postgres(OUTAGE_SECONDS)
            else:
                assert self.database_dir is not None
                away = self.database_dir.with_name("moved-away")
                store.engine.dispose()
                self.database_dir.rename(away)
                time.sleep(OUTAGE_SECONDS)
                away.rename(self.database_dir)
        except BaseException as error:  # reported by the test, not lost in the thread
            self.error = error
        finally:
            self.ended = time.monotonic()
            self.done.set()


def restart_postgres(down_seconds: float) -> None:
    """Stop the PostgreSQL server of ``CDS_TEST_POSTGRES_URL`` and start it again."""
    custom = os.environ.get("CDS_TEST_PG_RESTART")
    if custom:
        subprocess.run(shlex.split(custom), check=True, timeout=60)
        return
    port = str(urlsplit(POSTGRES_URL or "").port or 5432)
    listing = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True)
    cluster = next(
        line.split()[:2] for line in listing.stdout.splitlines() if line.split()[2] == port
    )
    subprocess.run(["pg_ctlcluster", *cluster, "stop", "-m", "fast"], check=True, timeout=60)
    time.sleep(down_seconds)
    subprocess.run(["pg_ctlcluster", *cluster, "start"], check=True, timeout=60)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[str, Path | None]]:
    if POSTGRES_URL:
        if not os.environ.get("CDS_TEST_PG_RESTART") and shutil.which("pg_ctlcluster") is None:
            pytest.skip("no way to restart PostgreSQL (pg_ctlcluster or CDS_TEST_PG_RESTART)")
        drop_service_tables(POSTGRES_URL)  # the schema is migrated afresh at start-up
        yield POSTGRES_URL, None
        return
    directory = tmp_path / "db"
    directory.mkdir()
    yield f"sqlite:///{directory / 'feedback.db'}", directory


def stored_cards(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {row[0] for row in conn.execute(text("SELECT card_uuid FROM cds_feedback"))}
    finally:
        engine.dispose()


def feedback_items(count: int) -> list[dict[str, Any]]:
    return [
        {
            "card": str(uuid.uuid4()),
            "outcome": "overridden",
            "overrideReason": {"reason": {"code": "patient-aware", "system": "urn:test"}},
            "outcomeTimestamp": "2026-11-26T02:00:00Z",
        }
        for _ in range(count)
    ]


def test_load_with_flaky_fhir_server_and_database_outage(
    database: tuple[str, Path | None], live_server_factory: Callable[[Settings], LiveServer]
) -> None:
    database_url, database_dir = database
    with FlakyFhirServer(seed=20261126) as fhir:
        live = live_server_factory(
            Settings(
                database_url=database_url,
                allowed_fhir_servers=[fhir.base_url],
                fhir_total_timeout_s=1.0,
                fhir_connect_timeout_s=0.5,
                log_level="ERROR",
            )
        )
        outage = Outage(live, database_dir)
        outcomes: list[Outcome] = []
        lock = threading.Lock()
        issued = 0
        deadline = time.monotonic() + MAX_SECONDS
        rng = random.Random(7)

        def next_kind() -> str | None:
            nonlocal issued
            with lock:
                if issued >= MAX_REQUESTS or time.monotonic() > deadline:
                    return None
                issued += 1
                if len(outcomes) >= OUTAGE_AFTER and not outage.claimed:
                    outage.claimed = True
                    threading.Thread(target=outage.run, daemon=True).start()
                roll = rng.random()
            return "readyz" if roll < 0.08 else "feedback" if roll < 0.45 else "service"

        def worker() -> None:
            with httpx.Client(base_url=live.url, timeout=30) as client:
                while (kind := next_kind()) is not None:
                    started = time.monotonic()
                    cards: list[str] = []
                    if kind == "service":
                        body = order_sign_request(prefetch=False, fhir_server=fhir.base_url)
                        response = client.post(f"/cds-services/{SERVICE_ID}", json=body)
                    elif kind == "feedback":
                        items = feedback_items(rng.randint(1, 3))
                        cards = [item["card"] for item in items]
                        response = client.post(
                            f"/cds-services/{SERVICE_ID}/feedback", json={"feedback": items}
                        )
                    else:
                        response = client.get("/readyz")
                    outcome = Outcome(kind, response.status_code, response.json(), started, cards)
                    with lock:
                        outcomes.append(outcome)

        run_started = time.monotonic()
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            for future in [pool.submit(worker) for _ in range(WORKERS)]:
                future.result()
        elapsed = time.monotonic() - run_started
        assert outage.done.wait(timeout=120), "the outage never ran"
        assert outage.error is None, f"the outage could not be staged: {outage.error!r}"

    allowed = {"service": {200, 412}, "feedback": {200, 503}, "readyz": {200, 503}}
    wrong = [(o.kind, o.status, o.body) for o in outcomes if o.status not in allowed[o.kind]]
    assert wrong == []
    for o in outcomes:
        if o.status >= 400:
            assert isinstance(o.body.get("error"), str) and isinstance(o.body.get("message"), str)

    by_kind_status: dict[tuple[str, int], int] = {}
    for o in outcomes:
        by_kind_status[(o.kind, o.status)] = by_kind_status.get((o.kind, o.status), 0) + 1
    print(f"\nload: {len(outcomes)} requests in {elapsed:.1f} s: {sorted(by_kind_status.items())}")
    assert len(outcomes) <= MAX_REQUESTS
    # The faults really happened, and the service recovered from the outage.
    assert by_kind_status.get(("service", 200), 0) > 0
    assert by_kind_status.get(("service", 412), 0) > 0
    assert by_kind_status.get(("feedback", 503), 0) > 0, "no feedback call saw the outage"
    assert any(
        o.kind == "feedback" and o.status == 200 and o.started > outage.ended for o in outcomes
    )

    acknowledged = {
        card for o in outcomes if o.kind == "feedback" and o.status == 200 for card in o.cards
    }
    for o in outcomes:
        if o.kind == "feedback" and o.status == 200:
            assert o.body == {"stored": len(o.cards), "duplicates": 0}
    missing = acknowledged - stored_cards(database_url)
    assert missing == set(), f"{len(missing)} acknowledged feedback items lost"
