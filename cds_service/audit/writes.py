"""Database writes of the decision audit: new calls, feedback folded into roll-ups, purges.

Every function takes an open connection inside a transaction and first updates the single
``cds_audit_lock`` row (:func:`serialise`). That makes "insert cards, then look for their
feedback" and "feedback stored, then look for its card" mutually exclusive on SQLite and
PostgreSQL alike, so whichever side commits second sees the other and counts the outcome once.
The per-card ``accepted`` / ``overridden`` flags make every fold idempotent: folding the same
feedback again (a resend, the daily re-check) changes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, cast

from sqlalchemy import Connection, Table, bindparam, case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cds_service.audit.entries import AuditedCall
from cds_service.audit.models import (
    REASON_MAX,
    AuditCall,
    AuditCard,
    AuditDaily,
    AuditDailyReason,
    AuditKnowledge,
    AuditLock,
    AuditWeekly,
    AuditWeeklyReason,
)
from cds_service.feedback.models import FeedbackRecord

_CHUNK: Final = 500
"""Card uuids per ``IN (...)`` query: well below SQLite's and PostgreSQL's parameter limits."""

_call = cast(Table, AuditCall.__table__)
_card = cast(Table, AuditCard.__table__)
_daily = cast(Table, AuditDaily.__table__)
_reason = cast(Table, AuditDailyReason.__table__)
_weekly = cast(Table, AuditWeekly.__table__)
_weekly_reason = cast(Table, AuditWeeklyReason.__table__)
_knowledge = cast(Table, AuditKnowledge.__table__)
_lock = cast(Table, AuditLock.__table__)
_feedback = cast(Table, FeedbackRecord.__table__)

DailyKey = tuple[date, str, str]
ReasonKey = tuple[date, str, str, str, str]


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _insert(connection: Connection) -> Any:
    """The dialect's ``INSERT`` with ``ON CONFLICT`` support."""
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def serialise(connection: Connection) -> None:
    """Take the audit writers' lock for the rest of this transaction."""
    connection.execute(update(_lock).where(_lock.c.id == 1).values(writes=_lock.c.writes + 1))


def write_calls(
    connection: Connection, calls: Sequence[AuditedCall], knowledge_version: str
) -> int:
    """Insert ``calls`` with their cards, count them in the roll-ups; returns the card count."""
    if not calls:
        return 0
    serialise(connection)
    call_rows: list[dict[str, Any]] = [
        {
            "recorded_at": _naive_utc(call.recorded_at),
            "service_id": call.service_id,
            "hook_instance": call.hook_instance,
            "knowledge_version": knowledge_version,
        }
        for call in calls
    ]
    ids = connection.execute(
        _call.insert().returning(_call.c.id, sort_by_parameter_order=True), call_rows
    ).scalars()
    card_rows: list[dict[str, Any]] = []
    shown: Counter[DailyKey] = Counter()
    for call_id, call, row in zip(ids, calls, call_rows, strict=True):
        day = row["recorded_at"].date()
        for card in call.cards:
            card_rows.append(
                {
                    "call_id": call_id,
                    "card_uuid": card.uuid,
                    "topic": card.topic,
                    "indicator": card.indicator,
                    "shown_on": day,
                    "accepted": False,
                    "overridden": False,
                }
            )
            shown[(day, card.topic, card.indicator)] += 1
    if card_rows:
        connection.execute(_card.insert(), card_rows)
        _add_daily(connection, shown=shown)
    _note_knowledge(connection, knowledge_version, call_rows)
    # Feedback that reached the database before its card did (another replica, a retry).
    # Rare: only the cards that have some are read back and folded.
    early = _with_feedback(connection, [row["card_uuid"] for row in card_rows])
    if early:
        _fold(connection, early)
    return len(card_rows)


def _with_feedback(connection: Connection, uuids: Sequence[str]) -> list[str]:
    """Those of ``uuids`` that some stored feedback names."""
    query = (
        select(_feedback.c.card_uuid)
        .where(_feedback.c.card_uuid.in_(bindparam("uuids", expanding=True)))
        .distinct()
    )
    found: list[str] = []
    for chunk in _chunks(sorted(set(uuids))):
        found.extend(connection.execute(query, {"uuids": list(chunk)}).scalars())
    return found


def _note_knowledge(
    connection: Connection, version: str, call_rows: Sequence[dict[str, Any]]
) -> None:
    first = min(row["recorded_at"] for row in call_rows)
    last = max(row["recorded_at"] for row in call_rows)
    statement = _insert(connection)(_knowledge).values(
        version=version, first_seen=first, last_seen=last
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[_knowledge.c.version],
            set_={
                "last_seen": case(
                    (
                        statement.excluded.last_seen > _knowledge.c.last_seen,
                        statement.excluded.last_seen,
                    ),
                    else_=_knowledge.c.last_seen,
                )
            },
        )
    )


