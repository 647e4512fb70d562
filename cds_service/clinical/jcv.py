"""The patient's anti-JCV antibody status across all results.

Once positive, a patient is treated as positive from then on (seroconversion is not undone by
a later negative result); "the index" is that of the latest positive result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cds_service.record.model import JcvResult, JcvStatus, PatientRecord


@dataclass(frozen=True)
class JcvSummary:
    status: JcvStatus | None  # None: no result or only indeterminate ones
    latest: JcvResult | None  # the latest result of any kind
    latest_positive: JcvResult | None

    @property
    def positive(self) -> bool:
        return self.status is JcvStatus.POSITIVE

    @property
    def index(self) -> float | None:
        return self.latest_positive.index if self.latest_positive else None


def _when(result: JcvResult) -> tuple[bool, date, str]:
    return (
        result.evidence.date is not None,
        result.evidence.date or date.min,
        result.evidence.reference,
    )


def summarise_jcv(record: PatientRecord) -> JcvSummary:
    results = sorted(record.jcv_results, key=_when)
    positives = [r for r in results if r.status is JcvStatus.POSITIVE]
    status: JcvStatus | None = None
    if positives:
        status = JcvStatus.POSITIVE
    elif any(r.status is JcvStatus.NEGATIVE for r in results):
        status = JcvStatus.NEGATIVE
    return JcvSummary(
        status=status,
        latest=results[-1] if results else None,
        latest_positive=positives[-1] if positives else None,
    )
