"""Load and check the knowledge data once per process.

Parsing into typed models means a typo in a threshold name or a missing citation fails at
start-up (and in the test suite), not in the middle of a prescriber's workflow.
"""

from __future__ import annotations

import json
import string
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cds_service.knowledge.topics import TopicDefinition, read_topics

KNOWLEDGE_DIR = Path(__file__).resolve().parent
CITATION_EXT = "https://natalizumab-cds.example/fhir/StructureDefinition/citation"
TEXT_PATTERN_EXT = "https://natalizumab-cds.example/fhir/StructureDefinition/text-pattern"
#: Text that matches a ``text-pattern`` but also this is not a member ("postherpetic
#: neuralgia", "not pregnant"): negation and exclusions without lookaround, so RE2 can run it.
TEXT_EXCLUDE_PATTERN_EXT = (
    "https://natalizumab-cds.example/fhir/StructureDefinition/text-exclude-pattern"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    id: str
    title: str
    publisher: str = ""
    section: str = ""
    date: str = ""
    url: str = ""
    verified: bool
    verification: str = ""
    internal: bool = False  # a project document: never listed among a card's sources


#: How a card names a threshold's unit: (singular, plural); "" for a bare number.
UNIT_WORDS: dict[str, tuple[str, str]] = {
    "d": ("day", "days"),
    "wk": ("week", "weeks"),
    "mo": ("month", "months"),
    "a": ("year", "years"),
    "index": ("", ""),
    "x ULN": ("× the upper limit of normal", "× the upper limit of normal"),
    "10*9/L": ("× 10⁹/L", "× 10⁹/L"),
}
#: Days in each unit a day count may be spoken in (a month is the mean calendar month).
DAYS_IN = {"wk": 7.0, "mo": 365.25 / 12}
#: A day count is spoken in weeks or months only when it is this close to a whole number of
#: them (183 d = 6.01 months: "6 months"; 100 d = 3.29 months: "100 days").
SPEECH_TOLERANCE = 0.1


def amount(value: float, unit: str) -> str:
    """``value`` with its unit in words: "183 days", "1 week", "1.5", "3 × the upper ..."."""
    singular, plural = UNIT_WORDS.get(unit, (unit, unit))
    word = singular if value == 1 else plural
    return f"{value:g} {word}".strip()


class Threshold(_Strict):
    """A cut-off with its unit. Cards state it in words derived from ``value`` alone, so an
    edited value can never leave a card saying the old number: ``literal`` is exact ("183
    days"), ``spoken`` rounds a day count to ``say_in`` weeks or months when that is exact to
    within :data:`SPEECH_TOLERANCE` ("6 months"), else falls back to the exact days.
    """

    value: float
    unit: str
    statement: str
    citations: tuple[str, ...] = Field(min_length=1)
    say_in: Literal["wk", "mo"] | None = None

    @property
    def literal(self) -> str:
        """The value with its unit ("183 days"), for stating a product rule exactly."""
        return amount(self.value, self.unit)

    @property
    def spoken(self) -> str:
        """How a card says the interval: in ``say_in`` units when that is exact, else literal."""
        if self.say_in is None or self.unit != "d":
            return self.literal
        count = self.value / DAYS_IN[self.say_in]
        whole = round(count)
        if whole >= 1 and abs(count - whole) <= SPEECH_TOLERANCE:
            return amount(whole, self.say_in)
        return self.literal


class Thresholds(_Strict):
    """Every cut-off the rules use; a rule reads ``thresholds.<name>.value``."""

    activity_window_days: Threshold
    jcv_retest_days: Threshold
    jcv_retest_waived_index_above: Threshold
    jcv_index_negative_below: Threshold
    jcv_index_positive_above: Threshold
    jcv_no_test_after_plasma_exchange_days: Threshold
    jcv_no_test_after_ivig_months: Threshold
    mri_start_days: Threshold
    mri_on_therapy_days: Threshold
    mri_high_risk_days: Threshold
    mri_high_risk_min_exposure_months: Threshold
    pml_critical_exposure_above_months: Threshold
    pml_critical_index_above: Threshold
    adult_age_years: Threshold
    days_per_month: Threshold
    infusion_dedup_days: Threshold
    current_infusion_days: Threshold
    current_course_min_days: Threshold
    current_statement_asserted_days: Threshold
    treatment_period_tail_days: Threshold
    rebound_after_last_dose_weeks: Threshold
    jcv_dna_window_days: Threshold

    def named(self) -> dict[str, Threshold]:
        return {
            name: value for name, value in self.__dict__.items() if isinstance(value, Threshold)
        }


class Reads(_Strict):
    """The value sets whose records a topic's rule reads.

    The record layer collects every Condition, Observation (by its code, and notes which of
    ``observation_values`` its value matches) and Procedure in these sets as structured facts
    (``record.model.ConditionFact`` and friends), so a new topic that reads such records needs
    no new record code.
    """

    conditions: tuple[str, ...] = ()
    observations: tuple[str, ...] = ()
    observation_values: tuple[str, ...] = ()
    #: Sets of ``Observation.interpretation`` flags worth noting (e.g. critical high).
    interpretations: tuple[str, ...] = ()
    procedures: tuple[str, ...] = ()

    def all(self) -> tuple[str, ...]:
        return (
            *self.conditions,
            *self.observations,
            *self.observation_values,
            *self.interpretations,
            *self.procedures,
        )


class Rule(_Strict):
    """One card topic's rule. ``product_rule`` is the product decision the card states in words
    (``{threshold_name}`` placeholders are filled from the thresholds), instead of citing an
    internal document as if it were a clinical source.
    """

    id: str
    statement: str
    citations: tuple[str, ...] = Field(min_length=1)
    product_rule: str = ""
    #: The topic's own cut-offs (shared ones live in ``Rules.thresholds``); the topic's rule
    #: module reads them through a typed model of its own (``clinical.registry.topic_data``).
    thresholds: dict[str, Threshold] = Field(default_factory=dict)
    #: Other topic data that is not a cut-off (e.g. a unit table), typed by the topic's module.
    parameters: dict[str, Any] = Field(default_factory=dict)
    reads: Reads = Field(default_factory=Reads)

    def literals(self, shared: Thresholds) -> dict[str, str]:
        """Every threshold this rule may name in ``product_rule``, stated exactly."""
        named = {**shared.named(), **self.thresholds}
        return {name: threshold.literal for name, threshold in named.items()}


class ExposureBand(_Strict):
    label: str
    max_months: int


class RiskStratum(_Strict):
    """One row of the PML risk table; the first row whose criteria all hold applies.

    Criteria left out match anything: ``anti_jcv`` ("positive"/"negative"),
    ``prior_immunosuppressant``, ``index_known``, and the index range (``index_above``,
    ``index_at_most``].
    """

    id: str
    label: str
    estimates_per_1000: tuple[float, ...]
    citations: tuple[str, ...] = Field(min_length=1)
    verified: bool
    estimates_verified: tuple[bool, ...] | None = None
    note: str = ""
    anti_jcv: str | None = None
    prior_immunosuppressant: bool | None = None
    index_known: bool | None = None
    index_above: float | None = None
    index_at_most: float | None = None


class PmlRiskTable(_Strict):
    unit: str
    exposure_bands: tuple[ExposureBand, ...] = Field(min_length=1)
    strata: tuple[RiskStratum, ...] = Field(min_length=1)
    caveat: str = ""
    citations: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_estimate_per_band(self) -> PmlRiskTable:
        for stratum in self.strata:
            if len(stratum.estimates_per_1000) != len(self.exposure_bands):
                raise ValueError(f"stratum {stratum.id}: one estimate per exposure band needed")
            flags = stratum.estimates_verified
            if flags is not None and len(flags) != len(self.exposure_bands):
                raise ValueError(f"stratum {stratum.id}: one verification flag per band needed")
        return self

    def estimate_verified(self, stratum: RiskStratum, band: int) -> bool:
        """Whether the figure of one band was verified (a row may be verified only in part)."""
        if stratum.estimates_verified is not None:
            return stratum.verified and stratum.estimates_verified[band]
        return stratum.verified

    def stratum(self, stratum_id: str) -> RiskStratum:
        for stratum in self.strata:
            if stratum.id == stratum_id:
                return stratum
        raise KeyError(stratum_id)


class Alternative(_Strict):
    drug: str
    note: str = ""
    citations: tuple[str, ...] = Field(min_length=1)


class Alternatives(_Strict):
    ppms: tuple[Alternative, ...]
    active_spms: tuple[Alternative, ...] = Field(alias="active-spms")
    non_active_spms: str = Field(alias="non-active-spms")
    non_active_spms_citations: tuple[str, ...] = Field(
        default=(), alias="non-active-spms-citations"
    )


class Link(_Strict):
    id: str
    label: str
    url: str
    citations: tuple[str, ...] = Field(min_length=1)


class Orderable(_Strict):
    code: dict[str, Any]
    text: str = ""
    citations: tuple[str, ...] = Field(min_length=1)


class OverrideReason(_Strict):
    code: str
    display: str


class Rules(_Strict):
    version: str
    reviewed: str
    thresholds: Thresholds
    rules: tuple[Rule, ...]
    pml_risk: PmlRiskTable
    alternatives: Alternatives
    links: tuple[Link, ...]
    orderables: dict[str, Orderable]
    override_reasons: tuple[OverrideReason, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _product_rules_resolve(self) -> Rules:
        """A ``{name}`` in a product rule that names no threshold fails the load, not a card."""
        for rule in self.rules:
            known = rule.literals(self.thresholds)
            for _, name, _, _ in string.Formatter().parse(rule.product_rule):
                if name is not None and name not in known:
                    raise ValueError(f"rule {rule.id}: product_rule names unknown {{{name}}}")
            clash = set(rule.thresholds) & set(self.thresholds.named())
            if clash:
                raise ValueError(f"rule {rule.id}: thresholds shadow shared ones: {sorted(clash)}")
        return self

    @cached_property
    def reads(self) -> Reads:
        """Every value set some rule reads, by kind of record (the record layer's shopping list).

        Worked out once per loaded knowledge (the model is frozen): every call's record build
        asks for it.
        """

        def union(kind: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys(v for rule in self.rules for v in getattr(rule.reads, kind)))

        return Reads(
            conditions=union("conditions"),
            observations=union("observations"),
            observation_values=union("observation_values"),
            interpretations=union("interpretations"),
            procedures=union("procedures"),
        )

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def link(self, link_id: str) -> Link:
        for link in self.links:
            if link.id == link_id:
                return link
        raise KeyError(link_id)


class Knowledge(_Strict):
    """All knowledge files, parsed. ``valuesets`` stay FHIR JSON (compiled in ``record``)."""

    rules: Rules
    sources: dict[str, Source]
    valuesets: dict[str, dict[str, Any]]
    codesystems: dict[str, dict[str, Any]]
    topics: dict[str, TopicDefinition]

    @model_validator(mode="after")
    def _reads_name_known_valuesets(self) -> Knowledge:
        for rule in self.rules.rules:
            unknown = [v for v in rule.reads.all() if v not in self.valuesets]
            if unknown:
                raise ValueError(f"rule {rule.id}: reads unknown value sets {unknown}")
        return self

    def citation_ids(self) -> set[str]:
        """Every source id cited anywhere, so tests can check each one resolves."""
        cited: set[str] = set()
        rules = self.rules
        for threshold in rules.thresholds.named().values():
            cited.update(threshold.citations)
        for rule in rules.rules:
            cited.update(rule.citations)
            for threshold in rule.thresholds.values():
                cited.update(threshold.citations)
        for stratum in rules.pml_risk.strata:
            cited.update(stratum.citations)
        cited.update(rules.pml_risk.citations)
        for alt in (*rules.alternatives.ppms, *rules.alternatives.active_spms):
            cited.update(alt.citations)
        cited.update(rules.alternatives.non_active_spms_citations)
        for link in rules.links:
            cited.update(link.citations)
        for orderable in rules.orderables.values():
            cited.update(orderable.citations)
        for valueset in self.valuesets.values():
            cited.update(valueset_citations(valueset))
        return cited


def extension_values(element: dict[str, Any], url: str) -> list[str]:
    return [
        str(ext["valueString"])
        for ext in element.get("extension", [])
        if ext.get("url") == url and "valueString" in ext
    ]


def valueset_citations(valueset: dict[str, Any]) -> set[str]:
    cited = set(extension_values(valueset, CITATION_EXT))
    compose = valueset.get("compose", {})
    for include in [*compose.get("include", []), *compose.get("exclude", [])]:
        cited.update(extension_values(include, CITATION_EXT))
        for concept in include.get("concept", []):
            cited.update(extension_values(concept, CITATION_EXT))
    return cited


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def _read_folder(folder: Path) -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        resource = _read_json(path)
        resources[str(resource["id"])] = resource
    return resources


def load_knowledge(directory: Path = KNOWLEDGE_DIR) -> Knowledge:
    sources = {
        item["id"]: Source.model_validate(item)
        for item in _read_json(directory / "sources.json")["sources"]
    }
    codesystems = _read_folder(directory / "codesystems")
    return Knowledge(
        rules=Rules.model_validate(_read_json(directory / "rules.json")),
        sources=sources,
        valuesets=_read_folder(directory / "valuesets"),
        codesystems=codesystems,
        topics=read_topics(codesystems["card-topic"]),
    )


@lru_cache(maxsize=1)
def knowledge() -> Knowledge:
    """The packaged knowledge, loaded on first use and shared (it is immutable)."""
    return load_knowledge()
