"""Store feedback items idempotently in SQLite or PostgreSQL.

``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` is used on both backends (same SQL semantics, one
statement per item, one transaction per request), so a resent item is counted as a
duplicate instead of raising, and concurrent resends cannot both be stored.
All methods are blocking; the web layer runs them through :attr:`FeedbackStore.deadline`, which
bounds each call in wall time (a frozen database answers 503, not never).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cds_service.database import (
    DEADLINE_THREADS,
    READINESS_TIMEOUT_S,
    DatabaseTimeout,
    DatabaseTimeouts,
    Deadline,
    is_sqlite,
    make_engine,
)
from cds_service.feedback.group_commit import FeedbackPost, GroupCommitter
from cds_service.feedback.models import FeedbackRecord
from cds_service.feedback.schema import upgrade_schema
from cds_service.protocol.models import FeedbackItem


@dataclass(frozen=True)
class StoreResult:
    """How many items were new and how many had been stored before."""

    stored: int
    duplicates: int


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _row(service_id: str, item: FeedbackItem, received_at: datetime) -> dict[str, Any]:
    reason = item.override_reason.reason if item.override_reason else None
    return {
        "service_id": service_id,
        "card_uuid": item.card,
        "outcome": item.outcome,
        "accepted_suggestions": [s.id for s in item.accepted_suggestions or []],
        "override_reason_code": reason.code if reason else None,
        "override_reason_system": reason.system if reason else None,
        "override_reason_display": reason.display if reason else None,
        "user_comment": item.override_reason.user_comment if item.override_reason else None,
        "outcome_timestamp": _naive_utc(item.outcome_timestamp),
        "received_at": _naive_utc(received_at),
    }


class FeedbackStore:
    """The feedback table behind one SQLAlchemy engine."""

    def __init__(self, database_url: str, timeouts: DatabaseTimeouts | None = None) -> None:
        self.timeouts = timeouts or DatabaseTimeouts()
        self.engine: Engine = make_engine(database_url, self.timeouts)
        # SQLite takes one writer at a time: one thread per process writes, the others queue
        # here instead of polling the file lock (with two workers, two writers contend).
        writers = 1 if is_sqlite(database_url) else DEADLINE_THREADS
        self.deadline = Deadline(self.timeouts.statement_s, threads=writers, name="cds-feedback")
        #: Readiness probes have their own threads: never queued behind a burst of writes.
        self.probe = Deadline(READINESS_TIMEOUT_S, threads=2, name="cds-feedback-probe")
        #: Held around every write transaction of this process on SQLite (feedback and the
        #: decision audit): writers of one process take turns on this lock instead of racing
        #: for the file lock, whose busy-wait backs off unfairly and let a burst of feedback
        #: posts time out behind the audit writer. PostgreSQL needs no such turn-taking.
        self.write_lock: AbstractContextManager[object] = (
            threading.Lock() if is_sqlite(database_url) else nullcontext()
        )
        self._group: GroupCommitter[StoreResult] | None = (
            GroupCommitter(self.store_many) if is_sqlite(database_url) else None
        )
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    def ensure_schema(self) -> None:
        """Migrate the database if needed; safe to call often and from several processes."""
        if self._schema_ready:
            return
        with self._schema_lock:
            if self._schema_ready:
                return
            upgrade_schema(self.engine)  # Alembic; safe when several workers start at once
            self._schema_ready = True

    def store(
        self, service_id: str, items: Sequence[FeedbackItem], received_at: datetime
    ) -> StoreResult:
        """Insert every item in one transaction; duplicates are skipped, not errors."""
        return self.store_many([FeedbackPost(service_id, items, received_at)])[0]

    def store_many(self, posts: Sequence[FeedbackPost]) -> list[StoreResult]:
        """Insert the items of several posts in one transaction; a result per post."""
        self.ensure_schema()
        table = FeedbackRecord.__table__
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            insert: Any = postgresql.insert
        elif dialect == "sqlite":
            insert = sqlite.insert
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            raise RuntimeError(f"unsupported feedback database: {dialect}")
        results: list[StoreResult] = []
        with self.write_lock, self.engine.begin() as connection:
            for post in posts:
                stored = 0
                for item in post.items:
                    statement = (
                        insert(table)
                        .values(**_row(post.service_id, item, post.received_at))
                        .on_conflict_do_nothing()
                        .returning(table.c.id)
                    )
                    # RETURNING yields a row only when the insert happened; rowcount is not
                    # reliable across drivers for ON CONFLICT statements.
                    if connection.execute(statement).first() is not None:
                        stored += 1
                results.append(StoreResult(stored=stored, duplicates=len(post.items) - stored))
        return results

    async def write(
        self, service_id: str, items: Sequence[FeedbackItem], received_at: datetime
    ) -> StoreResult:
        """:meth:`store` within the statement deadline (:class:`DatabaseTimeout` past it).

        On SQLite posts go through the group committer (one transaction per burst); on
        PostgreSQL each post has a thread of the deadline pool.
        """
        if self._group is None:
            return await self.deadline.run(self.store, service_id, items, received_at)
        future = self._group.submit(FeedbackPost(service_id, items, received_at))
        try:
            async with asyncio.timeout(self.timeouts.statement_s):
                return await asyncio.wrap_future(future)
        except TimeoutError:
            raise DatabaseTimeout("the database did not answer in time") from None

    def records(self, service_id: str | None = None) -> list[FeedbackRecord]:
        """Stored items, oldest first (for operators and tests)."""
        self.ensure_schema()
        query = select(FeedbackRecord).order_by(FeedbackRecord.id)
        if service_id is not None:
            query = query.where(FeedbackRecord.service_id == service_id)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(query))

    def ping(self) -> bool:
        """True when the database answers a trivial query (readiness)."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            self.ensure_schema()
        except SQLAlchemyError:
            return False
        return True

    def dispose(self) -> None:
        """Close pooled connections (app shutdown)."""
        if self._group is not None:
            self._group.shutdown()
        self.deadline.shutdown()
        self.probe.shutdown()
        self.engine.dispose()
