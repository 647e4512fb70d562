"""Database connections that give up in time: engines with timeouts, and call deadlines.

Why both: a database that is down refuses connections at once, but one that is frozen
(overloaded, paused, or behind a black-holing network) accepts and then says nothing. With
no timeouts, feedback and ``/readyz`` hung for as long as it stayed frozen (issue 11).

* The **engine** carries the timeouts the driver can enforce: PostgreSQL's connect timeout,
  its ``statement_timeout`` and ``lock_timeout`` (the server cancels slow work), SQLite's
  busy timeout (wait for another writer's lock, then fail), and how long to wait for a
  pooled connection.
* A **deadline** bounds each blocking call in wall time from the caller's side, because a
  frozen server cannot enforce its own statement timeout and the driver then waits on a
  silent socket. The call runs on a small dedicated thread pool; when its deadline passes
  the caller gets :class:`DatabaseTimeout` (an ``SQLAlchemyError``, so it answers 503 like
  any database failure) and the thread finishes, or not, on its own. The pool's size bounds
  how many threads and connections a frozen database can hold; calls beyond it wait in its
  queue, and time out there, without starting.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError

T = TypeVar("T")

#: ``/readyz`` answers within 2 s whatever the database does (issue 11).
READINESS_TIMEOUT_S: Final = 1.5
#: Threads per deadline pool: how many calls a frozen database can hold at once.
DEADLINE_THREADS: Final = 8


@dataclass(frozen=True)
class DatabaseTimeouts:
    """``CDS_DB_CONNECT_TIMEOUT_S`` and ``CDS_DB_STATEMENT_TIMEOUT_S``."""

    connect_s: float = 2.0
    statement_s: float = 5.0


class DatabaseTimeout(SQLAlchemyError):
    """A database call did not finish within its deadline."""


def make_engine(url: str, timeouts: DatabaseTimeouts, **options: Any) -> Engine:
    """An engine whose connections, waits and statements all have a time limit."""
    statement_ms = max(1, int(timeouts.statement_s * 1000))
    if is_sqlite(url):
        # The busy timeout: how long a writer waits for another writer's lock.
        engine = create_engine(
            url, connect_args={"timeout": timeouts.statement_s}, pool_pre_ping=True, **options
        )
        event.listen(engine, "connect", _sqlite_write_ahead_log)
        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        # libpq counts whole seconds; psycopg enforces it over the whole handshake.
        connect_args["connect_timeout"] = max(1, math.ceil(timeouts.connect_s))
    engine = create_engine(
        url,
        connect_args=connect_args,
        pool_pre_ping=True,
        pool_timeout=timeouts.connect_s,
        **options,
    )
    if engine.dialect.name == "postgresql":

        @event.listens_for(engine, "connect")
        def _server_side_timeouts(dbapi_connection: Any, _record: Any) -> None:
            # Set per session rather than as a startup "options" parameter, which connection
            # poolers such as PgBouncer refuse.
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET statement_timeout = {statement_ms}")
                cursor.execute(f"SET lock_timeout = {statement_ms}")
            dbapi_connection.commit()

    return engine


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_write_ahead_log(dbapi_connection: Any, _record: Any) -> None:
    """WAL: readers never wait for the writer, and a commit appends instead of rewriting.

    With the default rollback journal, several worker processes writing feedback at once
    queued on the file lock long enough to answer 503 (issue 11). ``synchronous=FULL`` keeps
    every acknowledged commit on disk even through a power cut. WAL needs a local file
    system (not NFS); an in-memory database keeps its own journal mode.
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


class Deadline:
    """Runs blocking database calls on a small thread pool, each bounded in wall time."""

    def __init__(
        self, seconds: float, *, threads: int = DEADLINE_THREADS, name: str = "db"
    ) -> None:
        self.seconds = seconds
        self._threads = threads
        self._name = name
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> ThreadPoolExecutor:
        """The thread pool, made on first use and again after :meth:`shutdown` (app restart)."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self._threads, thread_name_prefix=self._name
                )
            return self._executor

    async def run(self, func: Callable[..., T], *args: Any, seconds: float | None = None) -> T:
        """``func(*args)`` in a pool thread; :class:`DatabaseTimeout` once the deadline passes."""
        context = contextvars.copy_context()
        future = asyncio.get_running_loop().run_in_executor(
            self._pool(), lambda: context.run(func, *args)
        )
        try:
            async with asyncio.timeout(seconds if seconds is not None else self.seconds):
                return await future
        except TimeoutError:
            raise DatabaseTimeout("the database did not answer in time") from None

    def shutdown(self) -> None:
        """Let the threads go; ones still waiting on the database are left to finish."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
