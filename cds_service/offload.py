"""Where a call's evaluation runs: inline when it is light, in a worker thread when heavy.

Why: the engine is pure CPU work. Inline it costs nothing extra (a thread hop costs about
0.17 ms of CPU, 4 % of a typical 200-resource call), but while it runs the event loop serves
nobody: a 5 MB call kept ``/healthz`` waiting for as long as the call took (issue 11), and an
orchestrator restarts a service whose liveness probe times out. So a call whose body is
large, or that holds many resources (fetched pages count), is evaluated in a worker thread;
the loop keeps answering health checks and light calls in between (the GIL is handed over
every few milliseconds). At most :data:`HEAVY_CONCURRENCY` heavy evaluations run at once per
process, so a burst of them cannot crowd the loop out of the GIL; the rest wait their turn.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, TypeVar

from cds_service.protocol.limits import body_bytes_read

T = TypeVar("T")

#: Bodies from this size on are evaluated off the event loop (a realistic 200-resource call
#: is about 120 KB; the worst case inline, 256 KiB of resources that are costly to validate,
#: holds the loop for a few hundred milliseconds).
HEAVY_BODY_BYTES: Final = 256 * 1024
#: Calls with this many resources (prefetched and fetched) are evaluated off the event loop.
HEAVY_RESOURCES: Final = 1_000
HEAVY_CONCURRENCY: Final = 2

_EXECUTOR: Final = ThreadPoolExecutor(
    max_workers=HEAVY_CONCURRENCY, thread_name_prefix="cds-heavy-call"
)


def is_heavy(resources: int, body_bytes: int | None = None) -> bool:
    """Whether a call of this size should leave the event loop."""
    size = body_bytes_read() if body_bytes is None else body_bytes
    return size >= HEAVY_BODY_BYTES or resources >= HEAVY_RESOURCES


async def run_sized(func: Callable[[], T], *, resources: int) -> T:
    """Run ``func`` inline for a light call, in a worker thread for a heavy one."""
    if not is_heavy(resources):
        return func()
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, context.run, func)
