"""Turn measured runs into the printed table and the target verdicts.

The numbers stay in the JSON results; this module only summarises them (medians over repeats)
and compares them with the issue's targets, so a reader sees at once what passed.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.driver import LoadResult

REALISTIC_N = 200
SWEEP_N = (10, 100, 1000, 5000)
CONCURRENCY = (1, 16)
#: Point-key prefixes: the same record with another drug ordered, and natalizumab with a new
#: patient each request (the validation cache cold).
OTHER = "other"
COLD = "cold"

Summary = dict[str, float]


def summarise(runs: Sequence[LoadResult]) -> Summary:
    """Median of each statistic over repeated runs (robust to one noisy run on a shared box)."""

    def median(values: Sequence[float]) -> float:
        return round(statistics.median(values), 3)

    return {
        "p50_ms": median([r.p50_ms for r in runs]),
        "p90_ms": median([r.p90_ms for r in runs]),
        "p99_ms": median([r.p99_ms for r in runs]),
        "throughput_rps": median([r.throughput for r in runs]),
        "cpu_ms_per_req": median([r.server_cpu_ms_per_request or 0.0 for r in runs]),
        "requests": sum(r.requests for r in runs),
        "errors": sum(r.errors for r in runs),
        "capped": float(any(r.capped for r in runs)),
    }


@dataclass(frozen=True)
class Verdict:
    name: str
    measured: float | None
    target: str
    passed: bool | None

    def line(self) -> str:
        state = {True: "PASS", False: "FAIL", None: "n/a "}[self.passed]
        value = "-" if self.measured is None else f"{self.measured:.3g}"
        return f"  [{state}] {self.name}: {value} (target {self.target})"


def _point(
    results: dict[str, Any], server: str, n: int, c: int, kind: str | None = None
) -> Summary | None:
    key = f"n{n}-c{c}" if kind is None else f"{kind}-n{n}-c{c}"
    point: Summary | None = results.get(server, {}).get("points", {}).get(key)
    return point


def _ratio(a: Summary | None, b: Summary | None, key: str) -> float | None:
    if not a or not b or not b.get(key) or key not in a:
        return None
    return a[key] / b[key]


def linearity(results: dict[str, Any], server: str) -> dict[str, float] | None:
    """Least-squares slope of p50 against N, and how far the points stray from that line.

    ``max_residual_ms`` small relative to the N=5,000 latency means the cost is linear in N.
    """
    points = [(n, _point(results, server, n, 1)) for n in (*SWEEP_N, REALISTIC_N)]
    xy = sorted((float(n), p["p50_ms"]) for n, p in points if p)
    if len(xy) < 3:
        return None
    xs, ys = [x for x, _ in xy], [y for _, y in xy]
    slope, intercept = statistics.linear_regression(xs, ys)
    residual = max(abs(y - (slope * x + intercept)) for x, y in xy)
    return {
        "ms_per_1000": round(slope * 1000, 3),
        "intercept_ms": round(intercept, 3),
        "max_residual_ms": round(residual, 3),
        "r2": round(statistics.correlation(xs, ys) ** 2, 4),
    }


def verdicts(results: dict[str, Any]) -> list[Verdict]:
    """Issue 14's targets, on server CPU per request (same run) where they compare servers."""
    svc_c1 = _point(results, "service", REALISTIC_N, 1)
    svc_c16 = _point(results, "service", REALISTIC_N, 16)
    svc_cold = _point(results, "service", REALISTIC_N, 1, COLD)
    svc_other = _point(results, "service", REALISTIC_N, 1, OTHER)
    lim_c1 = _point(results, "limit", REALISTIC_N, 1)
    lim_other = _point(results, "limit", REALISTIC_N, 1, OTHER) or lim_c1
    lim_c16 = _point(results, "limit", REALISTIC_N, 16)
    peer_c16 = _point(results, "peer", REALISTIC_N, 16)
    big = _point(results, "service", 5000, 1)
    rss = results.get("service", {}).get("peak_rss", {}).get("max_worker_mib")
    lin = linearity(results, "service")

    def check(name: str, value: float | None, target: str, ok: bool) -> Verdict:
        return Verdict(name, value, target, None if value is None else ok)

    cpu = "cpu_ms_per_req"
    other = _ratio(svc_other, lim_other, cpu)
    warm = _ratio(svc_c1, lim_c1, cpu)
    cold = _ratio(svc_cold, lim_c1, cpu)
    tput_limit = _ratio(svc_c16, lim_c16, "throughput_rps")
    tput_peer = _ratio(svc_c16, peer_c16, "throughput_rps")
    big_p50 = big["p50_ms"] if big else None
    r2 = lin["r2"] if lin else None
    return [
        check("CPU/req other drug, service/limit, N=200", other, "<= 1.3", (other or 9) <= 1.3),
        check("CPU/req natalizumab warm, service/limit", warm, "<= 2.5", (warm or 9) <= 2.5),
        check("CPU/req natalizumab cold, service/limit", cold, "<= 2.5", (cold or 9) <= 2.5),
        check("service p50 at N=5000, c=1 (ms)", big_p50, "< 60", (big_p50 or 1e9) < 60),
        check("service p50 linear in N (r^2)", r2, ">= 0.98", (r2 or 0) >= 0.98),
        check("service/limit throughput at c=16", tput_limit, ">= 0.5", (tput_limit or 0) >= 0.5),
        check("service/peer throughput at c=16", tput_peer, ">= 3", (tput_peer or 0) >= 3),
        check("service peak RSS (MiB)", rss, "< 200", (rss or 1e9) < 200),
    ]


