"""Which drug a medication record is about, and how long natalizumab has been given.

Medication can be coded inline (``medicationCodeableConcept``) or by reference to a contained
or pooled ``Medication``; both count (contract section 2).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date
from typing import Any

from cds_service.record.dates import first_date, parse_fhir_date
from cds_service.record.fhir import JSON, reference_of
from cds_service.record.model import Evidence, Exposure


class MedicationIndex:
    """Medications by reference, to resolve ``medicationReference``."""

    def __init__(self, pooled: Iterable[JSON]) -> None:
        self._by_ref: dict[str, JSON] = {}
        for resource in pooled:
            if resource.get("resourceType") == "Medication" and isinstance(resource.get("id"), str):
                self._by_ref[f"Medication/{resource['id']}"] = resource

    def concept(self, resource: JSON) -> Any:
        """The medication's CodeableConcept, or None when it cannot be resolved."""
        inline = resource.get("medicationCodeableConcept")
        if inline is not None:
            return inline
        ref = resource.get("medicationReference")
        if not isinstance(ref, dict):
            return None
        target = ref.get("reference")
        medication: JSON | None = None
        if isinstance(target, str) and target.startswith("#"):
            contained = resource.get("contained")
            for candidate in contained if isinstance(contained, list) else ():
                if isinstance(candidate, dict) and candidate.get("id") == target[1:]:
                    medication = candidate
        elif isinstance(target, str):
            medication = self._by_ref.get(relative_reference(target))
        if medication is not None:
            code = medication.get("code")
            if code is not None:
                return code
        display = ref.get("display")
        return {"text": display} if isinstance(display, str) else None


def relative_reference(reference: str) -> str:
    """``Type/id`` from a relative or absolute reference, without any ``_history`` part."""
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    return "/".join(parts[-2:])


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


def natalizumab_exposure(
    administrations: list[JSON], courses: list[JSON], today: date, days_per_month: float
) -> Exposure:
    """Months of natalizumab: completed infusions if any, else the span of recorded courses.

    One infusion counts as one month (monthly dosing, US label section 2); otherwise the days
    from the earliest start to the latest end (today while a course is ongoing).
    """
    completed = [a for a in administrations if a.get("status") == "completed"]
    if completed:
        evidence = tuple(
            Evidence(
                reference_of(a),
                first_date(a, "effectiveDateTime", "effectivePeriod"),
                "natalizumab infusion (completed)",
            )
            for a in completed
        )
        return Exposure(len(completed), f"{len(completed)} completed infusions", evidence)

    starts: list[date] = []
    ends: list[date] = []
    evidence_list: list[Evidence] = []
    for course in courses:
        if course.get("resourceType") == "MedicationRequest":
            start, end = _request_period(course)
        else:
            start, end = _statement_period(course)
        if start is None:
            continue
        ongoing = course.get("status") == "active"
        end = today if ongoing else (end or start)
        starts.append(start)
        ends.append(end)
        evidence_list.append(
            Evidence(
                reference_of(course),
                start,
                f"natalizumab {course.get('resourceType')} ({course.get('status')}), "
                f"{start.isoformat()} to {'ongoing' if ongoing else end.isoformat()}",
            )
        )
    if not starts:
        return Exposure(0, "no previous natalizumab treatment recorded")
    days = max(0, (max(ends) - min(starts)).days)
    months = math.floor(days / days_per_month)
    return Exposure(
        months,
        f"{days} days from {min(starts).isoformat()} to {max(ends).isoformat()}",
        tuple(evidence_list),
    )
