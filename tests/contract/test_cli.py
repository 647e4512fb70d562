"""The command line: discovery, evaluate (no server) and serve (``python -m cds_service``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

from cds_service.protocol.services import discovery_document
from tests.contract.builders import card_topics, hook_request, other_order
from tests.support.server import free_loopback_port

# Absolute, so that the subprocesses (run in a temporary cwd) find the same interpreter.
PYTHON = os.path.abspath(sys.executable)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "cds_service", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def test_discovery_prints_the_discovery_document(tmp_path: Path) -> None:
    result = run_cli("discovery", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout) == discovery_document()


def test_evaluate_infers_the_service_from_the_hook(tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_bytes(orjson.dumps(hook_request("order-select")))
    result = run_cli("evaluate", str(request), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "natalizumab-indicated" in card_topics(orjson.loads(result.stdout))

    request.write_bytes(orjson.dumps(hook_request("order-sign", [other_order()])))
    result = run_cli("evaluate", str(request), "--service", "natalizumab-order-sign", cwd=tmp_path)
    assert result.returncode == 0
    assert orjson.loads(result.stdout) == {"cards": []}


def test_evaluate_prints_the_error_body_and_fails(tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_bytes(orjson.dumps(hook_request("order-sign")))
    result = run_cli(
        "evaluate", str(request), "--service", "natalizumab-order-select", cwd=tmp_path
    )
    assert result.returncode == 1
    assert orjson.loads(result.stdout)["error"] == "hook_mismatch"
    request.write_bytes(b"{broken")
    result = run_cli("evaluate", str(request), cwd=tmp_path)
    assert result.returncode == 1
    assert orjson.loads(result.stdout)["error"] == "invalid_json"


def test_python_m_serve_starts_the_service(tmp_path: Path) -> None:
    port = free_loopback_port()
    env = os.environ | {"CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"}
    process = subprocess.Popen(
        [PYTHON, "-m", "cds_service", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and status != 200:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
            except httpx.HTTPError:
                time.sleep(0.1)
        assert status == 200
        services = httpx.get(f"http://127.0.0.1:{port}/cds-services").json()["services"]
        assert len(services) == 3
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_serve_refuses_to_start_with_auth_on_and_no_public_base_url(tmp_path: Path) -> None:
    """Contract v2 section 0: a clear message and a non-zero exit, for one or many workers."""
    port = free_loopback_port()
    env = os.environ | {
        "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "CDS_AUTH_REQUIRED": "true",
    }
    env.pop("CDS_PUBLIC_BASE_URL", None)
    for workers in ("1", "2"):
        result = subprocess.run(
            [PYTHON, "-m", "cds_service", "serve", "--port", str(port), "--workers", workers],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, result.stderr
        assert "CDS_PUBLIC_BASE_URL" in result.stderr
        assert "Refusing to start" in result.stderr
        assert "Traceback" not in result.stderr
