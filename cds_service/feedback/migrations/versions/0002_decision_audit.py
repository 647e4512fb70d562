"""Decision audit (issue 12): calls, cards, daily and weekly roll-ups, knowledge, writer lock.

Adds tables only, plus an index on ``cds_feedback.received_at``: existing feedback rows are
untouched.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_index("ix_cds_feedback_received_at", "cds_feedback", ["received_at"])
    op.create_table(
        "cds_audit_call",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("recorded_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("service_id", sa.String(100), nullable=False),
        sa.Column("hook_instance", sa.String(128), nullable=False),
        sa.Column("knowledge_version", sa.String(80), nullable=False),
    )
    op.create_index("ix_cds_audit_call_recorded_at", "cds_audit_call", ["recorded_at"])
    op.create_table(
        "cds_audit_card",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column(
            "call_id",
            _ID,
            sa.ForeignKey("cds_audit_call.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("shown_on", sa.Date(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("overridden", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("card_uuid", name="uq_cds_audit_card_card_uuid"),
    )
    op.create_index("ix_cds_audit_card_call_id", "cds_audit_card", ["call_id"])
    op.create_index("ix_cds_audit_card_shown_on", "cds_audit_card", ["shown_on"])
    op.create_table(
        "cds_audit_daily",
        sa.Column("shown_on", sa.Date(), primary_key=True),
        sa.Column("topic", sa.String(100), primary_key=True),
        sa.Column("indicator", sa.String(16), primary_key=True),
        sa.Column("shown", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("overridden", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
    )
    op.create_table(
        "cds_audit_daily_reason",
        sa.Column("shown_on", sa.Date(), primary_key=True),
        sa.Column("topic", sa.String(100), primary_key=True),
        sa.Column("indicator", sa.String(16), primary_key=True),
        sa.Column("reason_system", sa.String(255), primary_key=True),
        sa.Column("reason_code", sa.String(255), primary_key=True),
        sa.Column("reason_display", sa.String(255), nullable=False),
        sa.Column("overridden", sa.Integer(), nullable=False),
    )
    op.create_table(
        "cds_audit_weekly",
        sa.Column("week_start", sa.Date(), primary_key=True),
        sa.Column("topic", sa.String(100), primary_key=True),
        sa.Column("indicator", sa.String(16), primary_key=True),
        sa.Column("shown", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("overridden", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
    )
    op.create_table(
        "cds_audit_weekly_reason",
        sa.Column("week_start", sa.Date(), primary_key=True),
        sa.Column("topic", sa.String(100), primary_key=True),
        sa.Column("indicator", sa.String(16), primary_key=True),
        sa.Column("reason_system", sa.String(255), primary_key=True),
        sa.Column("reason_code", sa.String(255), primary_key=True),
        sa.Column("reason_display", sa.String(255), nullable=False),
        sa.Column("overridden", sa.Integer(), nullable=False),
    )
    op.create_table(
        "cds_audit_knowledge",
        sa.Column("version", sa.String(80), primary_key=True),
        sa.Column("first_seen", sa.DateTime(timezone=False), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=False), nullable=False),
    )
    lock = op.create_table(
        "cds_audit_lock",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("writes", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(lock, [{"id": 1, "writes": 0}])


def downgrade() -> None:
    for table in (
        "cds_audit_lock",
        "cds_audit_knowledge",
        "cds_audit_weekly_reason",
        "cds_audit_weekly",
        "cds_audit_daily_reason",
        "cds_audit_daily",
        "cds_audit_card",
        "cds_audit_call",
    ):
        op.drop_table(table)
    op.drop_index("ix_cds_feedback_received_at", table_name="cds_feedback")
