"""Natalizumab history: what was given, for how long, and whether therapy is current.

Contract section 2 defines three things from the same records, and they are kept together so
they cannot drift apart:

- **exposure** (months): the larger of the completed infusions (at most one per 14 days, so a
  duplicate feed of the same infusion counts once) and the span of statements and non-draft
  requests (infusions given at an outside centre are often recorded only as a statement);
- **current therapy**: a recent infusion, a recently asserted active statement, or an active
  request authored a while ago. A request that was never given (a draft of this call, a
  cancelled one) or a statement left active for years does not make therapy current;
- the **treatment period**: first exposure to 183 days after the last, so evidence dated
  inside it was gathered on natalizumab (or while its effect lasted).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from cds_service.knowledge.loader import Thresholds
from cds_service.record.dates import first_date, parse_fhir_date
from cds_service.record.fhir import JSON, reference_of
from cds_service.record.model import Evidence, Exposure, NatalizumabUse, Therapy, UseKind

# Records that say the drug was not (or not yet) given never count as exposure.
NOT_GIVEN = {
    UseKind.ADMINISTRATION: frozenset({"not-done", "entered-in-error"}),
    UseKind.STATEMENT: frozenset({"not-taken", "intended", "entered-in-error"}),
    UseKind.REQUEST: frozenset({"draft", "cancelled", "entered-in-error"}),
}
KINDS = {
    "MedicationAdministration": UseKind.ADMINISTRATION,
    "MedicationStatement": UseKind.STATEMENT,
    "MedicationRequest": UseKind.REQUEST,
}


def read_use(resource: JSON, label: str) -> NatalizumabUse | None:
    """A natalizumab record as a typed fact, or None when it says the drug was not given.

    ``label`` names it on a card (the record's own name, else the knowledge data's).
    """
    kind = KINDS.get(str(resource.get("resourceType")))
    status = resource.get("status")
    status = status if isinstance(status, str) else ""
    if kind is None or status in NOT_GIVEN[kind]:
        return None
    recorded: date | None = None
    if kind is UseKind.ADMINISTRATION:
        start = first_date(resource, "effectiveDateTime", "effectivePeriod")
        end = None
    elif kind is UseKind.STATEMENT:
        start, end = _statement_period(resource)
        recorded = parse_fhir_date(resource.get("dateAsserted"))
    else:
        start, end = _request_period(resource)
        recorded = parse_fhir_date(resource.get("authoredOn"))
    evidence = Evidence(reference_of(resource), start, label)
    return NatalizumabUse(evidence, kind, status, start, end, recorded)


def _request_period(resource: JSON) -> tuple[date | None, date | None]:
    dispense = resource.get("dispenseRequest")
    validity = dispense.get("validityPeriod") if isinstance(dispense, dict) else None
    start = end = None
    if isinstance(validity, dict):
        start = parse_fhir_date(validity.get("start"))
        end = parse_fhir_date(validity.get("end"))
    return start or parse_fhir_date(resource.get("authoredOn")), end


def _statement_period(resource: JSON) -> tuple[date | None, date | None]:
    period = resource.get("effectivePeriod")
    if isinstance(period, dict):
        return parse_fhir_date(period.get("start")), parse_fhir_date(period.get("end"))
    return parse_fhir_date(resource.get("effectiveDateTime")), None


def _infusions(uses: Iterable[NatalizumabUse]) -> list[NatalizumabUse]:
    return [u for u in uses if u.kind is UseKind.ADMINISTRATION and u.status == "completed"]


def _courses(uses: Iterable[NatalizumabUse]) -> list[NatalizumabUse]:
    return [u for u in uses if u.kind is not UseKind.ADMINISTRATION and u.start is not None]


def _ongoing(use: NatalizumabUse) -> bool:
    return use.status == "active"


def count_infusions(days: Sequence[date | None], dedup_days: float) -> int:
    """Completed infusions, counting at most one per ``dedup_days`` (earliest first).

    An undated infusion cannot be placed in time, so it cannot be shown to duplicate another:
    it counts (undercounting exposure hides PML risk).
    """
    counted = sum(1 for day in days if day is None)
    last: date | None = None
    for day in sorted(d for d in days if d is not None):
        if last is None or (day - last).days >= dedup_days:
            counted += 1
            last = day
    return counted


def exposure(uses: Sequence[NatalizumabUse], today: date, thresholds: Thresholds) -> Exposure:
    infusions = _infusions(uses)
    infusion_days = [u.start for u in infusions]
    dated = sorted(d for d in infusion_days if d is not None)
    count = count_infusions(infusion_days, thresholds.infusion_dedup_days.value)

    courses = _courses(uses)
    span_months = 0
    span_start = span_end = None
    ongoing = False
    if courses:
        span_start = min(u.start for u in courses if u.start is not None)
        ends = [today if _ongoing(u) else (u.end or u.start) for u in courses]
        span_end = max(d for d in ends if d is not None)
        ongoing = any(_ongoing(u) for u in courses)
        days = max(0, (span_end - span_start).days)
        span_months = math.floor(days / thresholds.days_per_month.value)
    return Exposure(
        months=max(count, span_months),
        infusions=count,
        first_infusion=dated[0] if dated else None,
        last_infusion=dated[-1] if dated else None,
        span_months=span_months,
        span_start=span_start,
        span_end=span_end,
        span_ongoing=ongoing,
        courses=tuple(u.evidence for u in courses),
    )


def _makes_current(use: NatalizumabUse, today: date, thresholds: Thresholds) -> bool:
    if use.start is None:
        return False
    if use.kind is UseKind.ADMINISTRATION:
        recent = today - timedelta(days=int(thresholds.current_infusion_days.value))
        return use.status == "completed" and recent <= use.start <= today
    settled = today - timedelta(days=int(thresholds.current_course_min_days.value))
    if use.status != "active":
        return False
    if use.kind is UseKind.STATEMENT:
        asserted = use.recorded or use.start
        fresh = today - timedelta(days=int(thresholds.current_statement_asserted_days.value))
        return use.start <= settled and asserted >= fresh
    return use.recorded is not None and use.recorded <= settled


def therapy(uses: Sequence[NatalizumabUse], today: date, thresholds: Thresholds) -> Therapy:
    """Current therapy (the most recent record that makes it current) and treatment period."""
    current = [u for u in uses if _makes_current(u, today, thresholds)]
    current_by = max(
        current, key=lambda u: (u.start or date.min, u.evidence.reference), default=None
    )
    given = [*_infusions(uses), *_courses(uses)]
    starts = [u.start for u in given if u.start is not None]
    if not starts:
        return Therapy(current_by=current_by)
    lasts = [
        today if (u.kind is not UseKind.ADMINISTRATION and _ongoing(u)) else (u.end or u.start)
        for u in given
    ]
    last = max(d for d in lasts if d is not None)
    tail = timedelta(days=int(thresholds.treatment_period_tail_days.value))
    # A record dated at the end of the calendar (9999-12-31) has no later day to end on.
    end = last + tail if date.max - last >= tail else date.max
    return Therapy(
        current_by=current_by, period_start=min(starts), period_end=end, last_exposure=last
    )
