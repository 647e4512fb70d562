"""One command for the whole benchmark: ``python bench/run.py`` (see bench/README.md).

It generates the requests, then in rounds starts every server on 127.0.0.1 (the limit, the
HealthChain peer, the service with one worker and with two), checks that each answers
correctly, loads each in turn with wrk on each point (concurrency 1 and 16, the everyday and
cold calls, record sizes), reads their peak RSS and stops them; it prints the table and writes
everything to ``bench/results/bench-<time>.json``. Single-worker servers are pinned to CPU 0
and wrk to CPU 1 so "one core" means one core.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.driver import LoadResult, require_wrk, run_load
from bench.generate import dumps, generate_request
from bench.report import COLD, CONCURRENCY, OTHER, REALISTIC_N, SWEEP_N, render, summarise
from bench.servers import (
    BENCH_DIR,
    REPO_ROOT,
    RunningServer,
    ServerSpec,
    check_answer,
    cpu_seconds,
    ensure_peer_venv,
    limit_spec,
    peak_rss_mib,
    peer_spec,
    running,
    service_spec,
)

ALL_SERVERS = ("limit", "peer", "service", "service-2w")
SWEEP_SERVERS = ("limit", "service")


def service_importable() -> bool:
    probe = [sys.executable, "-c", "from cds_service.app import create_app"]
    return subprocess.run(probe, cwd=REPO_ROOT, capture_output=True, timeout=60).returncode == 0


@dataclass(frozen=True)
class Body:
    """One request body file, what it asks of the service, and how wrk sends it."""

    path: Path
    natalizumab: bool = True
    #: Replaced in every request by a new string (cold validation cache), or None.
    vary: str | None = None


@dataclass(frozen=True)
class Point:
    """One measured point: a result key, the body it sends and the concurrency."""

    key: str
    body: str
    concurrency: int


def write_bodies(directory: Path, seed: int, now: datetime) -> dict[str, Body]:
    """The natalizumab request per N, the same N=200 record with another drug ordered, and
    the N=200 natalizumab request sent with a new patient id each time (cold cache)."""
    directory.mkdir(parents=True, exist_ok=True)
    bodies: dict[str, Body] = {}
    for n in sorted({REALISTIC_N, *SWEEP_N}):
        path = directory / f"order-sign-n{n}.json"
        request = generate_request(n, seed=seed, now=now)
        path.write_bytes(dumps(request))
        bodies[f"n{n}"] = Body(path)
        if n == REALISTIC_N:
            bodies[f"{COLD}-n{n}"] = Body(path, vary=str(request["context"]["patientId"]))
    other = directory / f"order-sign-other-n{REALISTIC_N}.json"
    other.write_bytes(dumps(generate_request(REALISTIC_N, seed=seed, now=now, natalizumab=False)))
    bodies[f"{OTHER}-n{REALISTIC_N}"] = Body(other, natalizumab=False)
    return bodies


def points_for(name: str) -> list[Point]:
    points = [Point(f"n{REALISTIC_N}-c{c}", f"n{REALISTIC_N}", c) for c in CONCURRENCY]
    if name in SWEEP_SERVERS:
        points += [Point(f"{OTHER}-n{REALISTIC_N}-c1", f"{OTHER}-n{REALISTIC_N}", 1)]
    if name == "service":
        points += [Point(f"{COLD}-n{REALISTIC_N}-c1", f"{COLD}-n{REALISTIC_N}", 1)]
    if name in SWEEP_SERVERS:
        points += [Point(f"n{n}-c1", f"n{n}", 1) for n in SWEEP_N]
    return points


def spec_for(name: str, workdir: Path) -> ServerSpec:
    if name == "limit":
        return limit_spec()
    if name == "peer":
        return peer_spec()
    return service_spec(workdir, workers=2 if name == "service-2w" else 1)


def measure_servers(
    specs: Sequence[ServerSpec], bodies: dict[str, Body], args: argparse.Namespace, log_dir: Path
) -> dict[str, dict[str, Any]]:
    """Every server's points, with the servers' runs interleaved, in fresh processes per round.

    Each round starts all servers (idle but for the one under load) and loads every server on
    one point in turn, so a drift of the machine's speed (this VM's varies by +-20 % over
    minutes) falls on all of them alike: the ratios the targets are about compare runs taken
    seconds apart. Each round starts the servers afresh because on this VM one Python server
    process can cost +-25 % more CPU per request than the next one of the same code (the limit
    moves +-5 %): the median over rounds is then a median over processes too.
    """
    results: dict[str, dict[str, Any]] = {
        spec.name: {
            "workers": spec.workers,
            "pinned": spec.workers == 1 and not args.no_pin,
            "points": {},
            "runs": {},
        }
        for spec in specs
    }
    points = {spec.name: points_for(spec.name) for spec in specs}
    order = list(dict.fromkeys(point.key for spec in specs for point in points[spec.name]))
    runs: dict[tuple[str, str], list[_Run]] = {}
    for round_number in range(args.repeat):
        print(f"round {round_number + 1} of {args.repeat} (servers started afresh):", flush=True)
        with ExitStack() as stack:
            servers = {}
            for spec in specs:
                single = results[spec.name]["pinned"]
                cpus = ("0", "1") if single else (None, None)
                server = stack.enter_context(running(spec, log_dir, cpus[0], args.nice))
                servers[spec.name] = (spec, server, cpus[1])
                for name in sorted({point.body for point in points[spec.name]}):
                    body = bodies[name]
                    results[spec.name].setdefault("cards", {})[name] = check_answer(
                        server, body.path.read_bytes(), body.natalizumab
                    )
                warm_up = bodies[f"n{REALISTIC_N}"].path
                run_load(server.url + spec.path, warm_up, 4, 1, cpus=cpus[1], nice=args.nice)
            for key in order:
                for name, (spec, server, client_cpus) in servers.items():
                    point = next((p for p in points[name] if p.key == key), None)
                    if point is None:
                        continue
                    run = _one_run(server, spec, bodies[point.body], point, args, client_cpus)
                    runs.setdefault((name, key), []).append(run)
                    results[name].setdefault("loadavg_before_run", {}).setdefault(key, []).append(
                        run.loadavg_before
                    )
                    print(
                        f"  {name:<11} {key:<16} p50 {run.load.p50_ms:8.2f} ms  "
                        f"{run.load.throughput:8.1f} req/s  server CPU "
                        f"{run.load.server_cpu_ms_per_request:7.2f} ms/req  "
                        f"(load {run.loadavg_before:.2f})",
                        flush=True,
                    )
            for name, (_, server, _) in servers.items():
                peak = peak_rss_mib(server)
                known = results[name].get("peak_rss")
                if known is None or peak["max_worker_mib"] > known["max_worker_mib"]:
                    results[name]["peak_rss"] = peak  # the highest of the rounds
    for (name, key), measured in runs.items():
        loads = [m.load for m in measured]
        results[name]["runs"][key] = [r.as_dict() for r in loads]
        results[name]["points"][key] = summarise(loads)
    return results


@dataclass(frozen=True)
class _Run:
    load: LoadResult
    loadavg_before: float


def _one_run(
    server: RunningServer,
    spec: ServerSpec,
    body: Body,
    point: Point,
    args: argparse.Namespace,
    client_cpus: str | None,
) -> _Run:
    load = round(os.getloadavg()[0], 2)
    cpu_before = cpu_seconds(server)
    run = run_load(
        server.url + spec.path,
        body.path,
        point.concurrency,
        args.duration,
        cpus=client_cpus,
        nice=args.nice,
        vary=body.vary,
    )
    cpu_ms = (cpu_seconds(server) - cpu_before) * 1000 / max(run.requests, 1)
    return _Run(replace(run, server_cpu_ms_per_request=round(cpu_ms, 3)), load)


def machine_info() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_start": os.getloadavg(),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the CDS service (see bench/README.md)")
    parser.add_argument(
        "--servers",
        default=",".join(ALL_SERVERS),
        help=f"comma-separated subset of {','.join(ALL_SERVERS)}",
    )
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per run (max 10)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per point (median kept)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/wrk to CPUs")
    parser.add_argument(
        "--nice",
        type=int,
        default=-10 if os.geteuid() == 0 else 0,
        help="niceness of servers and wrk (default -10 as root: less noise from other work)",
    )
    parser.add_argument("--out-dir", type=Path, default=BENCH_DIR / "results")
    args = parser.parse_args(argv)
    args.duration = min(max(args.duration, 1.0), 10.0)
    args.repeat = min(max(args.repeat, 1), 5)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    require_wrk()
    wanted = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = set(wanted) - set(ALL_SERVERS)
    if unknown:
        raise SystemExit(f"unknown servers: {sorted(unknown)}")
    if any(s.startswith("service") for s in wanted) and not service_importable():
        print("cds_service.app is not importable yet: skipping the service", file=sys.stderr)
        wanted = [s for s in wanted if not s.startswith("service")]
    if "peer" in wanted:
        ensure_peer_venv()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results: dict[str, Any] = {
        "meta": {
            **machine_info(),
            "started": stamp,
            "seed": args.seed,
            "duration_s": args.duration,
            "repeat": args.repeat,
        },
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cds-bench-") as tmp:
        workdir = Path(tmp)
        bodies = write_bodies(workdir / "requests", args.seed, datetime.now(UTC))
        results["meta"]["body_bytes"] = {k: b.path.stat().st_size for k, b in bodies.items()}
        specs = [spec_for(name, workdir) for name in wanted]
        results.update(measure_servers(specs, bodies, args, args.out_dir / "logs"))
    results["meta"]["loadavg_end"] = os.getloadavg()
    results["meta"]["wall_s"] = round(time.monotonic() - started, 1)
    table = render(results)
    results["table"] = table
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"bench-{stamp}.json"
    out.write_text(json.dumps(results, indent=2))
    print()
    print(table)
    print(
        f"\nresults: {out}  (load average start {results['meta']['loadavg_start'][0]:.2f}, "
        f"end {results['meta']['loadavg_end'][0]:.2f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
