"""PML risk from anti-JCV status and index, natalizumab exposure and prior immunosuppressants.

Severity follows contract section 3; the estimate per 1,000 comes from the risk table in the
knowledge data (US label section 5.1 and the index-stratified literature it cites).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cds_service.clinical.findings import Finding, Indicator, TopicValues
from cds_service.clinical.jcv import JcvSummary, summarise_jcv
from cds_service.clinical.registry import emits, rule
from cds_service.knowledge.loader import ExposureBand, PmlRiskTable, RiskStratum, Rules
from cds_service.record.model import Exposure, JcvStatus, PatientRecord


@dataclass(frozen=True)
class PmlRiskValues(TopicValues):
    """The patient's stratum and the estimate the card shows (with its verification state)."""

    status: JcvStatus
    index: float | None
    exposure: Exposure
    prior_immunosuppressants: tuple[str, ...]
    stratum: RiskStratum | None
    band: ExposureBand
    estimate: float | None
    estimate_verified: bool
    beyond_table: bool

    @property
    def months(self) -> int:
        return self.exposure.months


def select_stratum(table: PmlRiskTable, summary: JcvSummary, prior_is: bool) -> RiskStratum | None:
    """The first stratum whose criteria all hold; criteria left empty match anything."""
    status = summary.status.value if summary.status else None
    index = summary.index
    for stratum in table.strata:
        if stratum.anti_jcv is not None and stratum.anti_jcv != status:
            continue
        if (
            stratum.prior_immunosuppressant is not None
            and stratum.prior_immunosuppressant != prior_is
        ):
            continue
        if stratum.index_known is not None and stratum.index_known != (index is not None):
            continue
        if stratum.index_above is not None and (index is None or index <= stratum.index_above):
            continue
        if stratum.index_at_most is not None and (index is None or index > stratum.index_at_most):
            continue
        return stratum
    return None


def exposure_band(table: PmlRiskTable, months: int) -> tuple[int, bool]:
    """Index of the exposure band, and whether exposure lies beyond the table's last band."""
    for position, band in enumerate(table.exposure_bands):
        if months <= band.max_months:
            return position, False
    return len(table.exposure_bands) - 1, True


@rule(emits("pml-risk", PmlRiskValues, Indicator.INFO, Indicator.WARNING, Indicator.CRITICAL))
def pml_risk(record: PatientRecord, now: datetime, rules: Rules) -> Finding[PmlRiskValues] | None:
    summary = summarise_jcv(record)
    if summary.status is None:
        return None
    thresholds = rules.thresholds
    months = record.exposure.months
    prior_is = bool(record.prior_immunosuppressants)
    index = summary.index
    if summary.status is JcvStatus.NEGATIVE:
        indicator = Indicator.INFO
    elif months > thresholds.pml_critical_exposure_above_months.value and (
        prior_is or index is None or index > thresholds.pml_critical_index_above.value
    ):
        indicator = Indicator.CRITICAL
    else:
        indicator = Indicator.WARNING

    table = rules.pml_risk
    stratum = select_stratum(table, summary, prior_is)
    band, beyond = exposure_band(table, months)
    evidence = [
        part for result in record.jcv_results for part in result.parts or (result.evidence,)
    ]
    evidence += list(record.exposure.courses)
    evidence += [use.evidence for use in record.prior_immunosuppressants]
    citations = list(rules.rule("pml-risk").citations)
    if stratum is not None:
        citations += [c for c in stratum.citations if c not in citations]
    return Finding(
        topic="pml-risk",
        indicator=indicator,
        evidence=tuple(evidence),
        citations=tuple(citations),
        values=PmlRiskValues(
            status=summary.status,
            index=index,
            exposure=record.exposure,
            prior_immunosuppressants=tuple(
                sorted({u.name for u in record.prior_immunosuppressants})
            ),
            stratum=stratum,
            band=table.exposure_bands[band],
            estimate=stratum.estimates_per_1000[band] if stratum else None,
            estimate_verified=table.estimate_verified(stratum, band) if stratum else False,
            beyond_table=beyond,
        ),
    )
