"""Builders of PatientRecord facts for rule tests that skip FHIR JSON entirely.

The rules (``cds_service.clinical``) read only these typed facts, so a rule test here fails
only when the rule is wrong, never because of a parsing detail. Exposure and therapy are
derived with the real ``record.therapy`` functions from the uses given.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any, TypeVar

from cds_service.clinical.engine import assess
from cds_service.clinical.findings import Finding, TopicValues
from cds_service.knowledge.loader import knowledge
from cds_service.record.model import (
    ConditionFact,
    Evidence,
    JcvResult,
    JcvStatus,
    LesionKind,
    LimitSource,
    MedicationUse,
    MriLesionCount,
    NatalizumabOrder,
    NatalizumabUse,
    ObservationFact,
    PatientRecord,
    Phenotype,
    PhenotypeEvidence,
    ProcedureFact,
    Product,
    UpperLimit,
    UseKind,
)
from cds_service.record.therapy import exposure, therapy
from tests.clinical.fhir import NOW, TODAY

T = knowledge().rules.thresholds
V = TypeVar("V", bound=TopicValues)
ORDER = NatalizumabOrder("MedicationRequest/order-1", Product.TYSABRI)
_ids = itertools.count(1)


def ago(days: float) -> Any:
    return TODAY - timedelta(days=int(days))


def evidence(kind: str, days: float | None, description: str = "") -> Evidence:
    when = ago(days) if days is not None else None
    return Evidence(f"{kind}/{kind.lower()}-{next(_ids)}", when, description or kind)


def phenotype(
    kind: Phenotype, days: float = 800, *, active: bool = False, non_active: bool = False
) -> PhenotypeEvidence:
    return PhenotypeEvidence(
        kind,
        evidence("Condition", days, kind.value),
        coded_active=active,
        coded_non_active=non_active,
    )


def lesions(
    days: float, count: float, kind: LesionKind = LesionKind.NEW_OR_ENLARGING_T2
) -> MriLesionCount:
    return MriLesionCount(evidence("Observation", days, f"{kind.value} = {count:g}"), kind, count)


def jcv(days: float, status: JcvStatus, index: float | None = None) -> JcvResult:
    return JcvResult(evidence("Observation", days, "anti-JCV"), status, index)


def infusion(days: float, status: str = "completed") -> NatalizumabUse:
    return NatalizumabUse(
        evidence("MedicationAdministration", days), UseKind.ADMINISTRATION, status, ago(days)
    )


def monthly_infusions(count: int, last_days_ago: float = 28) -> list[NatalizumabUse]:
    return [infusion(last_days_ago + 28 * i) for i in range(count)]


def statement(
    start_days: float,
    *,
    status: str = "active",
    end_days: float | None = None,
    asserted_days: float | None = None,
) -> NatalizumabUse:
    return NatalizumabUse(
        evidence("MedicationStatement", start_days),
        UseKind.STATEMENT,
        status,
        ago(start_days),
        ago(end_days) if end_days is not None else None,
        ago(asserted_days) if asserted_days is not None else None,
    )


def request(authored_days: float, *, status: str = "active") -> NatalizumabUse:
    return NatalizumabUse(
        evidence("MedicationRequest", authored_days),
        UseKind.REQUEST,
        status,
        ago(authored_days),
        None,
        ago(authored_days),
    )


def prior_immunosuppressant(name: str = "mitoxantrone") -> MedicationUse:
    return MedicationUse(evidence("MedicationStatement", 3000, name), name)


def record(
    *,
    phenotypes: tuple[PhenotypeEvidence, ...] = (),
    uses: tuple[NatalizumabUse, ...] = (),
    **facts: Any,
) -> PatientRecord:
    built = PatientRecord(phenotypes=list(phenotypes), natalizumab=list(uses), **facts)
    built.exposure = exposure(built.natalizumab, TODAY, T)
    built.therapy = therapy(built.natalizumab, TODAY, T)
    return built


def findings(patient: PatientRecord) -> dict[str, Finding[TopicValues]]:
    return {finding.topic: finding for finding in assess(patient, [ORDER], NOW)}


def values_of(finding: Finding[TopicValues], kind: type[V]) -> V:
    """The finding's typed values, checked to be of the topic's values type."""
    assert isinstance(finding.values, kind), type(finding.values)
    return finding.values


def topics(patient: PatientRecord) -> dict[str, str]:
    return {topic: f.indicator.value for topic, f in findings(patient).items()}


def condition_fact(
    valueset: str,
    onset_days: float | None,
    *,
    status: str | None = "active",
    recorded_days: float | None = None,
    abated: bool = False,
    abatement_days: float | None = None,
    description: str = "",
) -> ConditionFact:
    """A Condition in ``valueset`` begun ``onset_days`` ago (None: no onset)."""
    onset = ago(onset_days) if onset_days is not None else None
    recorded = ago(recorded_days) if recorded_days is not None else None
    abatement = ago(abatement_days) if abatement_days is not None else None
    return ConditionFact(
        Evidence(f"Condition/c-{next(_ids)}", onset or recorded, description or valueset),
        frozenset({valueset}),
        status,
        onset,
        recorded,
        abated or abatement is not None,
        abatement,
    )


def result(
    valueset: str,
    days: float,
    value: float | None,
    unit: str = "",
    *,
    limit: float | None = None,
    limit_unit: str | None = None,
    flags: tuple[str, ...] = (),
    comparator: str = "",
    value_sets: tuple[str, ...] = (),
) -> ObservationFact:
    """An Observation in ``valueset`` ``days`` ago; ``limit_unit`` None means the result's."""
    upper = (
        UpperLimit(limit, unit if limit_unit is None else limit_unit, LimitSource.HIGH)
        if limit is not None
        else None
    )
    return ObservationFact(
        Evidence(f"Observation/o-{next(_ids)}", ago(days), valueset, value, unit),
        frozenset({valueset}),
        comparator,
        unit,
        unit,
        upper,
        frozenset(value_sets),
        frozenset(flags),
    )


def procedure_fact(valueset: str, days: float, description: str = "") -> ProcedureFact:
    return ProcedureFact(
        Evidence(f"Procedure/p-{next(_ids)}", ago(days), description or valueset),
        frozenset({valueset}),
    )
