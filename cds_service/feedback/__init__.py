"""Persistence of CDS Hooks feedback (SQLite by default, PostgreSQL by URL)."""
