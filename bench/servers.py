"""Start, check and stop the servers under test: each a uvicorn process on 127.0.0.1.

Why separate processes (not threads): the benchmark compares whole servers, and peak memory
(VmHWM) is only meaningful per process. Every server gets a free loopback port, its own log
file, and is stopped (SIGTERM, then SIGKILL) when the ``running`` context exits, even on error.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
PEER_VENV = BENCH_DIR / ".venv-healthchain"
PEER_REQUIREMENTS = BENCH_DIR / "requirements-healthchain.txt"
ORDER_SIGN = "natalizumab-order-sign"
UVICORN_FLAGS = ("--host", "127.0.0.1", "--no-access-log", "--log-level", "warning")


@dataclass(frozen=True)
class ServerSpec:
    """How to run one server: command (without host/port), hook path and health path."""

    name: str
    command: Sequence[str]
    path: str
    health_path: str
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    expect_cards: bool = False


@dataclass
class RunningServer:
    spec: ServerSpec
    process: subprocess.Popen[bytes]
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def limit_spec() -> ServerSpec:
    command = (sys.executable, "-m", "uvicorn", "bench.limit_app:app")
    return ServerSpec("limit", command, f"/cds-services/{ORDER_SIGN}", "/healthz")


def peer_spec() -> ServerSpec:
    python = str(PEER_VENV / "bin" / "python")
    command = (python, "-m", "uvicorn", "--app-dir", str(BENCH_DIR), "peer_healthchain:app")
    return ServerSpec("peer", command, f"/cds/cds-services/{ORDER_SIGN}", "/health")


def service_spec(database_dir: Path, workers: int = 1) -> ServerSpec:
    command: tuple[str, ...] = (
        sys.executable,
        "-m",
        "uvicorn",
        "cds_service.app:create_app",
        "--factory",
    )
    if workers > 1:
        command += ("--workers", str(workers))
    name = "service" if workers == 1 else f"service-{workers}w"
    env = {"CDS_DATABASE_URL": f"sqlite:///{database_dir / f'{name}.db'}"}
    path = f"/cds-services/{ORDER_SIGN}"
    return ServerSpec(name, command, path, "/healthz", workers, env, expect_cards=True)


def wrap_command(cpus: str | None, nice: int) -> list[str]:
    """``taskset``/``nice`` prefixes: both exec the real program, so its pid stays the same."""
    prefix: list[str] = []
    if nice:
        prefix += ["nice", "-n", str(nice)]
    if cpus:
        prefix += ["taskset", "-c", cpus]
    return prefix


def ensure_peer_venv() -> None:
    """Create ``bench/.venv-healthchain`` from the pinned requirements when missing or stale."""
    marker = PEER_VENV / "bench-requirements.txt"
    wanted = PEER_REQUIREMENTS.read_text()
    if marker.exists() and marker.read_text() == wanted:
        return
    print(f"creating {PEER_VENV} (HealthChain peer) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEER_VENV)], check=True)
    pip = [str(PEER_VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "-r", str(PEER_REQUIREMENTS)], check=True, timeout=600)
    marker.write_text(wanted)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early with code {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server not healthy at {url} after {timeout_s:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextlib.contextmanager
def running(
    spec: ServerSpec, log_dir: Path, cpus: str | None, nice: int = 0
) -> Iterator[RunningServer]:
    """Run ``spec`` on a free port until exit, pinned to ``cpus`` and reniced when asked."""
    port = free_loopback_port()
    argv = [*spec.command, *UVICORN_FLAGS, "--port", str(port)]
    argv = [*wrap_command(cpus, nice), *argv]
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **spec.env}
    with (log_dir / f"{spec.name}.log").open("wb") as log:
        process = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=log, stderr=log)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url + spec.health_path, process)
            yield RunningServer(spec, process, url)
        finally:
            _stop(process)


def check_answer(server: RunningServer, body: bytes, natalizumab: bool = True) -> list[str]:
    """POST one request and return the card summaries; fail loudly on a wrong answer.

    A benchmark of a server that answers errors (or, for the service, no cards for a
    natalizumab order, or cards for another drug) would time the wrong thing, so every server
    is checked once per request body before it is loaded.
    """
    response = httpx.post(
        server.url + server.spec.path,
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    if response.status_code != 200:
        raise RuntimeError(
            f"{server.spec.name}: HTTP {response.status_code}: {response.text[:300]}"
        )
    cards = response.json().get("cards")
    if not isinstance(cards, list) or (server.spec.expect_cards and natalizumab and not cards):
        raise RuntimeError(f"{server.spec.name}: expected cards, got {response.text[:300]}")
    if cards and not natalizumab:
        raise RuntimeError(f"{server.spec.name}: expected no cards, got {response.text[:300]}")
    return [str(card.get("summary", "")) for card in cards]


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            for child in task.read_text().split():
                found.append(int(child))
                found.extend(_descendants(int(child)))
    return found


def _status_kb(pid: int, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(server: RunningServer) -> float:
    """User + system CPU consumed so far by the server and its workers (from /proc/<pid>/stat).

    CPU per request is immune to other processes competing for the cores, unlike latency,
    so it is the fairest number to compare servers on a shared machine.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in [server.pid, *_descendants(server.pid)]:
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / ticks


def peak_rss_mib(server: RunningServer) -> dict[str, float]:
    """Peak resident memory (VmHWM) of the server process and its largest worker, in MiB.

    With ``nice``/``taskset`` in front the Popen pid is still uvicorn's (both exec), and
    with ``--workers`` the workers are its children.
    """
    pids = [server.pid, *_descendants(server.pid)]
    peaks = {pid: _status_kb(pid, "VmHWM") / 1024 for pid in pids}
    return {
        "process_mib": round(peaks[server.pid], 1),
        "max_worker_mib": round(max(peaks.values()), 1),
        "sum_mib": round(sum(peaks.values()), 1),
    }
