"""The bounded load driver: ``wrk`` with ``bench/wrk_post.lua``, loopback targets only.

Why wrk: a C load generator costs far less CPU per request than a Python client, which matters
on a 2-core machine where the client and the server share the box (the client is pinned to the
other core). Every run is capped in time (``MAX_DURATION_S``) and in count
(``MAX_REQUESTS``, enforced by the Lua script), and only 127.0.0.1 URLs are accepted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.servers import wrap_command

LUA_SCRIPT = Path(__file__).resolve().parent / "wrk_post.lua"
MAX_DURATION_S = 10.0
MAX_REQUESTS = 20_000
MARKER = "BENCH_JSON "


@dataclass(frozen=True)
class LoadResult:
    """One wrk run: latency percentiles in milliseconds and throughput in requests/s."""

    concurrency: int
    requests: int
    elapsed_s: float
    capped: bool
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    server_cpu_ms_per_request: float | None = None

    @property
    def throughput(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "throughput_rps": round(self.throughput, 1)}


def require_wrk() -> str:
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk is not installed: run `apt-get install -y wrk` (Debian) first")
    return path


def parse_wrk_output(stdout: str, concurrency: int) -> LoadResult:
    """Read the one JSON line ``wrk_post.lua`` prints in ``done()``."""
    lines = [line for line in stdout.splitlines() if line.startswith(MARKER)]
    if not lines:
        raise RuntimeError(f"wrk printed no result line:\n{stdout[-2000:]}")
    data = json.loads(lines[-1][len(MARKER) :])
    latency = data["latency_us"]
    errors = sum(data["errors"].values()) + data["non_200"]
    return LoadResult(
        concurrency=concurrency,
        requests=data["requests"],
        elapsed_s=data["elapsed_us"] / 1e6,
        capped=data["capped"],
        errors=errors,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        mean_ms=latency["mean"] / 1000,
        max_ms=latency["max"] / 1000,
    )


def run_load(
    url: str,
    body_file: Path,
    concurrency: int,
    duration_s: float,
    max_requests: int = MAX_REQUESTS,
    cpus: str | None = None,
    nice: int = 0,
    vary: str | None = None,
) -> LoadResult:
    """POST ``body_file`` to ``url`` with ``concurrency`` connections for at most ``duration_s``.

    With ``vary`` (a string of the body, e.g. the patient id) every request replaces it by a
    new string of the same length, so no request repeats an earlier one's resources.
    """
    parts = urlsplit(url)
    if parts.hostname != "127.0.0.1":
        raise ValueError("the load driver only targets 127.0.0.1")
    duration = max(1, min(int(duration_s), int(MAX_DURATION_S)))
    cap = max(1, min(max_requests, MAX_REQUESTS))
    argv = [
        require_wrk(),
        "-t1",
        f"-c{concurrency}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        f"{parts.scheme}://{parts.netloc}",
    ]
    argv = [*wrap_command(cpus, nice), *argv]
    env = {
        **os.environ,
        "BENCH_BODY": str(body_file),
        "BENCH_PATH": parts.path or "/",
        "BENCH_MAX_REQUESTS": str(cap),
        "BENCH_VARY": vary or "",
    }
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=duration + 30, check=True
    )
    return parse_wrk_output(done.stdout, concurrency)
