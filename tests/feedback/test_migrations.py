"""Alembic migrations: a fresh database, and one made by the pre-migration release, both reach
the models' schema, and upgrading keeps every feedback row (SQLite and PostgreSQL)."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    insert,
    inspect,
    select,
    text,
)

import cds_service.audit.models  # noqa: F401  (audit tables on Base.metadata)
from cds_service.feedback.models import Base, FeedbackRecord
from cds_service.feedback.schema import VERSION_TABLE, current_revision, head_revision
from cds_service.feedback.store import FeedbackStore
from cds_service.protocol.models import parse_feedback
from tests.support.databases import POSTGRES_URL, fresh_postgres_database

# The feedback table exactly as release 0.1.0 (commit 15b8ec4) created it with create_all.
_RELEASE_0_1_0 = MetaData()
Table(
    "cds_feedback",
    _RELEASE_0_1_0,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service_id", String(100), nullable=False),
    Column("card_uuid", String(255), nullable=False, index=True),
    Column("outcome", String(20), nullable=False),
    Column("accepted_suggestions", JSON, nullable=False),
    Column("override_reason_code", String(1024)),
    Column("override_reason_system", String(1024)),
    Column("override_reason_display", String(1024)),
    Column("user_comment", Text),
    Column("outcome_timestamp", DateTime(timezone=False), nullable=False),
    Column("received_at", DateTime(timezone=False), nullable=False),
    UniqueConstraint(
        "service_id", "card_uuid", "outcome", "outcome_timestamp", name="uq_cds_feedback_item"
    ),
)

OLD_ROWS: list[dict[str, Any]] = [
    {
        "service_id": "natalizumab-order-sign",
        "card_uuid": f"card-{index}",
        "outcome": "overridden" if index % 2 else "accepted",
        "accepted_suggestions": [] if index % 2 else [f"suggestion-{index}"],
        "override_reason_code": "benefit-outweighs-risk" if index % 2 else None,
        "override_reason_system": None,
        "override_reason_display": None,
        "user_comment": "kept" if index == 3 else None,
        "outcome_timestamp": datetime(2026, 1, 1 + index, 9, 30),
        "received_at": datetime(2026, 1, 1 + index, 9, 31),
    }
    for index in range(5)
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("CDS_TEST_POSTGRES_URL is not set")
    with fresh_postgres_database() as url:
        yield url


def _schema_differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return list(compare_metadata(context, Base.metadata))


def _revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return current_revision(connection)


def test_a_new_database_is_migrated_to_exactly_the_models(database_url: str) -> None:
    store = FeedbackStore(database_url)
    try:
        store.ensure_schema()
        assert _revision(store.engine) == head_revision()
        assert _schema_differences(store.engine) == []
    finally:
        store.dispose()


def test_a_release_0_1_0_database_keeps_its_feedback(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        _RELEASE_0_1_0.create_all(engine)
        with engine.begin() as connection:
            connection.execute(_RELEASE_0_1_0.tables["cds_feedback"].insert(), OLD_ROWS)
        assert _revision(engine) is None
    finally:
        engine.dispose()

    store = FeedbackStore(database_url)
    try:
        store.ensure_schema()
        assert _revision(store.engine) == head_revision()
        assert _schema_differences(store.engine) == []
        tables = set(inspect(store.engine).get_table_names())
        assert {"cds_audit_call", "cds_audit_card", "cds_audit_daily"} <= tables
        kept = [{column: getattr(row, column) for column in OLD_ROWS[0]} for row in store.records()]
        assert kept == OLD_ROWS
        # The upgraded table still takes new feedback, and still refuses duplicates.
        item = {
            "card": "card-9",
            "outcome": "overridden",
            "outcomeTimestamp": "2026-02-01T00:00:00Z",
        }
        items = parse_feedback({"feedback": [item, item]}).feedback
        result = store.store("natalizumab-order-sign", items, datetime.now(UTC))
        assert (result.stored, result.duplicates) == (1, 1)
        with store.engine.connect() as connection:
            count = connection.execute(select(FeedbackRecord.id)).all()
        assert len(count) == len(OLD_ROWS) + 1
    finally:
        store.dispose()


def test_migrating_again_changes_nothing(database_url: str) -> None:
    first = FeedbackStore(database_url)
    try:
        first.ensure_schema()
        with first.engine.begin() as connection:
            connection.execute(insert(FeedbackRecord), OLD_ROWS[:1])
    finally:
        first.dispose()
    second = FeedbackStore(database_url)
    try:
        second.ensure_schema()
        assert len(second.records()) == 1
        with second.engine.connect() as connection:
            versions = connection.execute(text(f"SELECT * FROM {VERSION_TABLE}")).all()
        assert [tuple(row) for row in versions] == [(head_revision(),)]
    finally:
        second.dispose()


def _migrate(database_url: str) -> str | None:
    store = FeedbackStore(database_url)
    try:
        store.ensure_schema()
        return _revision(store.engine)
    finally:
        store.dispose()


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_workers_starting_together_all_get_the_schema(database_url: str, executor: str) -> None:
    """``--workers N`` and replicas (processes) or several apps in one process (threads)
    migrate the same database at the same moment: every one of them succeeds."""
    pool: concurrent.futures.Executor
    if executor == "threads":
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=4)
    else:
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=3, mp_context=multiprocessing.get_context("spawn")
        )
    with pool:
        revisions = list(pool.map(_migrate, [database_url] * 6))
    assert revisions == [head_revision()] * 6
    engine = create_engine(database_url)
    try:
        assert _schema_differences(engine) == []
    finally:
        engine.dispose()
