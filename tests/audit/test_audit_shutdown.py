"""Queued audit records are written on graceful shutdown: SIGTERM to a real ``cds-service``.

The flush interval is an hour, so nothing is written while the server runs; every row found
after the process exits was written by the shutdown flush.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.audit.support import audit_tables, wait_for
from tests.contract.builders import hook_request
from tests.support.server import free_loopback_port

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_sigterm_flushes_the_queued_audit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    port = free_loopback_port()
    env = {
        **os.environ,
        "CDS_DATABASE_URL": url,
        "CDS_AUDIT_FLUSH_INTERVAL_S": "3600",
        "CDS_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "cds_service", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, timeout=30)
        instances = []
        shown = 0
        for hook in ("order-sign", "order-select", "medication-prescribe"):
            body = hook_request(hook)
            service = {
                "order-sign": "natalizumab-order-sign",
                "order-select": "natalizumab-order-select",
                "medication-prescribe": "natalizumab-medication-prescribe",
            }[hook]
            response = httpx.post(f"{base}/cds-services/{service}", json=body, timeout=30)
            assert response.status_code == 200
            shown += len(response.json()["cards"])
            instances.append(body["hookInstance"])
        assert audit_tables(url)["cds_audit_call"] == []  # still queued in memory
        process.send_signal(signal.SIGTERM)
        # Uvicorn shuts down gracefully, then re-raises the signal it caught: exit by SIGTERM.
        assert process.wait(timeout=30) in {0, -signal.SIGTERM}
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()
    tables = audit_tables(url)
    assert sorted(row["hook_instance"] for row in tables["cds_audit_call"]) == sorted(instances)
    assert len(tables["cds_audit_card"]) == shown
