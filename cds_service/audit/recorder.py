"""The audit recorder: a cheap in-memory hand-off on the hook path, a background writer behind.

Why a queue and a thread: a hook call must never wait for (or fail with) the audit database.
:meth:`AuditRecorder.record` only copies uuids, topics and indicators into a deque (a few
microseconds, ``bench/audit_cost.py``); a daemon thread writes what has queued every
``flush_interval_s`` in batches, and :meth:`AuditRecorder.close` writes the rest at shutdown.

When the database is down the batch stays queued and is retried with back-off; the queue is
bounded (``max_pending`` calls) so an outage costs memory only up to that bound, beyond which
calls are dropped and counted. A batch the database refuses as data (not as an outage) is
retried call by call so that one bad call cannot take others with it. Failures are logged by
exception type only: the message of a database error can quote the values it refused.

The same thread runs the retention purge at start-up and then every 24 hours of the injected
``clock``, together with a re-check of the last two days' feedback that heals any fold lost to
a crash.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, SQLAlchemyError

from cds_service.audit import writes
from cds_service.audit.entries import AuditedCall, ShownCard
from cds_service.audit.metrics import AuditMetrics

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

MAINTENANCE_EVERY: Final = timedelta(days=1)
REFOLD_WINDOW: Final = timedelta(days=2)
_MAX_BACKOFF_S: Final = 30.0
#: SQLite: another writer holds the file lock. The audit is asynchronous, so it steps aside
#: (retries this soon) instead of queueing on the lock ahead of feedback posts, which answer
#: 503 after their deadline; only a lock held this long in a row counts as a failure.
_BUSY_RETRY_S: Final = 0.2
_BUSY_FAILURE_AFTER: Final = timedelta(seconds=30)
_HOOK_INSTANCE_MAX: Final = 128


def utc_now() -> datetime:
    return datetime.now(UTC)


def _shown(card: Mapping[str, Any]) -> ShownCard:
    return ShownCard(
        uuid=str(card["uuid"]),
        topic=str(card["source"]["topic"]["code"]),
        indicator=str(card["indicator"]),
    )


class AuditRecorder:
    """Queue of audited calls and feedback folds, written by one background thread."""

    def __init__(
        self,
        engine: Engine,
        *,
        knowledge_version: str,
        retention_days: int,
        metrics: AuditMetrics,
        ensure_schema: Callable[[], None] = lambda: None,
        flush_interval_s: float = 1.0,
        max_pending: int = 100_000,
        batch_size: int = 500,
        clock: Clock = utc_now,
        database_write_lock: AbstractContextManager[object] | None = None,
        dispose_engine: bool = False,
    ) -> None:
        self._engine = engine
        # Shared with the feedback store on SQLite (one writer at a time per process).
        self._db_turn = database_write_lock or nullcontext()
        self._dispose_engine = dispose_engine  # an engine of its own, closed with the recorder
        self._knowledge_version = knowledge_version
        self._retention = timedelta(days=retention_days)
        self._metrics = metrics
        self._ensure_schema = ensure_schema
        self._interval = flush_interval_s
        self._max_pending = max_pending
        self._batch_size = batch_size
        self._clock = clock
        self._calls: deque[AuditedCall] = deque()
        self._folds: deque[str] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._next_maintenance: datetime | None = None
        self._backoff = 0.0
        self._busy_since: datetime | None = None
        self._shutdown_by = 0.0  # monotonic time until which close() waits out a held lock
        metrics.watch_queue(lambda: len(self._calls))

    # --- the hook path ----------------------------------------------------------------------

    def record(
        self, service_id: str, hook_instance: str, cards: Sequence[Mapping[str, Any]]
    ) -> None:
        """Queue one answered call; never raises, never blocks on the database."""
        try:
            if not cards:
                return
            if len(self._calls) >= self._max_pending:
                self._metrics.calls_dropped.labels("queue_full").inc()
                return
            self._calls.append(
                AuditedCall(
                    recorded_at=self._clock(),
                    service_id=service_id,
                    hook_instance=hook_instance[:_HOOK_INSTANCE_MAX],
                    cards=tuple(_shown(card) for card in cards),
                )
            )
            if len(self._calls) >= self._batch_size:
                self._wake.set()
        except Exception as exc:  # the answer must go out whatever happens here
            self._metrics.calls_dropped.labels("unreadable").inc()
            logger.error("audit record failed", extra={"exc_type": type(exc).__name__})

    def feedback_stored(self, card_uuids: Iterable[str]) -> None:
        """Queue a fold of feedback just committed for these cards into the roll-ups."""
        try:
            if len(self._folds) < self._max_pending:
                self._folds.extend(card_uuids)
        except Exception as exc:
            logger.error("audit feedback fold failed", extra={"exc_type": type(exc).__name__})

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Calls queued and not yet written."""
        return len(self._calls)

    def start(self) -> None:
        """Start the writer thread (idempotent); its first cycle runs the start-up purge."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cds-audit-writer", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread and write everything still queued (graceful shutdown)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        # A lock held by another writer (SQLite) is waited out for a while before anything
        # queued is given up: shutdown must not lose the audit to a moment's contention.
        self._shutdown_by = time.monotonic() + timeout
        self.flush(final=True)
        if self._dispose_engine:
            self._engine.dispose()

    def _run(self) -> None:
        wait = self._interval
        while not self._stop.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            if self._stop.is_set():
                break
            ok = self.flush()
            if ok:
                ok = self.maintain() or self._busy_since is None
            if ok:
                self._backoff = 0.0
                wait = self._interval
            elif self._busy_since is not None:
                wait = _BUSY_RETRY_S  # the lock is taken: come back soon, not after a backoff
            else:
                self._backoff = min(_MAX_BACKOFF_S, max(1.0, self._backoff * 2))
                wait = self._interval + self._backoff

    # --- writing ----------------------------------------------------------------------------

    def flush(self, *, final: bool = False) -> bool:
        """Write every queued call and fold now; ``False`` when the database failed.

        With ``final`` a failed batch is dropped (and counted) instead of re-queued.
        """
        with self._write_lock:
            try:
                self._ensure_schema()
            except SQLAlchemyError as exc:
                self._failed("schema", exc)
                return self._give_up(final)
            while self._calls:
                batch = [
                    self._calls.popleft() for _ in range(min(self._batch_size, len(self._calls)))
                ]
                if not self._write_calls(batch):
                    if final and self._waited_out_lock():
                        self._calls.extendleft(reversed(batch))
                        continue
                    if final:
                        self._metrics.calls_dropped.labels("shutdown").inc(len(batch))
                        continue
                    self._calls.extendleft(reversed(batch))
                    return False
            while not self._write_folds(final=False):
                if not (final and self._waited_out_lock()):
                    if final:
                        self._folds.clear()  # given up at shutdown
                    return False
            return True

    def _waited_out_lock(self) -> bool:
        """At shutdown, on a lock held by another writer: wait a moment; False past the time."""
        if self._busy_since is None or time.monotonic() >= self._shutdown_by:
            return False
        time.sleep(_BUSY_RETRY_S)
        return True

    def _give_up(self, final: bool) -> bool:
        if final:
            self._metrics.calls_dropped.labels("shutdown").inc(len(self._calls))
            self._calls.clear()
            self._folds.clear()
        return False

    def _write_calls(self, batch: list[AuditedCall]) -> bool:
        try:
            with self._db_turn, self._engine.begin() as connection:
                writes.write_calls(connection, batch, self._knowledge_version)
        except (IntegrityError, DataError) as exc:
            self._failed("calls", exc)
            if len(batch) > 1:
                # Refused as data: keep every call the database accepts.
                for call in batch:
                    self._write_calls([call])
            else:
                self._metrics.calls_dropped.labels("rejected").inc()
            return True
        except SQLAlchemyError as exc:
            if not self._stepped_aside(exc):
                self._failed("calls", exc)
            return False
        self._busy_since = None
        self._metrics.calls_written.inc(len(batch))
        return True

    def _write_folds(self, final: bool) -> bool:
        if not self._folds:
            return True
        uuids = [self._folds.popleft() for _ in range(len(self._folds))]
        try:
            with self._db_turn, self._engine.begin() as connection:
                writes.fold_feedback(connection, uuids)
        except SQLAlchemyError as exc:
            if not self._stepped_aside(exc):
                self._failed("feedback", exc)
            if not final:
                self._folds.extendleft(reversed(uuids))
            return False
        self._busy_since = None
        return True

    def _stepped_aside(self, exc: SQLAlchemyError) -> bool:
        """True when ``exc`` is SQLite's "database is locked" and not yet for too long."""
        if not (isinstance(exc, OperationalError) and "locked" in str(exc.orig)):
            self._busy_since = None
            return False
        now = self._clock()
        if self._busy_since is None:
            self._busy_since = now
        return now - self._busy_since < _BUSY_FAILURE_AFTER

    def _failed(self, operation: str, exc: BaseException) -> None:
        self._metrics.write_failures.labels(operation).inc()
        logger.error(
            "audit write failed",
            extra={"operation": operation, "exc_type": type(exc).__name__},
        )

    # --- retention --------------------------------------------------------------------------

    def maintain(self) -> bool:
        """Purge and re-check feedback when due (at the first call, then daily); True if run."""
        now = self._clock()
        if self._next_maintenance is not None and now < self._next_maintenance:
            return False
        first_kept_day = (now - self._retention).date()
        try:
            with self._write_lock, self._db_turn, self._engine.begin() as connection:
                purged = writes.purge_before(connection, first_kept_day)
                writes.refold_recent_feedback(connection, now - REFOLD_WINDOW)
        except SQLAlchemyError as exc:
            if not self._stepped_aside(exc):
                self._failed("purge", exc)
            return False
        self._busy_since = None
        self._metrics.purged_cards.inc(purged)
        self._next_maintenance = now + MAINTENANCE_EVERY
        if purged:
            logger.info("audit purge", extra={"purged_cards": purged})
        return True
