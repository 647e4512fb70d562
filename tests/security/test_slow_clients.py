"""Clients that never finish sending their body are dropped in time, and are few at once.

Raw sockets on loopback send the headers and half of the promised body, then hold. The red
team's 500 such connections were all still open after 30 s (issue 11). Now each is answered
``408`` (or ``503`` when it never got one of the ``CDS_MAX_CONCURRENT_UPLOADS`` upload
slots) with ``Connection: close`` and closed once ``CDS_BODY_READ_TIMEOUT_S`` has passed,
while the service keeps answering everyone else. Counts are bounded; nothing leaves loopback.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from cds_service.config import Settings
from tests.contract.builders import hook_request
from tests.support.server import LiveServer

PATH = "/cds-services/natalizumab-order-sign"


def half_a_body(port: int, declared: int = 2_000, sent: int = 1_000) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    ).encode()
    sock.sendall(head + b"{" + b" " * (sent - 1))
    return sock


def answer_and_close(sock: socket.socket, within_s: float) -> tuple[int | None, bytes, bool]:
    """(status, body, closed by the server) as seen within ``within_s`` seconds."""
    sock.settimeout(0.1)
    data = b""
    closed = False
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head.startswith(b"HTTP/1.1 ") else None
    return status, body, closed


@contextmanager
def slow_clients(port: int, count: int) -> Iterator[list[socket.socket]]:
    with ExitStack() as stack:
        sockets = [stack.enter_context(half_a_body(port)) for _ in range(count)]
        yield sockets


def _port(server: LiveServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def test_a_half_sent_body_is_answered_408_and_closed(
    tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer]
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}", body_read_timeout_s=1.0)
    server = live_server_factory(settings)
    started = time.monotonic()
    with slow_clients(_port(server), 20) as sockets:
        # Meanwhile the service answers others at once.
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
        assert (
            httpx.post(
                f"{server.url}{PATH}", json=hook_request("order-sign"), timeout=5
            ).status_code
            == 200
        )
        outcomes = [answer_and_close(sock, within_s=4.0) for sock in sockets]
    elapsed = time.monotonic() - started
    for status, body, closed in outcomes:
        assert status == 408 and closed
        assert json.loads(body)["error"] == "body_timeout"
    assert elapsed < 6.0


def _uploads(server: LiveServer) -> dict[str, float]:
    text = httpx.get(f"{server.url}/metrics", timeout=5).text
    found = {}
    for line in text.splitlines():
        if line.startswith("cds_uploads{"):
            state = line.split('state="', 1)[1].split('"', 1)[0]
            found[state] = float(line.rsplit(" ", 1)[1])
    return found


def test_slow_uploads_are_capped_and_the_rest_wait_their_turn(
    tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer]
) -> None:
    """Two upload slots, six slow clients: two are read, four wait; all are let go in time."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'f.db'}",
        body_read_timeout_s=2.0,
        max_concurrent_uploads=2,
    )
    server = live_server_factory(settings)
    started = time.monotonic()
    with slow_clients(_port(server), 6) as sockets:
        time.sleep(0.5)
        assert _uploads(server) == {"reading": 2.0, "waiting": 4.0}
        outcomes = [answer_and_close(sock, within_s=6.0) for sock in sockets]
    assert time.monotonic() - started < 2 * settings.body_read_timeout_s + 2
    assert all(closed for _, _, closed in outcomes), outcomes
    statuses = [status for status, _, _ in outcomes]
    assert set(statuses) <= {408, 503} and 408 in statuses
    for status, body, _ in outcomes:
        expected = "body_timeout" if status == 408 else "too_many_uploads"
        assert json.loads(body)["error"] == expected
    assert _uploads(server) == {"reading": 0.0, "waiting": 0.0}
    # Slots come back: a normal call succeeds afterwards.
    response = httpx.post(f"{server.url}{PATH}", json=hook_request("order-sign"), timeout=5)
    assert response.status_code == 200


def test_a_body_sent_slowly_but_in_time_is_answered(
    tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer]
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}", body_read_timeout_s=3.0)
    server = live_server_factory(settings)
    body = json.dumps(hook_request("order-sign")).encode()
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=30) as sock:
        sock.sendall(
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        for start in range(0, len(body), len(body) // 3 + 1):
            sock.sendall(body[start : start + len(body) // 3 + 1])
            time.sleep(0.4)
        status, answer, _ = answer_and_close(sock, within_s=2.0)
    assert status == 200 and b'"cards"' in answer


def test_only_the_upload_is_timed_not_the_work(
    tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer]
) -> None:
    """A call that takes longer to evaluate than the body timeout still gets its answer."""
    from tests.security.test_heavy_call_liveness import heavy_request

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}", body_read_timeout_s=1.0)
    server = live_server_factory(settings)
    started = time.monotonic()
    response = httpx.post(f"{server.url}{PATH}", json=heavy_request(), timeout=60)
    assert response.status_code == 200
    assert time.monotonic() - started > settings.body_read_timeout_s
