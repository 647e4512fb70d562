"""Throw-away databases for schema and audit tests: a SQLite file, or a fresh PostgreSQL DB.

PostgreSQL tests need ``CDS_TEST_POSTGRES_URL`` (``.ci/run`` starts a cluster and sets it);
each test gets a database of its own, created and dropped on that server, so migrations always
start from nothing and tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, make_url, text

POSTGRES_URL = os.environ.get("CDS_TEST_POSTGRES_URL")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """The URL of a new, empty database on the test server; dropped afterwards."""
    assert POSTGRES_URL is not None
    name = f"cds_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def drop_service_tables(database_url: str) -> None:
    """Empty a shared test database of this service's tables *and* its schema version.

    Dropping only a table would leave the Alembic version at head, and the migration would then
    never create that table again.
    """
    import cds_service.audit.models  # noqa: F401  (registers the audit tables)
    from cds_service.feedback.models import Base
    from cds_service.feedback.schema import VERSION_TABLE

    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))
            Base.metadata.drop_all(connection)
    finally:
        engine.dispose()
