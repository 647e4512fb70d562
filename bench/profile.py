"""Where does one order-sign call spend its time? Stage timings plus a pyinstrument profile.

Runs everything in-process, no network: the bench generator's request for N resources is
POSTed through the real app (``create_app``) with httpx's ASGITransport, and the same request is
also pushed through each stage on its own (JSON parse, envelope models, gather, record build,
the engine, response encoding) so a slow stage shows as a number, not a guess. The web layer
runs the engine of a heavy call in a worker thread; this script runs it inline (pyinstrument
samples one thread), which changes nothing in the work done.

Usage: ``python bench/profile.py --n 5000`` (``--n 200`` for a realistic call); ``--other-drug``
profiles the everyday call (lisinopril ordered: answered ``{"cards": []}``), ``--cold`` clears
the validation caches before every call (a new patient each time).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import orjson
from pyinstrument import Profiler

from bench.generate import dumps, generate_request
from cds_service import hook_call
from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.pipeline import HookData, evaluate
from cds_service.protocol.gather import gather
from cds_service.protocol.limits import MAX_ARRAY_ITEMS, MAX_STRING_CHARS, check_json_limits
from cds_service.protocol.models import parse_context, parse_hook_request
from cds_service.protocol.raw_bounds import within_limits
from cds_service.record import order_shapes
from cds_service.record.build import build_record
from cds_service.record.memo import FACTS_MEMO
from cds_service.record.validate import VALIDATION_CACHE

T = TypeVar("T")
PATH = "/cds-services/natalizumab-order-sign"


async def _inline(func: Callable[[], T], *, resources: int) -> T:
    return func()


def _median_ms(func: Callable[[], object], repeat: int) -> float:
    """Median CPU milliseconds of this thread: unlike wall time, immune to other processes."""
    samples = []
    for _ in range(repeat):
        started = time.thread_time()
        func()
        samples.append((time.thread_time() - started) * 1000)
    return statistics.median(samples)


async def _amedian_ms(func: Callable[[], Awaitable[object]], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.thread_time()
        await func()
        samples.append((time.thread_time() - started) * 1000)
    return statistics.median(samples)


def clear_caches() -> None:
    """Forget every validation verdict and remembered fact: the next call reads and validates
    as for a new patient. Validated elements stay remembered (a new patient's record shares
    the codes and units of others), including this patient's subject reference, which a
    really new patient would not share: ``bench/run.py``'s cold call (a new patient id in
    every request) is the exact measure."""
    VALIDATION_CACHE.clear()
    FACTS_MEMO.clear()
    order_shapes._VERDICTS.clear()


async def stage_timings(
    body: bytes, settings: Settings, repeat: int, cold: bool
) -> dict[str, float]:
    """Median milliseconds of each stage, each run alone on the same request."""
    now = datetime.now(UTC)
    parsed = orjson.loads(body)
    request = parse_hook_request(parsed)
    context = parse_context(request.hook, request.context)
    gathered = await gather(request, context, settings, None)
    data = HookData(
        resources=gathered.resources,
        trigger_orders=gathered.trigger_orders,
        draft_orders=gathered.draft_orders,
        unavailable=gathered.unavailable,
        patient_id=gathered.patient_id,
    )
    kwargs: dict[str, Any] = {
        "resources": data.resources,
        "trigger_orders": data.trigger_orders,
        "draft_orders": data.draft_orders,
        "unavailable": data.unavailable,
        "patient_id": data.patient_id,
        "now": now,
    }

    def build() -> object:
        if cold:
            clear_caches()
        return build_record(**kwargs)

    def run_engine() -> object:
        if cold:
            clear_caches()
        return evaluate(data, now)

    build_ms = _median_ms(build, repeat)
    evaluate_ms = _median_ms(run_engine, repeat)
    cards = evaluate(data, now).cards
    return {
        "json parse (orjson)": _median_ms(lambda: orjson.loads(body), repeat),
        "JSON limits, raw-bytes proof": _median_ms(
            lambda: within_limits(
                body,
                max_depth=settings.max_json_depth,
                max_resources=settings.max_resources,
                max_string_chars=MAX_STRING_CHARS,
                max_array_items=MAX_ARRAY_ITEMS,
            ),
            repeat,
        ),
        "JSON limits, exact walk (fallback)": _median_ms(
            lambda: check_json_limits(
                parsed, max_depth=settings.max_json_depth, max_resources=settings.max_resources
            ),
            repeat,
        ),
        "envelope models": _median_ms(
            lambda: parse_context(request.hook, parse_hook_request(parsed).context), repeat
        ),
        "gather": await _amedian_ms(lambda: gather(request, context, settings, None), repeat),
        "build_record": build_ms,
        "assess + render_cards": evaluate_ms - build_ms,
        "pipeline.evaluate (all)": evaluate_ms,
        "response encode": _median_ms(lambda: orjson.dumps({"cards": cards}), repeat),
    }


async def http_calls(
    app: Any, body: bytes, count: int, *, natalizumab: bool = True, cold: bool = False
) -> list[float]:
    """POST ``count`` times through the whole ASGI app; returns per-call CPU milliseconds."""
    samples = []
    transport = httpx.ASGITransport(app=app)
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        for _ in range(count):
            if cold:
                clear_caches()
            started = time.thread_time()
            response = await client.post(PATH, content=body, headers=headers)
            samples.append((time.thread_time() - started) * 1000)
            cards = response.json().get("cards") if response.status_code == 200 else None
            if cards is None or bool(cards) != natalizumab:
                raise RuntimeError(f"unexpected answer: {response.status_code} {response.text}")
    return samples


async def run(args: argparse.Namespace) -> None:
    natalizumab = not args.other_drug
    body = dumps(generate_request(args.n, seed=args.seed, natalizumab=natalizumab))
    mode = {"natalizumab": natalizumab, "cold": args.cold}
    hook_call.run_sized = _inline  # type: ignore[attr-defined]  # one thread to sample
    with tempfile.TemporaryDirectory(prefix="cds-profile-") as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'feedback.db'}")
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            await http_calls(app, body, 3, natalizumab=natalizumab)  # imports, caches, schema
            plain = await http_calls(app, body, args.calls, **mode)
            kind = "other drug" if args.other_drug else "natalizumab"
            kind += ", cold caches" if args.cold else ""
            print(
                f"N={args.n} ({len(body):,} bytes, {kind}): in-process HTTP call incl. client, "
                f"median CPU of {args.calls}: {statistics.median(plain):.2f} ms "
                f"(min {min(plain):.2f}, max {max(plain):.2f})"
            )
            print("\nStage timings (median CPU ms of this thread, each stage alone):")
            stages = await stage_timings(body, settings, args.calls, args.cold)
            if args.other_drug:  # nothing past the trigger runs for another drug
                stages = {k: v for k, v in stages.items() if k.startswith(("json", "JSON"))}
            for stage, ms in stages.items():
                print(f"  {stage:<32} {ms:9.2f}")
            profiler = Profiler(interval=args.interval, async_mode="disabled")
            profiler.start()
            await http_calls(app, body, args.calls, **mode)
            profiler.stop()
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    print(f"\npyinstrument call tree ({args.calls} calls, first {args.lines} lines):")
    print("\n".join(text.splitlines()[: args.lines]))
    flat = profiler.output_text(unicode=False, color=False, flat=True, flat_time="self")
    print(f"\nHottest functions by self time (first {args.top}):")
    print("\n".join(flat.splitlines()[: args.top + 6]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Profile one order-sign call in-process")
    parser.add_argument("--n", type=int, default=5000, help="prefetched resources (10-5000)")
    parser.add_argument("--calls", type=int, default=0, help="calls to time (default by N)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.0005, help="sampling interval (s)")
    parser.add_argument("--lines", type=int, default=70, help="call-tree lines to print")
    parser.add_argument("--top", type=int, default=25, help="flat-profile rows to print")
    parser.add_argument("--other-drug", action="store_true", help="lisinopril, not natalizumab")
    parser.add_argument("--cold", action="store_true", help="clear validation caches per call")
    args = parser.parse_args(argv)
    args.calls = args.calls or max(5, min(200, 20_000 // args.n))
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
