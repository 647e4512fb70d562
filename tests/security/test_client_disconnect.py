"""A client that hangs up mid-upload is not a server error (issue 11).

It was logged as "unhandled error" at ERROR and counted as status 500 in
``cds_requests_total``, so every impatient EHR looked like a service failure on the
dashboards. Now it is counted as status 499 (nginx's "client closed request") and logged at
INFO; nothing is sent, as nobody is listening.
"""

from __future__ import annotations

import logging
import socket
import time

import httpx
import pytest

from tests.support.server import LiveServer

PATH = "/cds-services/natalizumab-order-sign"


def _count(server: LiveServer, status: str) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=5).text
    prefix = (
        f'cds_requests_total{{route="service",service="natalizumab-order-sign",status="{status}"}}'
    )
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_hanging_up_mid_body_is_499_at_info(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cds_service")
    port = int(live_server.url.rsplit(":", 1)[1])
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                'Content-Length: 5000\r\n\r\n{"hook": '.encode()
            )
            time.sleep(0.1)
    deadline = time.monotonic() + 10
    while _count(live_server, "499") < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _count(live_server, "499") == 3
    assert _count(live_server, "500") == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    disconnects = [r for r in caplog.records if getattr(r, "status", None) == 499]
    assert len(disconnects) == 3 and all(r.levelno == logging.INFO for r in disconnects)
