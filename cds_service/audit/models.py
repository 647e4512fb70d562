"""The decision-audit tables, on the feedback schema's ``Base`` so one metadata describes the DB.

Raw rows (:class:`AuditCall`, :class:`AuditCard`) say what was shown; the daily roll-ups
(:class:`AuditDaily`, :class:`AuditDailyReason`) are what analytics reads. The roll-ups exist
because a year of a large hospital's audit (about 2 million cards) cannot be grouped and joined
to feedback inside the 200 ms the committee's page may take; a few thousand daily rows can.
They are keyed by the UTC day the card was *shown*, so feedback arriving later still counts
in the week its card appeared and a rate's numerator is always part of its denominator.

Schema changes go through the Alembic migrations in ``cds_service/feedback/migrations``; a
test checks that the migrated schema equals these models.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from cds_service.feedback.models import Base

#: SQLite only auto-increments an ``INTEGER PRIMARY KEY``; PostgreSQL gets a 64-bit key.
_ID = BigInteger().with_variant(Integer, "sqlite")

#: Longest stored override-reason ``system`` / ``code`` / ``display`` in the roll-up.
REASON_MAX = 255


class AuditCall(Base):
    """One hook call answered 200 with at least one card; timestamps are naive UTC."""

    __tablename__ = "cds_audit_call"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), index=True)
    service_id: Mapped[str] = mapped_column(String(100))
    hook_instance: Mapped[str] = mapped_column(String(128))
    knowledge_version: Mapped[str] = mapped_column(String(80))


class AuditCard(Base):
    """One card shown: its ``uuid`` (what feedback names), topic, indicator, and outcome flags.

    ``accepted`` / ``overridden`` say whether feedback of that outcome has been counted in
    the roll-ups for this card, so a resent or late item never counts twice.
    """

    __tablename__ = "cds_audit_card"
    __table_args__ = (UniqueConstraint("card_uuid", name="uq_cds_audit_card_card_uuid"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    call_id: Mapped[int] = mapped_column(
        _ID, ForeignKey("cds_audit_call.id", ondelete="CASCADE"), index=True
    )
    card_uuid: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(100))
    indicator: Mapped[str] = mapped_column(String(16))
    shown_on: Mapped[date] = mapped_column(Date, index=True)
    accepted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    overridden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AuditDaily(Base):
    """Cards shown per UTC day, topic and indicator, and how many got feedback of each kind.

    ``answered`` counts cards with any feedback: a card both accepted and overridden counts
    once there, so answered <= shown and overridden <= answered always hold.
    """

    __tablename__ = "cds_audit_daily"

    shown_on: Mapped[date] = mapped_column(Date, primary_key=True)
    topic: Mapped[str] = mapped_column(String(100), primary_key=True)
    indicator: Mapped[str] = mapped_column(String(16), primary_key=True)
    shown: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    overridden: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)


class AuditDailyReason(Base):
    """Overridden cards per day, topic, indicator and override reason ('' = no reason given)."""

    __tablename__ = "cds_audit_daily_reason"

    shown_on: Mapped[date] = mapped_column(Date, primary_key=True)
    topic: Mapped[str] = mapped_column(String(100), primary_key=True)
    indicator: Mapped[str] = mapped_column(String(16), primary_key=True)
    reason_system: Mapped[str] = mapped_column(String(REASON_MAX), primary_key=True)
    reason_code: Mapped[str] = mapped_column(String(REASON_MAX), primary_key=True)
    reason_display: Mapped[str] = mapped_column(String(REASON_MAX), default="")
    overridden: Mapped[int] = mapped_column(Integer, default=0)


class AuditWeekly(Base):
    """:class:`AuditDaily` summed per ISO week (``week_start`` is its Monday).

    Whole weeks of a period are read from here, only its first and last (partial) weeks from
    the daily table: a year is then about 53 rows per topic and indicator, not 365.
    """

    __tablename__ = "cds_audit_weekly"

    week_start: Mapped[date] = mapped_column(Date, primary_key=True)
    topic: Mapped[str] = mapped_column(String(100), primary_key=True)
    indicator: Mapped[str] = mapped_column(String(16), primary_key=True)
    shown: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    overridden: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)


class AuditWeeklyReason(Base):
    """:class:`AuditDailyReason` summed per ISO week (``week_start`` is its Monday)."""

    __tablename__ = "cds_audit_weekly_reason"

    week_start: Mapped[date] = mapped_column(Date, primary_key=True)
    topic: Mapped[str] = mapped_column(String(100), primary_key=True)
    indicator: Mapped[str] = mapped_column(String(16), primary_key=True)
    reason_system: Mapped[str] = mapped_column(String(REASON_MAX), primary_key=True)
    reason_code: Mapped[str] = mapped_column(String(REASON_MAX), primary_key=True)
    reason_display: Mapped[str] = mapped_column(String(REASON_MAX), default="")
    overridden: Mapped[int] = mapped_column(Integer, default=0)


class AuditKnowledge(Base):
    """When each knowledge version was first and last in use, so a rule change can be dated."""

    __tablename__ = "cds_audit_knowledge"

    version: Mapped[str] = mapped_column(String(80), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=False))


class AuditLock(Base):
    """A single row every roll-up writer updates first: it serialises them on both backends.

    An ``UPDATE`` takes PostgreSQL's row lock and SQLite's write lock at once, so a batch of new
    cards and a batch of new feedback never miss each other (each sees the other committed).
    """

    __tablename__ = "cds_audit_lock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    writes: Mapped[int] = mapped_column(BigInteger, default=0)
