"""Alembic environment: always run on the connection handed over by ``upgrade_schema``."""

from __future__ import annotations

from alembic import context

import cds_service.audit.models  # noqa: F401  (registers the audit tables on Base.metadata)
from cds_service.feedback.models import Base
from cds_service.feedback.schema import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
