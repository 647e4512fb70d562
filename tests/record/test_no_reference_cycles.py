"""A hook call leaves no reference cycle behind, so its parsed body is freed when it ends.

Why (bench/README.md, "Results on 2026-12-01, third session"): the record builder once held
bound methods of itself, a cycle that reached every resource of the call. Each natalizumab
call's body then stayed in memory until the collector found it, the next call parsed into
fresh memory (the parse took twice as long as in a process that reuses freed memory) and the
collector traversed the old body. Reference counting alone must free what a call allocated.
"""

from __future__ import annotations

import asyncio
import collections
import gc
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench.generate import dumps, generate_request
from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.examples import example_names, load_example
from tests.interop.corpus import cases, corpus_dir
from tests.support.asgi import send_raw

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
UNREACHABLE_SERVER = "http://127.0.0.1:9/fhir"  # never contacted: with-data cases are left out


def requests() -> list[tuple[str, str, bytes]]:
    """(name, service, body): every example, every corpus request and its natalizumab
    variant (as published: 412), the bench's records (natalizumab and not; 1,200 resources
    is evaluated off the event loop), each sent twice (read, then remembered)."""
    found = []
    for name in example_names():
        example = load_example(name, NOW)
        found.append((name, example.service, orjson.dumps(example.request)))
    for case in cases(corpus_dir(), UNREACHABLE_SERVER):
        if not case.with_data:
            body = case.body if isinstance(case.body, bytes) else orjson.dumps(case.body)
            found.append((case.id, case.service, body))
    for size, natalizumab in ((200, True), (200, False), (1200, True)):
        record = generate_request(size, seed=3, natalizumab=natalizumab, now=NOW)
        found.append((f"bench-{size}-{natalizumab}", "natalizumab-order-sign", dumps(record)))
    return found


async def cycles_left(app_settings: Settings) -> tuple[list[str], collections.Counter[int]]:
    """Send every request twice; name each call after which the collector found garbage."""
    app = create_app(app_settings)
    left: list[str] = []
    statuses: collections.Counter[int] = collections.Counter()
    async with app.router.lifespan_context(app):
        for name, service, body in requests():
            for attempt in ("first", "again"):
                gc.collect()
                gc.disable()  # nothing is collected behind the call's back
                try:
                    status, _ = await send_raw(app, f"/cds-services/{service}", body)
                    gc.set_debug(gc.DEBUG_SAVEALL)  # keep what is found, to name it
                    found = gc.collect()
                finally:
                    gc.set_debug(0)
                    kinds = collections.Counter(type(o).__qualname__ for o in gc.garbage)
                    gc.garbage.clear()
                    gc.enable()
                statuses[status] += 1
                if found:
                    left.append(f"{name} ({attempt}, {status}): {kinds.most_common(5)}")
    return left, statuses


def test_no_call_leaves_a_reference_cycle(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'f.db'}",
        audit_flush_interval_s=3600,  # the audit writer thread stays idle while we count
    )
    left, statuses = asyncio.run(cycles_left(settings))
    assert statuses[200] > 100 and statuses[412] > 10 and statuses[400] > 0  # it tested calls
    assert left == []
