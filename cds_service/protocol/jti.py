"""Replay protection: remember every accepted JWT ``jti`` until its token expires.

CDS Hooks best practice: "Ensure that the ``jti`` value doesn't exist in the short-term storage
of JWTs previously processed by this CDS Service". Two stores:

* :class:`MemoryJtiStore` (default) -- correct for one process;
* :class:`DatabaseJtiStore` (``CDS_JTI_STORE=database``) -- a table in the feedback database,
  whose primary key makes "seen before" atomic across any number of processes and hosts.

Keys are SHA-256 digests of ``iss`` + ``jti`` so that the stored value has a fixed size and
two issuers' nonces never collide. A ``jti`` may be used again only after the token that
carried it has expired (plus leeway), as the token itself is then rejected anyway.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Protocol

from sqlalchemy import Column, Float, MetaData, String, Table, delete, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from cds_service.database import DatabaseTimeouts, Deadline, make_engine

#: Purge expired entries at most this often (seconds).
PURGE_INTERVAL_S = 60.0


class JtiStoreUnavailable(Exception):
    """The replay store could not be consulted; the request must not be served."""


class JtiStore(Protocol):
    """Atomic "first time seen?" for token ids."""

    async def remember(self, key: str, expires_at: float, now: float) -> bool:
        """Record ``key`` until ``expires_at``; ``False`` when it is already recorded."""
        ...


def jti_key(iss: str, jti: str) -> str:
    """Fixed-size store key of one token id of one issuer."""
    return hashlib.sha256(f"{iss}\x00{jti}".encode()).hexdigest()


class MemoryJtiStore:
    """In-process store; entries vanish once expired (purged lazily, at most once a minute)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._last_purge = float("-inf")

    def __len__(self) -> int:
        return len(self._seen)

    async def remember(self, key: str, expires_at: float, now: float) -> bool:
        with self._lock:
            if now - self._last_purge >= PURGE_INTERVAL_S:
                self._seen = {k: exp for k, exp in self._seen.items() if exp > now}
                self._last_purge = now
            previous = self._seen.get(key)
            if previous is not None and previous > now:
                return False
            self._seen[key] = expires_at
            return True


_metadata = MetaData()

#: One row per accepted token; the primary key is what rejects a replay in every process.
jti_table = Table(
    "cds_jwt_jti",
    _metadata,
    Column("jti_hash", String(64), primary_key=True),
    Column("expires_at", Float, nullable=False, index=True),
)


def _make_engine(database_url: str, timeouts: DatabaseTimeouts) -> Engine:
    if database_url.startswith("sqlite"):
        # Several processes share one SQLite file: the busy timeout waits for the write lock.
        return make_engine(database_url, timeouts)
    return make_engine(database_url, timeouts, pool_size=5, max_overflow=5)


class DatabaseJtiStore:
    """Store in the feedback database, shared by every instance of the service.

    Its own small engine keeps it independent of the feedback module's session handling.
    Each check is bounded in wall time (:class:`cds_service.database.Deadline`): a frozen
    database makes authenticated calls answer 503 in time instead of hanging.
    """

    def __init__(
        self,
        database_url: str,
        engine: Engine | None = None,
        timeouts: DatabaseTimeouts | None = None,
    ) -> None:
        timeouts = timeouts or DatabaseTimeouts()
        self._engine = engine or _make_engine(database_url, timeouts)
        self._deadline = Deadline(timeouts.statement_s, name="cds-jti-db")
        self._created = False
        self._lock = threading.Lock()
        self._last_purge = float("-inf")

    @property
    def engine(self) -> Engine:
        return self._engine

    def dispose(self) -> None:
        """Close pooled connections (app shutdown)."""
        self._deadline.shutdown()
        self._engine.dispose()

    async def remember(self, key: str, expires_at: float, now: float) -> bool:
        try:
            return await self._deadline.run(self._remember, key, expires_at, now)
        except SQLAlchemyError as exc:
            raise JtiStoreUnavailable(type(exc).__name__) from None

    def _ensure_table(self) -> None:
        if self._created:
            return
        with self._lock:
            if self._created:
                return
            try:
                _metadata.create_all(self._engine)
            except SQLAlchemyError:
                # Another instance created it between the existence check and CREATE TABLE.
                _metadata.create_all(self._engine)
            self._created = True

    def _remember(self, key: str, expires_at: float, now: float) -> bool:
        self._ensure_table()
        if now - self._last_purge >= PURGE_INTERVAL_S:
            self._last_purge = now
            with self._engine.begin() as conn:
                conn.execute(delete(jti_table).where(jti_table.c.expires_at <= now))
        if self._insert(key, expires_at):
            return True
        # Seen before: still a replay unless that earlier token has expired.
        with self._engine.begin() as conn:
            freed = conn.execute(
                delete(jti_table).where(jti_table.c.jti_hash == key, jti_table.c.expires_at <= now)
            ).rowcount
        return freed > 0 and self._insert(key, expires_at)

    def _insert(self, key: str, expires_at: float) -> bool:
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(jti_table).values(jti_hash=key, expires_at=expires_at))
        except IntegrityError:
            return False
        return True
