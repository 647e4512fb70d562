"""Request bodies must arrive in time, and only so many may be arriving at once.

Why: uvicorn waits for a request body as long as the client keeps the connection open, so a
client that sends half a body and stops holds a connection, a task and the bytes received
so far for ever (the red team left 500 such connections open past 30 s; issue 11). This
ASGI middleware bounds both:

* **time**: the whole body must have arrived ``CDS_BODY_READ_TIMEOUT_S`` (default 10 s) after
  the request started, or the client is answered ``408 body_timeout`` with
  ``Connection: close`` and dropped;
* **concurrency**: at most ``CDS_MAX_CONCURRENT_UPLOADS`` bodies per process are being read
  at any moment, which bounds the memory slow clients can pin (slots x the body limit). A
  request that finds every slot taken waits for one, in arrival order, within the same
  deadline; one that never got a slot is answered ``503 too_many_uploads`` (retry-safe: its
  body was never read) with ``Connection: close``.

The limit sits on ``receive``: the errors are raised where the route reads its body, so
they leave through the app's normal error handlers as the contract's JSON error body. A
request whose body is complete, or that reads none, is never limited: later ``receive``
calls (waiting for a disconnect) pass straight through.
"""

from __future__ import annotations

import asyncio
import math
from typing import Final

from prometheus_client import Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds_service.protocol.errors import ProtocolError

BODY_TIMEOUT: Final = "body_timeout"
TOO_MANY_UPLOADS: Final = "too_many_uploads"


class _Upload:
    """One request's progress through its body, and whether it holds an upload slot."""

    __slots__ = ("complete", "holding")

    def __init__(self) -> None:
        self.complete = False
        self.holding = False


class SlowUploadMiddleware:
    """Deadline and concurrency cap on reading request bodies (see module docstring)."""

    def __init__(
        self, app: ASGIApp, *, timeout_s: float, max_concurrent: int, gauge: Gauge | None = None
    ) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(max_concurrent)
        self._reading = gauge.labels("reading") if gauge is not None else None
        self._waiting = gauge.labels("waiting") if gauge is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        upload = _Upload()

        async def receive_in_time() -> Message:
            if upload.complete:
                return await receive()
            if not upload.holding:
                await self._acquire(upload, deadline)
            try:
                # A timer on this task, not a new task per receive (asyncio.wait_for would
                # schedule one, a whole loop iteration of delay for every request under load).
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                self._release(upload)
                raise self._timed_out() from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                upload.complete = True
                self._release(upload)
            return message

        try:
            await self.app(scope, receive_in_time, send)
        finally:
            self._release(upload)

    async def _acquire(self, upload: _Upload, deadline: float) -> None:
        if self._slots.locked():  # else acquire() returns at once, without suspending
            if self._waiting is not None:
                self._waiting.inc()
            try:
                async with asyncio.timeout_at(deadline):
                    await self._slots.acquire()
            except TimeoutError:
                raise self._busy() from None
            finally:
                if self._waiting is not None:
                    self._waiting.dec()
        else:
            await self._slots.acquire()
        upload.holding = True
        if self._reading is not None:
            self._reading.inc()

    def _release(self, upload: _Upload) -> None:
        if upload.holding:
            upload.holding = False
            self._slots.release()
            if self._reading is not None:
                self._reading.dec()

    def _timed_out(self) -> ProtocolError:
        return ProtocolError(
            408,
            BODY_TIMEOUT,
            f"The request body did not arrive within {self.timeout_s:g} seconds.",
            headers={"Connection": "close"},
        )

    def _busy(self) -> ProtocolError:
        return ProtocolError(
            503,
            TOO_MANY_UPLOADS,
            "Too many requests are sending their bodies at once; retry shortly.",
            headers={
                "Connection": "close",
                "Retry-After": str(max(1, math.ceil(self.timeout_s / 10))),
            },
        )
