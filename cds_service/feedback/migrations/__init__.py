"""Alembic migrations of the feedback database (feedback, decision audit).

Run by :func:`cds_service.feedback.schema.upgrade_schema` at start-up; no ``alembic.ini`` is
needed. To add a revision: write ``versions/NNNN_<what>.py`` by hand (see the existing ones)
and extend ``tests/feedback/test_migrations.py`` with the upgrade from the previous schema.
"""
