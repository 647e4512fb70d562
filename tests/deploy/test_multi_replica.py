"""Several replicas behave as one service: two real service processes behind nginx.

Slow suite only (``pytest -m slow tests/deploy``; README, "Running at scale"). Set-up, all on
loopback: one PostgreSQL (``CDS_TEST_POSTGRES_URL``, the cluster ``.ci/run`` starts; a fresh
database is created in it for this module), two replicas each running
``cds-service serve --workers 2`` with ``CDS_JTI_STORE=database`` and CDS Hooks JWT
authentication on (a test issuer whose JWK Set is a ``file://`` path), both with
``CDS_PUBLIC_BASE_URL`` = the balancer's URL, and Debian's nginx in front of them
(:mod:`tests.deploy.balancer`, which documents the retry policy).

(a) a JWT accepted by one replica is refused (401) when replayed to the other;
(b) the same feedback sent to both replicas, one after the other and at the same instant, is
    stored once;
(c) ``kill -9`` of one replica's process group during a 60-second load of hook and feedback
    calls (at most 20,000 requests): no acknowledged feedback is lost (rows checked), every
    answer is right or a retriable error (502/503/504 or a connection error -- never a 500,
    a 401 or a wrong card), nginx routes around the dead replica, and the replica takes
    traffic again once restarted;
(d) a replica whose database is unreachable is alive but reports not ready.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from cds_service.examples import Example, example_names, load_example
from tests.deploy.balancer import Balancer, find_nginx
from tests.deploy.processes import ServiceProcess, wait_until_200
from tests.security.jwt_support import ISSUER, EhrIssuer
from tests.support.server import free_loopback_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

POSTGRES_URL = os.environ.get("CDS_TEST_POSTGRES_URL")
UNAUTHORIZED = {"error": "unauthorized", "message": "Authentication failed."}

CLIENTS = 8
LOAD_SECONDS = 60.0
LOAD_MAX_REQUESTS = 20_000
KILL_AT = 15.0  # seconds into the load
RESTART_AT = 30.0
RETRIABLE_STATUSES = {502, 503, 504}
FEEDBACK_SHARE = 0.4


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def _unavailable(message: str) -> None:
    if _in_ci():
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Cluster:
    """Two replicas, the balancer in front, and the database they share."""

    issuer: EhrIssuer
    database_url: str
    balancer: Balancer
    replicas: list[ServiceProcess]
    examples: list[Example]
    baseline: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.balancer.url

    def token(self, path: str) -> str:
        return self.issuer.token(aud=f"{self.base_url}{path}")

    def post(
        self, client: httpx.Client, url: str, path: str, body: Any, token: str | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token(path)}"}
        return client.post(f"{url}{path}", json=body, headers=headers)

    def stored_counts(self, cards: set[str]) -> Counter[str]:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT card_uuid FROM cds_feedback")).all()
        finally:
            engine.dispose()
        return Counter(row[0] for row in rows if row[0] in cards)


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A database of its own in the CI cluster, dropped afterwards."""
    if not POSTGRES_URL:
        _unavailable("CDS_TEST_POSTGRES_URL is not set (bash .ci/run starts a PostgreSQL)")
    assert POSTGRES_URL is not None
    name = f"cds_multi_replica_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def replica_settings(issuer_jwks: str, database_url: str, base_url: str) -> dict[str, str]:
    return {
        "CDS_DATABASE_URL": database_url,
        "CDS_JTI_STORE": "database",
        "CDS_AUTH_REQUIRED": "true",
        "CDS_TRUSTED_ISSUERS": f'{{"{ISSUER}": "{issuer_jwks}"}}',
        "CDS_PUBLIC_BASE_URL": base_url,
        "CDS_DEMO_ENABLED": "false",
        "CDS_LOG_LEVEL": "WARNING",
    }


def hook_examples(now: datetime) -> list[Example]:
    """Every example story, across the three services: data this test did not write."""
    return [load_example(name, now) for name in example_names()]


def topics(response: httpx.Response) -> set[tuple[str, str]]:
    return {(c["source"]["topic"]["code"], c["indicator"]) for c in response.json()["cards"]}


