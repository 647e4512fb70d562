"""PatientRecord: the patient's data indexed by clinical meaning.

Rules read these typed facts and never see FHIR JSON; every fact keeps a reference and a date
so a card can show the prescriber exactly what it was derived from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class Phenotype(StrEnum):
    """Lublin 2014 phenotypes; progressive-relapsing MS is folded into PPMS."""

    CIS = "CIS"
    RRMS = "RRMS"
    SPMS = "SPMS"
    PPMS = "PPMS"
    UNSPECIFIED = "MS (phenotype not specified)"

    @property
    def progressive(self) -> bool:
        return self in (Phenotype.SPMS, Phenotype.PPMS)

    @property
    def relapsing(self) -> bool:
        return self in (Phenotype.CIS, Phenotype.RRMS)


class JcvStatus(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    INDETERMINATE = "indeterminate"


@dataclass(frozen=True)
class Evidence:
    """One fact taken from one resource: what it says, where it is, when it happened."""

    reference: str
    date: date | None
    description: str


@dataclass(frozen=True)
class PhenotypeEvidence:
    phenotype: Phenotype
    evidence: Evidence
    coded_active: bool = False  # e.g. ICD-10-CM G35.C1 (value set ms-active-codes)
    coded_non_active: bool = False  # e.g. ICD-10-CM G35.C2 (value set spms-non-active-codes)


@dataclass(frozen=True)
class MriActivity:
    evidence: Evidence
    count: float


@dataclass(frozen=True)
class JcvResult:
    evidence: Evidence
    status: JcvStatus
    index: float | None


@dataclass(frozen=True)
class MedicationUse:
    """A medication record; ``name`` is the drug as the record names it (for the card)."""

    evidence: Evidence
    name: str


@dataclass(frozen=True)
class Exposure:
    """Natalizumab exposure in whole months and how it was counted."""

    months: int
    method: str
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class NatalizumabOrder:
    """A trigger order that is natalizumab; ``product`` is what the card should call it."""

    reference: str
    product: str


@dataclass
class PatientRecord:
    patient_reference: str | None = None
    birth_date: date | None = None
    birth_date_precision: str = "day"
    phenotypes: list[PhenotypeEvidence] = field(default_factory=list)
    crohns: list[Evidence] = field(default_factory=list)
    relapses: list[Evidence] = field(default_factory=list)
    mri_exams: list[Evidence] = field(default_factory=list)
    mri_activity: list[MriActivity] = field(default_factory=list)
    jcv_results: list[JcvResult] = field(default_factory=list)
    exposure: Exposure = field(default_factory=lambda: Exposure(0, "no natalizumab history"))
    prior_immunosuppressants: list[MedicationUse] = field(default_factory=list)
    concomitant_immunotherapy: list[MedicationUse] = field(default_factory=list)
    immunocompromising: list[Evidence] = field(default_factory=list)
    pml_history: list[Evidence] = field(default_factory=list)
    hypersensitivity: list[Evidence] = field(default_factory=list)
    unavailable: frozenset[str] = frozenset()
    incomplete: dict[str, str] = field(default_factory=dict)  # prefetch key -> why cut short
