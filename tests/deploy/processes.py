"""Real service processes for the deployment tests: ``cds-service serve`` as a pod runs it.

Each :class:`ServiceProcess` is started in its own session, so that the uvicorn supervisor and
its worker processes form one process group: ``kill(SIGKILL)`` takes the whole "pod" down at
once, as a container runtime does, instead of leaving orphaned workers on the socket.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.server import free_loopback_port

REPO_ROOT = Path(__file__).resolve().parents[2]


def service_environment(settings: Mapping[str, str]) -> dict[str, str]:
    """The process environment: this one without any CDS_* setting, plus ``settings``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    environment.update(PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    environment.update(settings)
    return environment


def serve_command(port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cds_service",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def stop_process_group(process: subprocess.Popen[bytes] | None, first: signal.Signals) -> None:
    """Send ``first`` to the process's group, then SIGKILL if it has not exited in 10 s."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, first)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def answers_200(url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until_200(url: str, seconds: float) -> bool:
    """Poll ``url`` until it answers 200 (True) or ``seconds`` pass (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers_200(url):
            return True
        time.sleep(0.1)
    return False


@dataclass
class ServiceProcess:
    """One replica: a process group listening on ``127.0.0.1:port``."""

    name: str
    settings: dict[str, str]
    log_dir: Path
    workers: int = 2
    port: int = field(default_factory=free_loopback_port)
    wrapper: Sequence[str] = ()
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self, wait_seconds: float = 60.0) -> None:
        """Start (or restart, on the same port) and wait until ``/healthz`` answers."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n--- start {self.starts} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [*self.wrapper, *serve_command(self.port, self.workers)],
                cwd=REPO_ROOT,
                env=service_environment(self.settings),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up:\n{self.log_tail()}")
            if answers_200(f"{self.url}/healthz", timeout=1):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"{self.name} did not answer within {wait_seconds} s:\n{self.log_tail()}"
        )

    def kill(self) -> None:
        """``kill -9`` of the whole process group (supervisor and workers), as on pod loss."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Graceful stop (SIGTERM, as Kubernetes sends), then SIGKILL after 10 s."""
        stop_process_group(self.process, signal.SIGTERM)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