_COUNTS: Final = ("shown", "accepted", "overridden", "answered")
_REASON_KEY: Final = ("topic", "indicator", "reason_system", "reason_code")


def monday(day: date) -> date:
    """The first day of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def _upsert_sums(
    connection: Connection,
    table: Table,
    keys: Sequence[str],
    sums: Sequence[str],
    rows: list[dict[str, Any]],
    replace: Sequence[str] = (),
) -> None:
    """Insert ``rows``, or add their ``sums`` to the row already there (and set ``replace``)."""
    if not rows:
        return
    statement = _insert(connection)(table)
    updates: dict[str, Any] = {name: table.c[name] + statement.excluded[name] for name in sums}
    updates.update({name: statement.excluded[name] for name in replace})
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c[name] for name in keys], set_=updates
        ),
        rows,
    )


def _by_day_and_week(
    rows: list[dict[str, Any]], sums: Sequence[str], key: Sequence[str]
) -> list[dict[str, Any]]:
    """The weekly rows of daily ``rows``: keyed by ``week_start``, ``sums`` added up."""
    weekly: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        week = monday(row["shown_on"])
        index = (week, *(row[name] for name in key))
        if index not in weekly:
            weekly[index] = {"week_start": week, **{name: row[name] for name in row}}
            del weekly[index]["shown_on"]
        else:
            for name in sums:
                weekly[index][name] += row[name]
    return list(weekly.values())


def _add_weekly(connection: Connection, daily_rows: list[dict[str, Any]]) -> None:
    """Add daily count rows to the weekly roll-up."""
    weekly = _by_day_and_week(daily_rows, _COUNTS, ("topic", "indicator"))
    _upsert_sums(connection, _weekly, ("week_start", "topic", "indicator"), _COUNTS, weekly)


def _add_weekly_reasons(connection: Connection, reason_rows: list[dict[str, Any]]) -> None:
    """Add daily override-reason rows to the weekly roll-up."""
    weekly = _by_day_and_week(reason_rows, ("overridden",), _REASON_KEY)
    keys = ("week_start", *_REASON_KEY)
    _upsert_sums(connection, _weekly_reason, keys, ("overridden",), weekly, ("reason_display",))


def _add_daily(
    connection: Connection,
    *,
    shown: Counter[DailyKey] | None = None,
    accepted: Counter[DailyKey] | None = None,
    overridden: Counter[DailyKey] | None = None,
    answered: Counter[DailyKey] | None = None,
) -> None:
    counters = {
        "shown": shown or Counter(),
        "accepted": accepted or Counter(),
        "overridden": overridden or Counter(),
        "answered": answered or Counter(),
    }
    keys = sorted(set().union(*counters.values()))
    rows = [
        {
            "shown_on": day,
            "topic": topic,
            "indicator": indicator,
            **{name: counter[(day, topic, indicator)] for name, counter in counters.items()},
        }
        for day, topic, indicator in keys
    ]
    _upsert_sums(connection, _daily, ("shown_on", "topic", "indicator"), _COUNTS, rows)
    _add_weekly(connection, rows)


def _add_reasons(
    connection: Connection, reasons: Counter[ReasonKey], displays: dict[ReasonKey, str]
) -> None:
    rows = [
        {
            "shown_on": key[0],
            "topic": key[1],
            "indicator": key[2],
            "reason_system": key[3],
            "reason_code": key[4],
            "reason_display": displays.get(key, ""),
            "overridden": count,
        }
        for key, count in sorted(reasons.items())
    ]
    _upsert_sums(
        connection, _reason, ("shown_on", *_REASON_KEY), ("overridden",), rows, ("reason_display",)
    )
    _add_weekly_reasons(connection, rows)


@dataclass
class _Outcomes:
    accepted: bool = False
    overridden: bool = False
    reason: tuple[str, str, str] | None = None  # (system, code, display) of the first override


def _clip(value: str | None) -> str:
    return (value or "")[:REASON_MAX]


def _outcomes(connection: Connection, uuids: Sequence[str]) -> dict[str, _Outcomes]:
    """Each card's feedback outcomes; the earliest override supplies the reason."""
    found: dict[str, _Outcomes] = {}
    query = (
        select(
            _feedback.c.card_uuid,
            _feedback.c.outcome,
            _feedback.c.override_reason_system,
            _feedback.c.override_reason_code,
            _feedback.c.override_reason_display,
        )
        .where(_feedback.c.card_uuid.in_(bindparam("uuids", expanding=True)))
        .order_by(_feedback.c.outcome_timestamp, _feedback.c.id)
    )
    for card_uuid, outcome, system, code, display in connection.execute(
        query, {"uuids": list(uuids)}
    ):
        seen = found.setdefault(card_uuid, _Outcomes())
        if outcome == "accepted":
            seen.accepted = True
        elif outcome == "overridden" and not seen.overridden:
            seen.overridden = True
            seen.reason = (_clip(system), _clip(code), _clip(display))
    return found


