"""The feedback table: one row per reported outcome of one card.

The unique constraint on (service, card, outcome, outcome timestamp) makes storing
idempotent: EHRs may resend the same feedback (the spec allows repeats), and a retry after a
lost response must not count an override twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of the feedback schema."""


class FeedbackRecord(Base):
    """One feedback item as received; timestamps are naive UTC on every backend."""

    __tablename__ = "cds_feedback"
    __table_args__ = (
        UniqueConstraint(
            "service_id", "card_uuid", "outcome", "outcome_timestamp", name="uq_cds_feedback_item"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[str] = mapped_column(String(100))
    card_uuid: Mapped[str] = mapped_column(String(255), index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    accepted_suggestions: Mapped[list[str]] = mapped_column(JSON, default=list)
    override_reason_code: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    override_reason_system: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    override_reason_display: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    user_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome_timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    # Indexed (migration 0002) for the decision audit's daily re-check of recent feedback.
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), index=True)
