"""The analytics tests use the audit tests' migrated database fixture (SQLite and PostgreSQL)."""

from tests.audit.conftest import audit_store  # noqa: F401
