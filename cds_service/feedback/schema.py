"""Bring the feedback database to the current schema with Alembic, from any earlier release.

Why Alembic and not ``create_all``: ``create_all`` only creates missing tables, so it cannot add
an index or column to a table an existing deployment already has, and it records no version.
The first revision adopts databases made by ``create_all`` as they are (see
``migrations/versions/0001_feedback_baseline.py``), so upgrading keeps every feedback row.

Several processes may start at once (``--workers N``, replicas): on PostgreSQL a transaction
advisory lock lets one migrate while the others wait, then find nothing to do; SQLite has no
such lock, so a process that loses the race (a "table already exists" error) checks that the
winner reached the head revision and carries on.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

logger = logging.getLogger(__name__)

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE: Final = "cds_schema_version"
"""Not Alembic's default ``alembic_version``: the database may be shared with other apps."""

_PG_LOCK_KEY: Final = 0x4E41545A  # any constant; identifies "natalizumab-cds schema migration"
_SQLITE_RACE_ATTEMPTS: Final = 5
_IN_PROCESS: Final = threading.Lock()
"""Alembic's ``context`` is a module global: two migrations in one process must take turns."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest revision of the packaged migrations."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The database's revision; ``None`` for an empty or pre-migration database."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _upgrade_once(engine: Engine) -> None:
    with _IN_PROCESS, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
        if current_revision(connection) == head_revision():
            return
        logger.info("migrating the feedback database", extra={"to_revision": head_revision()})
        command.upgrade(_config(connection), "head")


def upgrade_schema(engine: Engine) -> None:
    """Migrate to the head revision; a no-op (one query) when the database is current."""
    for attempt in range(_SQLITE_RACE_ATTEMPTS):
        try:
            _upgrade_once(engine)
            return
        except SQLAlchemyError:
            if engine.dialect.name != "sqlite" or attempt == _SQLITE_RACE_ATTEMPTS - 1:
                raise
            # Another process is migrating the same SQLite file: let it finish, then re-check.
            time.sleep(0.2 * (attempt + 1))
