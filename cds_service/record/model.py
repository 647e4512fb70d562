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


class DatePrecision(StrEnum):
    """How much of a FHIR date was given (a birth date of ``1990`` is "year")."""

    DAY = "day"
    MONTH = "month"
    YEAR = "year"
    UNKNOWN = "unknown"


class JcvStatus(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    INDETERMINATE = "indeterminate"


@dataclass(frozen=True)
class Evidence:
    """One fact taken from one resource: what it says, where it is, when it happened.

    ``description`` is the record's own name for it (else the knowledge data's); ``value`` and
    ``unit`` a measured value as recorded (a lesion count, a lab result), worded by ``cards``.
    """

    reference: str
    date: date | None
    description: str
    value: float | None = None
    unit: str = ""


@dataclass(frozen=True)
class PhenotypeEvidence:
    phenotype: Phenotype
    evidence: Evidence
    coded_active: bool = False  # e.g. ICD-10-CM G35.C1 (value set ms-active-codes)
    coded_non_active: bool = False  # e.g. ICD-10-CM G35.C2 (value set spms-non-active-codes)


class LesionKind(StrEnum):
    """The two structured MRI results the contract reads (MSF codes)."""

    NEW_OR_ENLARGING_T2 = "new-or-enlarging-t2"
    GD_ENHANCING = "gd-enhancing"


@dataclass(frozen=True)
class MriLesionCount:
    """A structured lesion count of a brain MRI; a count of 0 is kept (it is an assessment)."""

    evidence: Evidence
    kind: LesionKind
    count: float

    @property
    def active(self) -> bool:
        return self.count > 0


@dataclass(frozen=True)
class JcvResult:
    """One anti-JCV test: the Observations a lab reported for it, already grouped.

    ``parts`` are the grouped Observations (antibody and index are often reported separately);
    ``evidence`` is the group's representative (its latest part).
    """

    evidence: Evidence
    status: JcvStatus
    index: float | None
    parts: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class MedicationUse:
    """A medication record; ``name`` is the drug as the record names it (for the card)."""

    evidence: Evidence
    name: str


class UseKind(StrEnum):
    ADMINISTRATION = "administration"
    STATEMENT = "statement"
    REQUEST = "request"


@dataclass(frozen=True)
class NatalizumabUse:
    """One natalizumab record that is not a draft order of this call.

    ``start``/``end`` are the dates the record gives (an administration has one date, as its
    start); ``recorded`` is a statement's ``dateAsserted`` or a request's ``authoredOn``.
    ``status`` is the FHIR status.
    """

    evidence: Evidence
    kind: UseKind
    status: str
    start: date | None
    end: date | None = None
    recorded: date | None = None


@dataclass(frozen=True)
class Exposure:
    """Natalizumab exposure in whole months, with both ways of counting it (contract section 2).

    ``months`` is the larger of the de-duplicated infusion count and the statement/request span.
    """

    months: int = 0
    infusions: int = 0
    first_infusion: date | None = None
    last_infusion: date | None = None
    span_months: int = 0
    span_start: date | None = None
    span_end: date | None = None
    span_ongoing: bool = False
    courses: tuple[Evidence, ...] = ()

    @property
    def counts_differ(self) -> bool:
        """True when the two counts disagree, so the card shows both."""
        return self.infusions != self.span_months and bool(self.infusions or self.span_months)


@dataclass(frozen=True)
class Therapy:
    """Current natalizumab therapy and the natalizumab treatment period (contract section 2).

    ``current_by`` is the record that makes therapy current (None: a start or restart).
    The treatment period runs from ``period_start`` to ``period_end`` inclusive.
    """

    current_by: NatalizumabUse | None = None
    period_start: date | None = None
    period_end: date | None = None
    last_exposure: date | None = None

    @property
    def current(self) -> bool:
        return self.current_by is not None

    def in_period(self, day: date | None) -> bool:
        if day is None or self.period_start is None or self.period_end is None:
            return False
        return self.period_start <= day <= self.period_end


@dataclass(frozen=True)
class ConditionFact:
    """A Condition in a value set some topic reads (``rules.json`` ``reads``), unjudged.

    ``evidence`` is dated by onset, else the recorded date; ``abated`` says an ``abatement[x]``
    of any type is given (``abatement`` its date when it has one). The rules decide what the
    clinical status and the dates mean for their topic.
    """

    evidence: Evidence
    valuesets: frozenset[str]
    clinical_status: str | None
    onset: date | None
    recorded: date | None
    abated: bool = False
    abatement: date | None = None

    def within(self, since: date) -> bool:
        """Begun or recorded on or after ``since``."""
        return any(day is not None and day >= since for day in (self.onset, self.recorded))


class LimitSource(StrEnum):
    HIGH = "high"  # referenceRange.high
    TEXT = "text"  # read from referenceRange.text ("7-56 U/L")


@dataclass(frozen=True)
class UpperLimit:
    """The upper reference limit a result carries, with its unit as written ("" if none)."""

    value: float
    unit: str
    source: LimitSource


@dataclass(frozen=True)
class ObservationFact:
    """An Observation whose code is in a value set some topic reads, unjudged.

    ``evidence`` holds the numeric value and the unit as recorded (``unit_code``: the
    Quantity's code, ``unit`` its human unit); ``value_sets`` names the read value sets its
    coded or string value matches, ``flags`` those its ``interpretation`` matches.
    """

    evidence: Evidence
    valuesets: frozenset[str]
    comparator: str = ""
    unit_code: str = ""
    unit: str = ""
    upper_limit: UpperLimit | None = None
    value_sets: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ProcedureFact:
    """A Procedure in a value set some topic reads, dated by ``performed[x]``."""

    evidence: Evidence
    valuesets: frozenset[str]


@dataclass(frozen=True)
class SkippedResources:
    """Resources of one type that failed validation and were left out (a data note)."""

    resource_type: str
    count: int


@dataclass(frozen=True)
class UnreadOrderParts:
    """Fields of a natalizumab order that could not be read (named, never their values)."""

    reference: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class TextNotRead:
    """The per-call text budget ran out: some free text was not searched (a data note)."""


DataNote = SkippedResources | UnreadOrderParts | TextNotRead
"""A data-quality fact every card carries; ``cards`` words it."""


class Product(StrEnum):
    """Which natalizumab product an order names (the cards name its REMS programme)."""

    TYSABRI = "Tysabri"
    TYRUKO = "Tyruko"
    NATALIZUMAB = "natalizumab"


@dataclass(frozen=True)
class NatalizumabOrder:
    """A trigger order that is natalizumab; ``product`` is what the card should call it."""

    reference: str
    product: Product


@dataclass
class PatientRecord:
    patient_reference: str | None = None
    birth_date: date | None = None
    birth_date_precision: DatePrecision = DatePrecision.DAY
    phenotypes: list[PhenotypeEvidence] = field(default_factory=list)
    crohns: list[Evidence] = field(default_factory=list)
    relapses: list[Evidence] = field(default_factory=list)
    mri_exams: list[Evidence] = field(default_factory=list)
    mri_lesion_counts: list[MriLesionCount] = field(default_factory=list)
    jcv_results: list[JcvResult] = field(default_factory=list)
    jcv_dna_positive: list[Evidence] = field(default_factory=list)
    natalizumab: list[NatalizumabUse] = field(default_factory=list)
    exposure: Exposure = field(default_factory=Exposure)
    therapy: Therapy = field(default_factory=Therapy)
    prior_immunosuppressants: list[MedicationUse] = field(default_factory=list)
    concomitant_immunotherapy: list[MedicationUse] = field(default_factory=list)
    immunocompromising: list[Evidence] = field(default_factory=list)
    pml_history: list[Evidence] = field(default_factory=list)
    pml_suspected: list[Evidence] = field(default_factory=list)
    hypersensitivity: list[Evidence] = field(default_factory=list)
    conditions: list[ConditionFact] = field(default_factory=list)
    observations: list[ObservationFact] = field(default_factory=list)
    procedures: list[ProcedureFact] = field(default_factory=list)
    unavailable: frozenset[str] = frozenset()
    incomplete: dict[str, str] = field(default_factory=dict)  # prefetch key -> why cut short

    def conditions_in(self, valueset: str) -> list[ConditionFact]:
        return [fact for fact in self.conditions if valueset in fact.valuesets]

    def observations_in(self, valueset: str) -> list[ObservationFact]:
        return [fact for fact in self.observations if valueset in fact.valuesets]

    def procedures_in(self, valueset: str) -> list[ProcedureFact]:
        return [fact for fact in self.procedures if valueset in fact.valuesets]
