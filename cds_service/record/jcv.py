"""Anti-JCV antibody results: the Observations of one test read as one result.

Labs report the STRATIFY JCV antibody and its index as two Observations, and settle an index of
0.20-0.40 with an inhibition step, so a lone index of 0.3 next to the lab's "positive" is not an
indeterminate test (contract section 2). Observations sharing a specimen or listed in one
DiagnosticReport's ``result`` are one test; Observations linked to neither are grouped by their
local date (the date as written, in its own UTC offset). In a group the lab's qualitative result
wins whatever the index; a positive and a negative in one group make it indeterminate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from cds_service.knowledge.loader import Thresholds
from cds_service.record.fhir import JSON, concepts, is_excluded, number, reference_of
from cds_service.record.medications import relative_reference
from cds_service.record.model import Evidence, JcvResult, JcvStatus
from cds_service.record.terminology import Terminology

QUALITATIVE_SETS = (
    (JcvStatus.NEGATIVE, "jcv-result-negative"),
    (JcvStatus.INDETERMINATE, "jcv-result-indeterminate"),
    (JcvStatus.POSITIVE, "jcv-result-positive"),
)


@dataclass(frozen=True)
class JcvPart:
    """One Observation of an anti-JCV test, before grouping."""

    evidence: Evidence
    qualitative: JcvStatus | None
    index: float | None
    specimen: str | None


def qualitative(resource: JSON, tm: Terminology) -> JcvStatus | None:
    """The lab's own reading (value or interpretation), or None when it gives none."""
    candidates: list[Any] = [resource.get("valueCodeableConcept")]
    value_string = resource.get("valueString")
    if isinstance(value_string, str):
        candidates.append({"text": value_string})
    candidates.extend(concepts(resource.get("interpretation")))
    for concept in candidates:
        for status, valueset in QUALITATIVE_SETS:
            if tm[valueset].match_concept(concept):
                return status
    return None


def _reference(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        return relative_reference(value["reference"])
    return None


class JcvGrouper:
    """Collects anti-JCV Observations and DiagnosticReport links; groups them at the end."""

    def __init__(self, tm: Terminology, thresholds: Thresholds) -> None:
        self.tm = tm
        self.thresholds = thresholds
        self.parts: list[JcvPart] = []
        self.report_of: dict[str, str] = {}

    def note_report(self, resource: JSON) -> None:
        """Remember which Observations a DiagnosticReport lists (read from raw JSON: cheap)."""
        results = resource.get("result")
        if not isinstance(results, list) or is_excluded(resource):
            return
        report = reference_of(resource)
        for item in results:
            target = _reference(item)
            if target is not None:
                self.report_of.setdefault(target, report)

    def add(self, resource: JSON, evidence: Evidence) -> None:
        index: float | None = None
        quantity = resource.get("valueQuantity")
        if isinstance(quantity, dict):
            index = number(quantity.get("value"))
        status = qualitative(resource, self.tm)
        if status is None and index is None:
            return
        reading = ", ".join(
            [
                *([status.value] if status else []),
                *([f"index {index:g}"] if index is not None else []),
            ]
        )
        evidence = replace(evidence, description=f"{evidence.description} = {reading}")
        self.parts.append(JcvPart(evidence, status, index, _reference(resource.get("specimen"))))

    def results(self) -> list[JcvResult]:
        groups: dict[tuple[str, str], list[JcvPart]] = defaultdict(list)
        for position, part in enumerate(self.parts):
            groups[self._key(part, position)].append(part)
        return [self._result(parts) for parts in groups.values()]

    def _key(self, part: JcvPart, position: int) -> tuple[str, str]:
        report = self.report_of.get(part.evidence.reference)
        if report is not None:
            return ("report", report)
        if part.specimen is not None:
            return ("specimen", part.specimen)
        if part.evidence.date is not None:
            return ("date", part.evidence.date.isoformat())
        return ("alone", str(position))

    def _result(self, parts: list[JcvPart]) -> JcvResult:
        readings = {p.qualitative for p in parts if p.qualitative is not None}
        indices = [p.index for p in parts if p.index is not None]
        # Several indices in one test should not happen; the highest is the cautious reading.
        index = max(indices) if indices else None
        status = _group_status(readings) or self._from_index(index)
        latest = max(parts, key=lambda p: (p.evidence.date or date.min, p.evidence.reference))
        return JcvResult(latest.evidence, status, index, tuple(p.evidence for p in parts))

    def _from_index(self, index: float | None) -> JcvStatus:
        if index is None:  # unreachable: a part has a reading or an index
            return JcvStatus.INDETERMINATE
        if index > self.thresholds.jcv_index_positive_above.value:
            return JcvStatus.POSITIVE
        if index < self.thresholds.jcv_index_negative_below.value:
            return JcvStatus.NEGATIVE
        return JcvStatus.INDETERMINATE


def _group_status(readings: Iterable[JcvStatus]) -> JcvStatus | None:
    """The lab's qualitative result; positive with negative is a conflict (indeterminate).

    An "indeterminate" reading next to a positive or negative one is the screening step that
    the inhibition step settled, so the definite reading wins.
    """
    found = set(readings)
    if {JcvStatus.POSITIVE, JcvStatus.NEGATIVE} <= found:
        return JcvStatus.INDETERMINATE
    for status in (JcvStatus.POSITIVE, JcvStatus.NEGATIVE, JcvStatus.INDETERMINATE):
        if status in found:
            return status
    return None
