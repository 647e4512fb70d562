"""The bench harness: wrk output parsing, loopback-only and capped runs, the limit app, verdicts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.driver import LoadResult, parse_wrk_output, run_load
from bench.limit_app import app as limit_app
from bench.report import render, summarise, verdicts

WRK_STDOUT = """Running 2s test @ http://127.0.0.1:1234
Requests/sec:    500.00
BENCH_JSON {"requests":1000,"elapsed_us":2000000,"capped":false,"non_200":2,\
"errors":{"connect":0,"read":1,"write":0,"status":2,"timeout":0},\
"latency_us":{"min":500,"mean":1800.5,"max":9000,"p50":1500,"p90":2500,"p99":7000}}
"""


def test_wrk_result_line_becomes_milliseconds_and_throughput() -> None:
    result = parse_wrk_output(WRK_STDOUT, concurrency=16)
    assert (result.p50_ms, result.p90_ms, result.p99_ms) == (1.5, 2.5, 7.0)
    assert result.throughput == pytest.approx(500.0)
    assert result.errors == 5  # 3 socket/status errors + 2 non-200 answers
    assert result.concurrency == 16


def test_missing_result_line_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no result line"):
        parse_wrk_output("Requests/sec: 1\n", concurrency=1)


def test_driver_refuses_anything_but_loopback(tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_text("{}")
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        run_load("http://10.0.0.1:80/cds-services/x", body, 1, 1)


def test_limit_app_parses_the_body_and_answers_no_cards() -> None:
    async def post(body: bytes) -> httpx.Response:
        transport = httpx.ASGITransport(app=limit_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.post("/cds-services/natalizumab-order-sign", content=body)

    ok = asyncio.run(post(b'{"hook": "order-sign", "context": {}}'))
    assert ok.status_code == 200
    assert ok.json() == {"cards": []}
    assert asyncio.run(post(b"{not json")).status_code == 400
    assert asyncio.run(post(b"[1, 2]")).status_code == 400


def _run(p50: float, rps: float, cpu: float) -> LoadResult:
    return LoadResult(1, int(rps * 4), 4.0, False, 0, p50, p50 * 2, p50 * 4, p50, p50 * 5, cpu)


def test_verdicts_compare_service_with_limit_and_peer() -> None:
    def point(p50: float, rps: float, cpu: float) -> dict[str, float]:
        return summarise([_run(p50, rps, cpu)])

    results: dict[str, Any] = {
        "limit": {"points": {"n200-c1": point(1.0, 900, 1.0), "n200-c16": point(10, 1000, 1.0)}},
        "peer": {"points": {"n200-c1": point(40, 25, 40), "n200-c16": point(600, 25, 40)}},
        "service": {
            "points": {
                "n200-c1": point(2.0, 500, 2.4),
                "n200-c16": point(20, 600, 2.4),
                "cold-n200-c1": point(2.2, 450, 2.6),
                "other-n200-c1": point(1.1, 850, 1.2),
                "n10-c1": point(0.5, 2000, 0.5),
                "n100-c1": point(0.8, 1200, 0.8),
                "n1000-c1": point(5.0, 200, 5.0),
                "n5000-c1": point(25.0, 40, 25.0),
            },
            "peak_rss": {"max_worker_mib": 120.0, "sum_mib": 120.0, "process_mib": 120.0},
        },
    }
    states = {v.name: v.passed for v in verdicts(results)}
    assert states["CPU/req other drug, service/limit, N=200"] is True  # 1.2 / 1.0 <= 1.3
    assert states["CPU/req natalizumab warm, service/limit"] is True  # 2.4 <= 2.5
    assert states["CPU/req natalizumab cold, service/limit"] is False  # 2.6 > 2.5
    assert states["service/limit throughput at c=16"] is True  # 600/1000 >= 0.5
    assert states["service/peer throughput at c=16"] is True
    assert states["service p50 at N=5000, c=1 (ms)"] is True
    assert states["service peak RSS (MiB)"] is True
    results["service"]["points"]["n200-c16"] = point(20, 400, 2.5)
    results["limit"]["points"]["other-n200-c1"] = point(1.0, 1000, 0.9)
    states = {v.name: v.passed for v in verdicts(results)}
    assert states["service/limit throughput at c=16"] is False  # 400/1000 < 0.5
    assert states["CPU/req other drug, service/limit, N=200"] is False  # 1.2 / 0.9 > 1.3
    table = render(results)
    assert "service/peer  c=16" in table
    assert "service, natalizumab cold" in table
