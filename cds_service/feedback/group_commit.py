"""Group commit for the embedded SQLite store: one writer thread, one transaction per burst.

Why: SQLite takes one writer at a time, and with ``synchronous=FULL`` every commit waits for
the disk. A hundred clinicians' feedback posts arriving at once, each in its own transaction
behind the others, queued past their deadline while hook calls kept the CPU busy (issue 11:
503s at 40–80 writers). The writer thread takes every post waiting for it and writes them in
one transaction, so a burst costs a few commits instead of one each. A post is answered only
after the transaction that holds it has committed; a post whose caller has already given up
(its deadline passed while it waited) is not written, so "acknowledged" still means "stored".
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Generic, TypeVar

from cds_service.protocol.models import FeedbackItem

R = TypeVar("R")

#: Most posts written in one transaction (bounds how long one commit holds the file lock).
MAX_POSTS_PER_COMMIT: Final = 200


@dataclass(frozen=True)
class FeedbackPost:
    """One feedback request to store: its service, its items and when it was received."""

    service_id: str
    items: Sequence[FeedbackItem]
    received_at: datetime


class GroupCommitter(Generic[R]):
    """Writes queued posts in batches with ``write_many``; each post gets its own result."""

    def __init__(
        self,
        write_many: Callable[[Sequence[FeedbackPost]], list[R]],
        name: str = "cds-feedback-writer",
    ) -> None:
        self._write_many = write_many
        self._name = name
        self._queue: queue.SimpleQueue[tuple[FeedbackPost, Future[R]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, post: FeedbackPost) -> Future[R]:
        """Queue ``post``; the future resolves once its transaction has committed."""
        future: Future[R] = Future()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        self._queue.put((post, future))
        return future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            waiting = [first]
            while len(waiting) < MAX_POSTS_PER_COMMIT:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                waiting.append(more)
            # A caller that gave up (deadline passed, future cancelled) is not written.
            batch = [
                (post, future) for post, future in waiting if future.set_running_or_notify_cancel()
            ]
            if not batch:
                continue
            try:
                results = self._write_many([post for post, _ in batch])
            except BaseException as exc:  # every caller of the batch learns of the failure
                for _, future in batch:
                    future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_, future), result in zip(batch, results, strict=True):
                future.set_result(result)

    def shutdown(self) -> None:
        """Write what is queued, then stop the thread (app shutdown)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=10)
