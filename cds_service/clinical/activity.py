"""MS activity in the last 12 months: evidence of activity, of non-activity, or neither.

Lublin 2014: activity is relapses and/or MRI activity, assessed at least annually; "if
assessments are not available, activity is 'indeterminate'". So only an assessment that looks
for new lesions (a new-or-enlarging-T2 count) or a coded non-active phenotype (G35.C2) shows
non-active disease; a free-text MRI report or a gadolinium count of 0 alone does not. Evidence
gathered during the natalizumab treatment period may show the drug working, not the disease
being inactive, so it is kept apart (contract section 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from cds_service.clinical.windows import latest, recent, within
from cds_service.knowledge.loader import Rules
from cds_service.record.model import Evidence, LesionKind, PatientRecord


@dataclass(frozen=True)
class ActivityAssessment:
    """What the record says about MS activity within the activity window.

    ``non_active`` is non-activity evidence dated outside the natalizumab treatment period,
    ``on_treatment`` the same evidence dated inside it. ``unassessed_mris`` are brain MRIs in
    the window without a new-or-enlarging-T2 count (one per date); ``gd_only`` those of them
    that have a gadolinium count. ``latest_assessment`` is the latest dated assessment of any
    age (relapse, lesion count, coded active or non-active phenotype).
    """

    active: tuple[Evidence, ...]
    non_active: tuple[Evidence, ...]
    on_treatment: tuple[Evidence, ...]
    unassessed_mris: tuple[Evidence, ...]
    gd_only: tuple[Evidence, ...]
    latest_assessment: Evidence | None


def activity_evidence(record: PatientRecord, now: datetime, rules: Rules) -> list[Evidence]:
    """Relapse, a lesion count > 0 or a coded active MS, within the activity window."""
    today = now.date()
    window = rules.thresholds.activity_window_days.value
    evidence = recent(record.relapses, today, window)
    evidence += recent((c.evidence for c in record.mri_lesion_counts if c.active), today, window)
    evidence += [
        p.evidence
        for p in record.phenotypes
        if p.coded_active and within(p.evidence.date, today, window)
    ]
    return evidence


def _non_activity(record: PatientRecord, today: date, window: float) -> list[Evidence]:
    coded = [p.evidence for p in record.phenotypes if p.coded_non_active]
    t2_zero = [
        c.evidence
        for c in record.mri_lesion_counts
        if c.kind is LesionKind.NEW_OR_ENLARGING_T2 and not c.active
    ]
    return recent([*coded, *t2_zero], today, window)


def _unassessed(
    record: PatientRecord, today: date, window: float
) -> tuple[list[Evidence], list[Evidence]]:
    counts = record.mri_lesion_counts
    t2_days = {c.evidence.date for c in counts if c.kind is LesionKind.NEW_OR_ENLARGING_T2}
    gd_days = {c.evidence.date for c in counts if c.kind is LesionKind.GD_ENHANCING}
    count_refs = {c.evidence.reference for c in counts}
    by_day: dict[date, Evidence] = {}
    for exam in recent(record.mri_exams, today, window):
        if exam.date is None or exam.date in t2_days:
            continue
        known = by_day.get(exam.date)
        # Name the exam itself (the report) rather than the lesion-count Observation.
        if known is None or (known.reference in count_refs and exam.reference not in count_refs):
            by_day[exam.date] = exam
    unassessed = [by_day[day] for day in sorted(by_day, reverse=True)]
    return unassessed, [e for e in unassessed if e.date in gd_days]


def assess_activity(record: PatientRecord, now: datetime, rules: Rules) -> ActivityAssessment:
    today = now.date()
    window = rules.thresholds.activity_window_days.value
    non_activity = _non_activity(record, today, window)
    unassessed, gd_only = _unassessed(record, today, window)
    assessments = [
        *record.relapses,
        *(c.evidence for c in record.mri_lesion_counts),
        *(p.evidence for p in record.phenotypes if p.coded_active or p.coded_non_active),
    ]
    in_period = record.therapy.in_period
    return ActivityAssessment(
        active=tuple(activity_evidence(record, now, rules)),
        non_active=tuple(e for e in non_activity if not in_period(e.date)),
        on_treatment=tuple(e for e in non_activity if in_period(e.date)),
        unassessed_mris=tuple(unassessed),
        gd_only=tuple(gd_only),
        latest_assessment=latest(e for e in assessments if e.date is not None),
    )
