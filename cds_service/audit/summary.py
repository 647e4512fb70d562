"""Card analytics from the roll-ups: one query path for the API, the page and the CLI.

Definitions (README "Reading the override rate"):

* **shown**: cards the service returned in the period (UTC days, both ends included);
* **accepted** / **overridden**: of those cards, how many received at least one feedback item
  with that outcome (a card counts once per outcome however often feedback is resent);
* **override rate** = overridden / shown — *the* override rate, as in the alert-override
  literature: every card shown is in the denominator, so a card nobody answered is not hidden,
  and the rate does not depend on whether an EHR reports acceptances;
* **answered**: cards with any feedback (a card both accepted and overridden counts once);
* **response override rate** = overridden / answered: among cards that got an answer, how
  many were overridden;
* **feedback rate** = answered / shown: how much of what was shown got any answer (read the
  two rates above with it).

A rate whose denominator is 0 is ``None``. Everything is attributed to the day the card was
shown, so feedback on a card counts in that card's week whenever it arrives.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection, Date, cast, func, select

from cds_service.audit.models import (
    AuditDaily,
    AuditDailyReason,
    AuditKnowledge,
    AuditWeekly,
    AuditWeeklyReason,
)
from cds_service.knowledge.loader import knowledge

DEFAULT_DAYS: Final = 90
"""Default period: the 90 days up to and including ``until`` (about a committee's quarter)."""

MAX_DAYS: Final = 3660
"""Longest period one query may cover (ten years): bounds the size of the weekly answer."""

_ISO_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_INDICATOR_ORDER: Final = {"critical": 0, "warning": 1, "info": 2}

ReasonKey = tuple[str, str]  # (system, code); ("", "") = no reason given


class PeriodError(ValueError):
    """``since`` / ``until`` are not a valid period; the message says why (safe to show)."""


def _parse_day(name: str, value: str) -> date:
    if not _ISO_DATE.fullmatch(value):
        raise PeriodError(f"'{name}' must be a date written YYYY-MM-DD.")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PeriodError(f"'{name}' is not a calendar date.") from None


def parse_period(since: str | None, until: str | None, today: date) -> tuple[date, date]:
    """The period asked for, with defaults: ``until`` today (UTC), ``since`` 89 days before."""
    last = _parse_day("until", until) if until is not None else today
    first = _parse_day("since", since) if since is not None else last - timedelta(DEFAULT_DAYS - 1)
    if first > last:
        raise PeriodError("'since' must not be after 'until'.")
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError(f"The period may cover at most {MAX_DAYS} days.")
    return first, last


@dataclass
class Tally:
    """Counts for one slice (a topic and indicator, a week, or both)."""

    shown: int = 0
    accepted: int = 0
    overridden: int = 0
    answered: int = 0
    reasons: Counter[ReasonKey] = field(default_factory=Counter)

    def add(self, shown: int, accepted: int, overridden: int, answered: int) -> None:
        self.shown += shown
        self.accepted += accepted
        self.overridden += overridden
        self.answered += answered

    @property
    def override_rate(self) -> float | None:
        return self.overridden / self.shown if self.shown else None

    @property
    def response_override_rate(self) -> float | None:
        return self.overridden / self.answered if self.answered else None

    @property
    def feedback_rate(self) -> float | None:
        return self.answered / self.shown if self.shown else None


@dataclass(frozen=True)
class Week:
    """One ISO week, clipped to the period (``start``/``end`` are the days inside it)."""

    label: str
    start: date
    end: date


@dataclass
class TopicRow:
    """One card topic with one indicator: totals and the weeks that have any count."""

    topic: str
    display: str
    indicator: str
    total: Tally = field(default_factory=Tally)
    weeks: dict[str, Tally] = field(default_factory=dict)


@dataclass(frozen=True)
class KnowledgeVersion:
    """A knowledge version in use during the period (first and last call it answered)."""

    version: str
    first_seen: datetime
    last_seen: datetime


@dataclass
class Summary:
    """Everything the committee sees for one period."""

    since: date
    until: date
    weeks: list[Week]
    rows: list[TopicRow]
    total: Tally
    by_week: dict[str, Tally]
    reason_displays: dict[ReasonKey, str]
    knowledge_versions: list[KnowledgeVersion]
    topics_not_shown: list[tuple[str, str]]

    def reason_label(self, key: ReasonKey) -> str:
        """Human name of an override reason."""
        return self.reason_displays.get(key) or key[1] or "No reason given"


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def weeks_of(since: date, until: date) -> list[Week]:
    """Every ISO week touching the period, in order."""
    weeks: list[Week] = []
    monday = since - timedelta(days=since.weekday())
    while monday <= until:
        sunday = monday + timedelta(days=6)
        weeks.append(Week(iso_week(monday), max(monday, since), min(sunday, until)))
        monday += timedelta(days=7)
    return weeks


def _week_start(connection: Connection) -> Callable[[Any], Any]:
    """SQL for the Monday of a day's ISO week (the two dialects spell it differently)."""
    if connection.dialect.name == "postgresql":
        return lambda column: cast(func.date_trunc("week", column), Date)
    return lambda column: func.date(column, "weekday 0", "-6 days")


_COUNT_COLUMNS: Final = ("shown", "accepted", "overridden", "answered")


def _week_rows(
    connection: Connection,
    weekly: Any,
    daily: Any,
    full: list[Week],
    partial: list[Week],
    columns: tuple[str, ...],
    extra_keys: tuple[str, ...],
) -> list[Any]:
    """Rows ``(monday, topic, indicator, *columns)`` per ISO week of the period.

    Whole weeks come straight from the weekly roll-up; the period's partial first and last
    weeks are summed from the daily roll-up over just their days (at most 12 days in all).
    """
    rows: list[Any] = []
    if full:
        rows += connection.execute(
            select(
                weekly.c.week_start,
                weekly.c.topic,
                weekly.c.indicator,
                *(weekly.c[name] for name in columns),
            ).where(weekly.c.week_start.between(full[0].start, full[-1].start))
        ).all()
    week_of = _week_start(connection)(daily.c.shown_on)
    keys = (week_of, daily.c.topic, daily.c.indicator, *(daily.c[k] for k in extra_keys))
    for week in partial:
        sums = [
            daily.c[name]
            if name in extra_keys
            else func.max(daily.c[name])
            if name == "reason_display"
            else func.sum(daily.c[name])
            for name in columns
        ]
        rows += connection.execute(
            select(week_of, daily.c.topic, daily.c.indicator, *sums)
            .where(daily.c.shown_on.between(week.start, week.end))
            .group_by(*keys)
        ).all()
    return rows


def _concepts(codesystem_id: str) -> list[tuple[str, str]]:
    resource = knowledge().codesystems.get(codesystem_id, {})
    return [(str(c["code"]), str(c.get("display", c["code"]))) for c in resource.get("concept", [])]


def _reason_displays() -> dict[ReasonKey, str]:
    resource = knowledge().codesystems.get("override-reason", {})
    system = str(resource.get("url", ""))
    return {(system, code): display for code, display in _concepts("override-reason")}


def summarize(connection: Connection, since: date, until: date) -> Summary:
    """Read the roll-ups of ``since``..``until`` (inclusive) and add them up."""
    daily = AuditDaily.__table__
    reason = AuditDailyReason.__table__
    versions = AuditKnowledge.__table__
    topic_names = dict(_concepts("card-topic"))
    topic_order = {code: index for index, code in enumerate(topic_names)}
    rows: dict[tuple[str, str], TopicRow] = {}
    total = Tally()
    weeks = weeks_of(since, until)
    by_week = {week.label: Tally() for week in weeks}

    def row_of(topic: str, indicator: str) -> TopicRow:
        key = (topic, indicator)
        if key not in rows:
            rows[key] = TopicRow(topic, topic_names.get(topic, topic), indicator)
        return rows[key]

    weekly = AuditWeekly.__table__
    weekly_reason = AuditWeeklyReason.__table__
    labels: dict[date, str] = {}

    def label(monday: date | str) -> str:
        day = date.fromisoformat(monday) if isinstance(monday, str) else monday
        if day not in labels:
            labels[day] = iso_week(day)
        return labels[day]

    def tallies(week: str, row: TopicRow) -> tuple[Tally, ...]:
        if week not in row.weeks:
            row.weeks[week] = Tally()
        return row.total, row.weeks[week], total, by_week[week]

    full = [week for week in weeks if (week.end - week.start).days == 6]
    partial = [week for week in weeks if (week.end - week.start).days != 6]
    for monday, topic, indicator, *counts in _week_rows(
        connection, weekly, daily, full, partial, _COUNT_COLUMNS, ()
    ):
        shown, accepted, overridden, answered = (int(value) for value in counts)
        for tally in tallies(label(monday), row_of(topic, indicator)):
            tally.add(shown, accepted, overridden, answered)

    displays = _reason_displays()
    for monday, topic, indicator, system, code, display, count in _week_rows(
        connection,
        weekly_reason,
        reason,
        full,
        partial,
        ("reason_system", "reason_code", "reason_display", "overridden"),
        ("reason_system", "reason_code"),
    ):
        key = (system, code)
        if display and key not in displays:
            displays[key] = display
        for tally in tallies(label(monday), row_of(topic, indicator)):
            tally.reasons[key] += int(count)

    start = datetime.combine(since, datetime.min.time())
    end = datetime.combine(until + timedelta(days=1), datetime.min.time())
    known = [
        KnowledgeVersion(version, first, last)
        for version, first, last in connection.execute(
            select(versions.c.version, versions.c.first_seen, versions.c.last_seen)
            .where(versions.c.last_seen >= start, versions.c.first_seen < end)
            .order_by(versions.c.first_seen)
        )
    ]
    ordered = sorted(
        rows.values(),
        key=lambda r: (
            topic_order.get(r.topic, len(topic_order)),
            r.topic,
            _INDICATOR_ORDER.get(r.indicator, 9),
        ),
    )
    shown_topics = {row.topic for row in ordered if row.total.shown}
    return Summary(
        since=since,
        until=until,
        weeks=weeks,
        rows=ordered,
        total=total,
        by_week=by_week,
        reason_displays=displays,
        knowledge_versions=known,
        topics_not_shown=[(c, d) for c, d in topic_names.items() if c not in shown_topics],
    )
