"""What blocks or weighs against natalizumab (US label sections 4, 5 and 8.4).

These findings are independent of the indication and never suppress each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from cds_service.clinical.findings import Finding, Indicator, NoValues, TopicValues
from cds_service.clinical.registry import emits, rule
from cds_service.clinical.topics.indication import crohns_indication
from cds_service.clinical.windows import recent
from cds_service.knowledge.loader import Rules
from cds_service.record.dates import age_in_years
from cds_service.record.model import DatePrecision, Evidence, PatientRecord


@dataclass(frozen=True)
class PediatricValues(TopicValues):
    age_years: int
    birth_date_precision: DatePrecision


@dataclass(frozen=True)
class PmlHistoryValues(TopicValues):
    history: bool
    suspected: bool


@dataclass(frozen=True)
class ConcomitantValues(TopicValues):
    drugs: tuple[str, ...]
    crohns: bool


V = TypeVar("V", bound=TopicValues)


def _finding(
    topic: str, indicator: Indicator, evidence: tuple[Evidence, ...], rules: Rules, values: V
) -> Finding[V]:
    return Finding(topic, indicator, evidence, rules.rule(topic).citations, values)


@rule(emits("pediatric-patient", PediatricValues, Indicator.WARNING))
def pediatric(
    record: PatientRecord, now: datetime, rules: Rules
) -> Finding[PediatricValues] | None:
    if record.birth_date is None:
        return None
    age = age_in_years(record.birth_date, now.date())
    if age >= rules.thresholds.adult_age_years.value:
        return None
    evidence = Evidence(
        record.patient_reference or "Patient", record.birth_date, "Patient.birthDate"
    )
    return _finding(
        "pediatric-patient",
        Indicator.WARNING,
        (evidence,),
        rules,
        PediatricValues(age, record.birth_date_precision),
    )


@rule(emits("pml-history", PmlHistoryValues, Indicator.CRITICAL))
def pml_history(
    record: PatientRecord, now: datetime, rules: Rules
) -> Finding[PmlHistoryValues] | None:
    """PML had (contraindicated) or suspected (withhold until PML is excluded).

    A JC virus DNA result is suspicion only while recent; a PML diagnosis counts whatever its
    clinical status.
    """
    window = rules.thresholds.jcv_dna_window_days.value
    dna = recent(record.jcv_dna_positive, now.date(), window)
    suspected = (*record.pml_suspected, *dna)
    if not record.pml_history and not suspected:
        return None
    return _finding(
        "pml-history",
        Indicator.CRITICAL,
        (*record.pml_history, *suspected),
        rules,
        PmlHistoryValues(history=bool(record.pml_history), suspected=bool(suspected)),
    )


@rule(emits("natalizumab-hypersensitivity", NoValues, Indicator.CRITICAL))
def hypersensitivity(
    record: PatientRecord, now: datetime, rules: Rules
) -> Finding[NoValues] | None:
    if not record.hypersensitivity:
        return None
    return _finding(
        "natalizumab-hypersensitivity",
        Indicator.CRITICAL,
        tuple(record.hypersensitivity),
        rules,
        NoValues(),
    )


@rule(emits("immunocompromised", NoValues, Indicator.WARNING))
def immunocompromised(
    record: PatientRecord, now: datetime, rules: Rules
) -> Finding[NoValues] | None:
    if not record.immunocompromising:
        return None
    return _finding(
        "immunocompromised", Indicator.WARNING, tuple(record.immunocompromising), rules, NoValues()
    )


@rule(emits("concomitant-immunotherapy", ConcomitantValues, Indicator.WARNING, Indicator.CRITICAL))
def concomitant_immunotherapy(
    record: PatientRecord, now: datetime, rules: Rules
) -> Finding[ConcomitantValues] | None:
    """Critical in Crohn's disease, where the label forbids the combination outright."""
    uses = record.concomitant_immunotherapy
    if not uses:
        return None
    crohns = crohns_indication(record)
    drugs = tuple(sorted({use.name for use in uses if use.name}))
    return _finding(
        "concomitant-immunotherapy",
        Indicator.CRITICAL if crohns else Indicator.WARNING,
        tuple(use.evidence for use in uses),
        rules,
        ConcomitantValues(drugs, crohns),
    )
