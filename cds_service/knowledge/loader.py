"""Load and check the knowledge data once per process.

Parsing into typed models means a typo in a threshold name or a missing citation fails at
start-up (and in the test suite), not in the middle of a prescriber's workflow.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

KNOWLEDGE_DIR = Path(__file__).resolve().parent
CITATION_EXT = "https://natalizumab-cds.example/fhir/StructureDefinition/citation"
TEXT_PATTERN_EXT = "https://natalizumab-cds.example/fhir/StructureDefinition/text-pattern"


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


UNIT_WORDS = {"d": "days", "wk": "weeks", "mo": "months", "a": "years", "index": ""}


class Threshold(_Strict):
    """A cut-off with its unit; ``display`` is how a card says it ("6 months" for 183 d)."""

    value: float
    unit: str
    statement: str
    citations: tuple[str, ...] = Field(min_length=1)
    display: str = ""

    @property
    def literal(self) -> str:
        """The value with its unit ("183 days"), for stating a product rule exactly."""
        return f"{self.value:g} {UNIT_WORDS.get(self.unit, self.unit)}".strip()

    @property
    def spoken(self) -> str:
        """How a card says the interval: its ``display``, else the exact value."""
        return self.display or self.literal


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


class Rule(_Strict):
    """One card topic's rule. ``product_rule`` is the product decision the card states in words
    (``{threshold_name}`` placeholders are filled from the thresholds), instead of citing an
    internal document as if it were a clinical source.
    """

    id: str
    statement: str
    citations: tuple[str, ...] = Field(min_length=1)
    product_rule: str = ""


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

    def citation_ids(self) -> set[str]:
        """Every source id cited anywhere, so tests can check each one resolves."""
        cited: set[str] = set()
        rules = self.rules
        for threshold in rules.thresholds.named().values():
            cited.update(threshold.citations)
        for rule in rules.rules:
            cited.update(rule.citations)
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
    for include in valueset.get("compose", {}).get("include", []):
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
    return Knowledge(
        rules=Rules.model_validate(_read_json(directory / "rules.json")),
        sources=sources,
        valuesets=_read_folder(directory / "valuesets"),
        codesystems=_read_folder(directory / "codesystems"),
    )


@lru_cache(maxsize=1)
def knowledge() -> Knowledge:
    """The packaged knowledge, loaded on first use and shared (it is immutable)."""
    return load_knowledge()