def _fold(connection: Connection, uuids: Sequence[str]) -> int:
    """Count not-yet-counted feedback outcomes of these cards; returns outcomes newly counted."""
    accepted: Counter[DailyKey] = Counter()
    overridden: Counter[DailyKey] = Counter()
    answered: Counter[DailyKey] = Counter()
    reasons: Counter[ReasonKey] = Counter()
    displays: dict[ReasonKey, str] = {}
    flag_accepted: list[dict[str, Any]] = []
    flag_overridden: list[dict[str, Any]] = []
    for chunk in _chunks(sorted(set(uuids))):
        cards = connection.execute(
            select(
                _card.c.id,
                _card.c.card_uuid,
                _card.c.shown_on,
                _card.c.topic,
                _card.c.indicator,
                _card.c.accepted,
                _card.c.overridden,
            ).where(
                _card.c.card_uuid.in_(bindparam("uuids", expanding=True)),
                ~(_card.c.accepted & _card.c.overridden),
            ),
            {"uuids": list(chunk)},
        ).all()
        if not cards:
            continue
        outcomes = _outcomes(connection, [card.card_uuid for card in cards])
        for card in cards:
            seen = outcomes.get(card.card_uuid)
            if seen is None:
                continue
            key: DailyKey = (card.shown_on, card.topic, card.indicator)
            if not (card.accepted or card.overridden):
                answered[key] += 1  # its first feedback of any kind
            if seen.accepted and not card.accepted:
                accepted[key] += 1
                flag_accepted.append({"card_id": card.id})
            if seen.overridden and not card.overridden:
                overridden[key] += 1
                flag_overridden.append({"card_id": card.id})
                system, code, display = seen.reason or ("", "", "")
                reason_key: ReasonKey = (*key, system, code)
                reasons[reason_key] += 1
                if display:
                    displays[reason_key] = display
    by_id = _card.c.id == bindparam("card_id")
    if flag_accepted:
        connection.execute(update(_card).where(by_id).values(accepted=True), flag_accepted)
    if flag_overridden:
        connection.execute(update(_card).where(by_id).values(overridden=True), flag_overridden)
    _add_daily(connection, accepted=accepted, overridden=overridden, answered=answered)
    _add_reasons(connection, reasons, displays)
    return len(flag_accepted) + len(flag_overridden)


def fold_feedback(connection: Connection, card_uuids: Iterable[str]) -> int:
    """Count newly stored feedback on these cards (a no-op for cards not yet audited)."""
    uuids = list(card_uuids)
    if not uuids:
        return 0
    serialise(connection)
    return _fold(connection, uuids)


def refold_recent_feedback(connection: Connection, received_since: datetime) -> int:
    """Re-check feedback received since then: heals a fold lost to a crash or an outage."""
    serialise(connection)
    uuids = connection.execute(
        select(_feedback.c.card_uuid)
        .where(_feedback.c.received_at >= _naive_utc(received_since))
        .distinct()
    ).scalars()
    return _fold(connection, list(uuids))


def purge_before(connection: Connection, first_kept_day: date) -> int:
    """Delete every audit row of a day before ``first_kept_day``; returns cards deleted.

    Whole UTC days go at once, raw rows and roll-ups alike, so the two never disagree. The
    weekly roll-up of the week that straddles the cut-off is rebuilt from its remaining days.
    """
    serialise(connection)
    cards = connection.execute(delete(_card).where(_card.c.shown_on < first_kept_day)).rowcount
    cutoff = datetime.combine(first_kept_day, time())
    connection.execute(delete(_call).where(_call.c.recorded_at < cutoff))
    connection.execute(delete(_daily).where(_daily.c.shown_on < first_kept_day))
    connection.execute(delete(_reason).where(_reason.c.shown_on < first_kept_day))
    connection.execute(delete(_knowledge).where(_knowledge.c.last_seen < cutoff))
    boundary = monday(first_kept_day)
    connection.execute(delete(_weekly).where(_weekly.c.week_start <= boundary))
    connection.execute(delete(_weekly_reason).where(_weekly_reason.c.week_start <= boundary))
    week = _daily.c.shown_on.between(boundary, boundary + timedelta(days=6))
    daily_rows = [dict(row._mapping) for row in connection.execute(select(_daily).where(week))]
    _add_weekly(connection, daily_rows)
    in_week = _reason.c.shown_on.between(boundary, boundary + timedelta(days=6))
    reason_rows = [dict(r._mapping) for r in connection.execute(select(_reason).where(in_week))]
    _add_weekly_reasons(connection, reason_rows)
    return int(cards or 0)
