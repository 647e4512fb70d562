"""``cds-service serve`` as a real process (or several workers) on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.server import free_loopback_port


@contextmanager
def service_process(
    env: Mapping[str, str | None],
    *,
    workers: int = 1,
    cwd: Path | None = None,
    log: Path | None = None,
) -> Iterator[str]:
    """Start ``python -m cds_service serve`` with ``env`` added (None: removed); yield its URL."""
    port = free_loopback_port()
    command = [sys.executable, "-m", "cds_service", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    output = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    environment = {**os.environ, "CDS_LOG_LEVEL": "WARNING"}
    for name, value in env.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    process = subprocess.Popen(
        command,
        env=environment,
        cwd=cwd,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"cds-service exited with {process.returncode}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"cds-service did not start on {url}")
            time.sleep(0.1)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if log:
            output.close()  # type: ignore[union-attr]