@pytest.fixture(scope="module")
def cluster(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    nginx = find_nginx()
    if nginx is None:
        _unavailable("nginx is not installed (bash .ci/run installs Debian's nginx)")
    assert nginx is not None
    folder = tmp_path_factory.mktemp("multi-replica")
    issuer = EhrIssuer.create()
    jwks = issuer.write_jwks(folder / "jwks.json")
    balancer_port = free_loopback_port()
    base_url = f"http://127.0.0.1:{balancer_port}"
    settings = replica_settings(jwks, database_url, base_url)
    replicas = [
        ServiceProcess(name=f"replica-{n}", settings=settings, log_dir=folder) for n in (1, 2)
    ]
    balancer = Balancer(
        prefix=folder / "nginx",
        upstreams=[r.port for r in replicas],
        binary=nginx,
        port=balancer_port,
    )
    examples = hook_examples(datetime.now(UTC))
    started: list[ServiceProcess | Balancer] = []
    try:
        for replica in replicas:
            replica.start()
            started.append(replica)
        balancer.start()
        started.append(balancer)
        yield Cluster(issuer, database_url, balancer, replicas, examples)
    finally:
        for process in reversed(started):
            process.stop()
        for replica in replicas:
            print(f"\n--- {replica.name} log (tail) ---\n{replica.log_tail(15)}")


def wait_ready(url: str, seconds: float = 30.0) -> None:
    assert wait_until_200(f"{url}/readyz", seconds), f"{url} never became ready"


def test_both_replicas_are_ready_and_answer_alike(cluster: Cluster) -> None:
    """The baseline for (c): each story gets the same cards from either replica."""
    one, two = cluster.replicas
    for replica in cluster.replicas:
        wait_ready(replica.url)
    with httpx.Client(timeout=30) as client:
        for example in cluster.examples:
            path = f"/cds-services/{example.service}"
            first = cluster.post(client, one.url, path, example.request)
            second = cluster.post(client, two.url, path, example.request)
            assert first.status_code == second.status_code == 200, (example.name, first.text)
            assert topics(first) == topics(second) == example.expected_cards, example.name
            cluster.baseline[example.name] = topics(first)


# --- (a) the replay store is shared ---------------------------------------------------------


def test_a_token_accepted_by_one_replica_is_refused_by_the_other(cluster: Cluster) -> None:
    one, two = cluster.replicas
    example = next(e for e in cluster.examples if e.service == "natalizumab-order-sign")
    path = f"/cds-services/{example.service}"
    with httpx.Client(timeout=30) as client:
        token = cluster.token(path)
        accepted = cluster.post(client, one.url, path, example.request, token)
        assert accepted.status_code == 200, accepted.text
        replayed = cluster.post(client, two.url, path, example.request, token)
        assert (replayed.status_code, replayed.json()) == (401, UNAUTHORIZED)
        # Control: the other replica accepts a fresh token, so the 401 was the replay.
        assert cluster.post(client, two.url, path, example.request).status_code == 200
        # And the other way round, on discovery (a GET), and through the balancer.
        discovery = cluster.token("/cds-services")
        headers = {"Authorization": f"Bearer {discovery}"}
        assert client.get(f"{two.url}/cds-services", headers=headers).status_code == 200
        assert client.get(f"{one.url}/cds-services", headers=headers).status_code == 401
        token = cluster.token(path)
        through = [
            cluster.post(client, cluster.base_url, path, example.request, token).status_code
            for _ in range(3)
        ]
        assert through == [200, 401, 401]


# --- (b) feedback is stored once, whichever replica gets it ---------------------------------


def feedback_item(card: str | None = None) -> dict[str, Any]:
    return {
        "card": card or str(uuid.uuid4()),
        "outcome": "overridden",
        "overrideReason": {
            "reason": {
                "code": "patient-aware",
                "system": "https://natalizumab-cds.example/fhir/CodeSystem/override-reason",
            }
        },
        "outcomeTimestamp": "2026-11-26T02:00:00Z",
    }


def test_the_same_feedback_sent_to_both_replicas_is_stored_once(cluster: Cluster) -> None:
    one, two = cluster.replicas
    path = "/cds-services/natalizumab-order-sign/feedback"
    sequential = feedback_item()
    with httpx.Client(timeout=30) as client:
        first = cluster.post(client, one.url, path, {"feedback": [sequential]})
        second = cluster.post(client, two.url, path, {"feedback": [sequential]})
    assert first.json() == {"stored": 1, "duplicates": 0}
    assert second.json() == {"stored": 0, "duplicates": 1}

    # At the same instant: 20 items, each sent to both replicas by two threads at a barrier.
    items = [feedback_item() for _ in range(20)]
    barrier = threading.Barrier(2)

    def send(replica: ServiceProcess, item: dict[str, Any]) -> dict[str, int]:
        with httpx.Client(timeout=30) as client:
            token = cluster.token(path)
            barrier.wait(timeout=30)
            answer = cluster.post(client, replica.url, path, {"feedback": [item]}, token)
            assert answer.status_code == 200, answer.text
            result: dict[str, int] = answer.json()
            return result

    with ThreadPoolExecutor(max_workers=2) as pool:
        for item in items:
            results = list(pool.map(send, [one, two], [item, item]))
            assert sorted(r["stored"] for r in results) == [0, 1], results
            assert sum(r["duplicates"] for r in results) == 1, results

    cards = {sequential["card"], *(item["card"] for item in items)}
    counts = cluster.stored_counts(cards)
    assert counts == Counter(dict.fromkeys(cards, 1))


# --- (d) readiness follows the database ----------------------------------------------------


def test_a_replica_whose_database_is_unreachable_is_not_ready(
    cluster: Cluster, tmp_path: Path
) -> None:
    closed_port = free_loopback_port()  # nothing listens there
    settings = dict(cluster.replicas[0].settings)
    settings["CDS_DATABASE_URL"] = f"postgresql+psycopg://cds@127.0.0.1:{closed_port}/cds"
    orphan = ServiceProcess(name="no-database", settings=settings, log_dir=tmp_path)
    orphan.start()
    try:
        with httpx.Client(base_url=orphan.url, timeout=30) as client:
            assert client.get("/healthz").status_code == 200  # alive: no restart loop
            for _ in range(3):  # every worker says the same
                ready = client.get("/readyz")
                assert ready.status_code == 503
                assert ready.json()["error"] == "not_ready"
    finally:
        orphan.stop()
    # The shared database still serves the two real replicas.
    for replica in cluster.replicas:
        wait_ready(replica.url, seconds=5)


# --- (c) kill -9 of one replica under load -------------------------------------------------


@dataclass
class Outcome:
    kind: str  # hook or feedback
    started: float  # seconds since the load began
    status: int | None  # None: connection error
    error: str = ""
    upstream: str = ""
    wrong: str = ""  # why a 200 was not the right answer
    cards: list[str] = field(default_factory=list)

    @property
    def retriable(self) -> bool:
        return self.status is None or self.status in RETRIABLE_STATUSES


@dataclass
class Chaos:
    """Kills one replica at KILL_AT and restarts it at RESTART_AT (seconds into the load)."""

    replica: ServiceProcess
    began: float
    killed_at: float = float("nan")
    restarted_at: float = float("nan")
    error: BaseException | None = None

    def run(self) -> None:
        try:
            time.sleep(max(0.0, self.began + KILL_AT - time.monotonic()))
            self.replica.kill()
            self.killed_at = time.monotonic() - self.began
            time.sleep(max(0.0, self.began + RESTART_AT - time.monotonic()))
            self.replica.start()
            wait_ready(self.replica.url)
            self.restarted_at = time.monotonic() - self.began
        except BaseException as error:  # reported by the test
            self.error = error


@dataclass
class ConnectionSampler:
    """The replicas' open PostgreSQL connections, sampled twice a second during the load."""

    database_url: str
    stop: threading.Event = field(default_factory=threading.Event)
    samples: list[int] = field(default_factory=list)

    def run(self) -> None:
        engine = create_engine(self.database_url, poolclass=NullPool)
        query = text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        try:
            while not self.stop.wait(0.5):
                with engine.connect() as conn:
                    self.samples.append(int(conn.execute(query).scalar_one()))
        finally:
            engine.dispose()


def one_call(cluster: Cluster, client: httpx.Client, rng: random.Random, began: float) -> Outcome:
    started = time.monotonic() - began
    if rng.random() < FEEDBACK_SHARE:
        items = [feedback_item() for _ in range(rng.randint(1, 3))]
        outcome = Outcome("feedback", started, None, cards=[i["card"] for i in items])
        path, body = "/cds-services/natalizumab-order-sign/feedback", {"feedback": items}
    else:
        example = rng.choice(cluster.examples)
        outcome = Outcome("hook", started, None)
        path, body = f"/cds-services/{example.service}", example.request
    try:
        response = cluster.post(client, cluster.base_url, path, body)
    except httpx.TransportError as error:
        outcome.error = type(error).__name__
        return outcome
    outcome.status = response.status_code
    outcome.upstream = response.headers.get("x-upstream", "")
    if response.status_code != 200:
        return outcome
    if outcome.kind == "feedback":
        if response.json() != {"stored": len(items), "duplicates": 0}:
            outcome.wrong = f"feedback answer {response.text}"
    elif topics(response) != cluster.baseline[example.name]:
        outcome.wrong = f"{example.name}: cards {sorted(topics(response))}"
    return outcome


def test_killing_a_replica_under_load_loses_nothing_acknowledged(cluster: Cluster) -> None:
    assert cluster.baseline, "the baseline test must run first"
    victim, survivor = cluster.replicas
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    issued = 0
    began = time.monotonic()
    deadline = began + LOAD_SECONDS
    chaos = Chaos(victim, began)
    chaos_thread = threading.Thread(target=chaos.run, name="chaos", daemon=True)
    chaos_thread.start()
    sampler = ConnectionSampler(cluster.database_url)
    sampler_thread = threading.Thread(target=sampler.run, name="pg-connections", daemon=True)
    sampler_thread.start()

    def client_loop(seed: int) -> None:
        nonlocal issued
        rng = random.Random(seed)
        with httpx.Client(timeout=30) as client:
            while True:
                with lock:
                    if issued >= LOAD_MAX_REQUESTS or time.monotonic() >= deadline:
                        return
                    issued += 1
                outcome = one_call(cluster, client, rng, began)
                with lock:
                    outcomes.append(outcome)

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        for future in [pool.submit(client_loop, seed) for seed in range(CLIENTS)]:
            future.result()
    elapsed = time.monotonic() - began
    sampler.stop.set()
    sampler_thread.join(timeout=10)
    chaos_thread.join(timeout=120)
    assert chaos.error is None, f"the kill/restart failed: {chaos.error!r}"
    assert chaos.restarted_at == chaos.restarted_at, "the replica was never restarted"

    by_kind = Counter(
        (o.kind, str(o.status) if o.status is not None else f"connection error ({o.error})")
        for o in outcomes
    )
    print(
        f"\nload: {len(outcomes)} requests in {elapsed:.1f} s through nginx; "
        f"replica 1 killed at {chaos.killed_at:.1f} s, ready again at {chaos.restarted_at:.1f} s"
    )
    for (kind, status), count in sorted(by_kind.items()):
        print(f"  {kind:8} {status:32} {count}")
    if sampler.samples:
        print(
            f"  PostgreSQL connections of the replicas: at most {max(sampler.samples)}, "
            f"median {sorted(sampler.samples)[len(sampler.samples) // 2]} "
            f"({len(sampler.samples)} samples)"
        )

    for o in outcomes:
        if o.status != 200:
            print(
                f"  not 200: {o.kind} at {o.started:.2f} s: {o.status or o.error} via {o.upstream}"
            )
    # Only right answers or retriable errors: never a 500, a 401 or a wrong card.
    wrong = [o for o in outcomes if o.wrong or not (o.status == 200 or o.retriable)]
    assert wrong == [], wrong[:5]
    # nginx routed around the dead replica: only requests in flight at the kill failed.
    failures = [o for o in outcomes if o.status != 200]
    assert len(failures) <= CLIENTS, failures
    assert all(abs(o.started - chaos.killed_at) < 5.0 for o in failures), failures

    victim_address = f"127.0.0.1:{victim.port}"
    survivor_address = f"127.0.0.1:{survivor.port}"

    def served_by(o: Outcome) -> str:
        return o.upstream.split(",")[-1].strip()  # the last replica nginx tried

    before = [o for o in outcomes if o.status == 200 and o.started < chaos.killed_at]
    down = [
        o
        for o in outcomes
        if o.status == 200 and chaos.killed_at + 1 < o.started < chaos.restarted_at - 1
    ]
    after = [o for o in outcomes if o.status == 200 and o.started > chaos.restarted_at + 3]
    assert {served_by(o) for o in before} == {victim_address, survivor_address}
    assert down and {served_by(o) for o in down} == {survivor_address}
    assert any(served_by(o) == victim_address for o in after), "the replica never rejoined"

    # No acknowledged feedback lost, none stored twice.
    acknowledged = {
        c for o in outcomes if o.kind == "feedback" and o.status == 200 for c in o.cards
    }
    counts = cluster.stored_counts(acknowledged)
    missing = acknowledged - set(counts)
    doubled = {card for card, count in counts.items() if count != 1}
    print(
        f"  feedback rows checked: {len(acknowledged)} acknowledged items, "
        f"{len(missing)} missing, {len(doubled)} stored more than once"
    )
    assert missing == set() and doubled == set()
    assert len(outcomes) <= LOAD_MAX_REQUESTS