def _row(cells: Sequence[object], widths: Sequence[int]) -> str:
    return "  ".join(
        str(c).rjust(w) if i else str(c).ljust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


def render(results: dict[str, Any]) -> str:
    servers = [s for s in ("limit", "peer", "service", "service-2w") if s in results]
    out: list[str] = [f"Order-sign request with N={REALISTIC_N} prefetched resources"]
    widths = (11, 3, 8, 8, 8, 9, 12, 7)
    head = ("server", "c", "p50 ms", "p90 ms", "p99 ms", "req/s", "CPU ms/req", "errors")
    out.append(_row(head, widths))
    for server in servers:
        for c in CONCURRENCY:
            p = _point(results, server, REALISTIC_N, c)
            if p:
                out.append(
                    _row(
                        (
                            server,
                            c,
                            f"{p['p50_ms']:.2f}",
                            f"{p['p90_ms']:.2f}",
                            f"{p['p99_ms']:.2f}",
                            f"{p['throughput_rps']:.0f}",
                            f"{p.get('cpu_ms_per_req', 0):.2f}",
                            int(p["errors"]),
                        ),
                        widths,
                    )
                )
    out.append("")
    out.append(f"The everyday call at N={REALISTIC_N}, c=1 (server CPU ms per request)")
    widths_k = (30, 8, 8, 10, 12)
    out.append(_row(("call", "p50 ms", "p99 ms", "CPU ms", "CPU / limit"), widths_k))
    lim_c1 = _point(results, "limit", REALISTIC_N, 1)
    kinds = (
        ("limit, natalizumab body", "limit", None, lim_c1),
        ("limit, other-drug body", "limit", OTHER, None),
        ("service, other drug", "service", OTHER, _point(results, "limit", REALISTIC_N, 1, OTHER)),
        ("service, natalizumab warm", "service", None, lim_c1),
        ("service, natalizumab cold", "service", COLD, lim_c1),
    )
    for label, name, kind, reference in kinds:
        p = _point(results, name, REALISTIC_N, 1, kind)
        if p:
            ratio = _ratio(p, reference or lim_c1, "cpu_ms_per_req")
            out.append(
                _row(
                    (
                        label,
                        f"{p['p50_ms']:.2f}",
                        f"{p['p99_ms']:.2f}",
                        f"{p.get('cpu_ms_per_req', 0):.2f}",
                        f"x{ratio:.2f}" if ratio else "-",
                    ),
                    widths_k,
                )
            )
    out.append("")
    out.append("Ratios at N=200 (service / baseline)")
    for base in ("limit", "peer"):
        for c in CONCURRENCY:
            svc, ref = (
                _point(results, "service", REALISTIC_N, c),
                _point(results, base, REALISTIC_N, c),
            )
            p50, tput = _ratio(svc, ref, "p50_ms"), _ratio(svc, ref, "throughput_rps")
            cpu = _ratio(svc, ref, "cpu_ms_per_req")
            if p50 is not None and tput is not None:
                cpu_text = f"   server CPU/request x{cpu:.2f}" if cpu else ""
                out.append(
                    f"  service/{base:<5} c={c:<2}  p50 x{p50:.2f}   "
                    f"throughput x{tput:.2f}{cpu_text}"
                )
    out.append("")
    out.append("Latency against N (c=1; ms; CPU = server CPU ms per request)")
    widths_n = (6, 10, 10, 10, 10, 10, 9, 10, 10)
    head_n = (
        "N",
        "limit p50",
        "limit p99",
        "svc p50",
        "svc p90",
        "svc p99",
        "svc/lim",
        "lim CPU",
        "svc CPU",
    )
    out.append(_row(head_n, widths_n))
    for n in sorted({*SWEEP_N, REALISTIC_N}):
        lim, svc = _point(results, "limit", n, 1), _point(results, "service", n, 1)
        if not lim and not svc:
            continue
        ratio = _ratio(svc, lim, "p50_ms")

        def cell(p: Summary | None, key: str) -> str:
            return f"{p[key]:.2f}" if p and key in p else "-"

        out.append(
            _row(
                (
                    n,
                    cell(lim, "p50_ms"),
                    cell(lim, "p99_ms"),
                    cell(svc, "p50_ms"),
                    cell(svc, "p90_ms"),
                    cell(svc, "p99_ms"),
                    f"x{ratio:.1f}" if ratio else "-",
                    cell(lim, "cpu_ms_per_req"),
                    cell(svc, "cpu_ms_per_req"),
                ),
                widths_n,
            )
        )
    for server in ("limit", "service"):
        lin = linearity(results, server)
        if lin:
            out.append(
                f"  {server}: {lin['ms_per_1000']:.2f} ms per 1,000 resources "
                f"(+{lin['intercept_ms']:.2f} ms fixed), r^2 {lin['r2']:.4f}, "
                f"max residual {lin['max_residual_ms']:.2f} ms"
            )
    out.append("")
    out.append("Peak RSS (VmHWM, MiB, after all load)")
    for server in servers:
        rss = results[server].get("peak_rss")
        if rss:
            out.append(
                f"  {server:<11} largest process {rss['max_worker_mib']:.1f}"
                f"   all processes {rss['sum_mib']:.1f}"
            )
    out.append("")
    out.append("Targets")
    out.extend(v.line() for v in verdicts(results))
    return "\n".join(out)
