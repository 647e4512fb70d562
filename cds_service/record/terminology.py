"""Value-set membership for codings and free text, compiled once from the knowledge data.

Matching happens on raw FHIR JSON (CodeableConcept dicts) so that resources no rule can use
are discarded before the comparatively expensive model validation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cds_service.knowledge.loader import TEXT_PATTERN_EXT, extension_values, knowledge

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
MSF = "https://natalizumab-cds.example/fhir/CodeSystem/ms-findings"


def normalise_code(system: str, code: str) -> str:
    """ICD-10-CM codes arrive as ``G35.C1`` or ``G35C1``; compare them without dots."""
    code = code.strip()
    if system == ICD10CM:
        return code.replace(".", "").upper()
    return code


@dataclass(frozen=True)
class CodedConcept:
    """One matching code, kept so cards can say which code was recognised."""

    system: str
    code: str
    display: str


@dataclass
class ValueSetMatcher:
    """Membership test for one ValueSet: explicit codes, ICD-10-CM ``is-a`` prefixes, text."""

    id: str
    title: str
    codes: dict[tuple[str, str], CodedConcept] = field(default_factory=dict)
    prefixes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    pattern: re.Pattern[str] | None = None

    def match_coding(self, system: str, code: str) -> bool:
        normalised = normalise_code(system, code)
        if (system, normalised) in self.codes:
            return True
        return any(normalised.startswith(prefix) for prefix in self.prefixes.get(system, ()))

    def match_text(self, text: str) -> bool:
        return self.pattern is not None and self.pattern.search(text) is not None

    def match_concept(self, concept: Any) -> bool:
        """True when any coding, ``display`` or the ``text`` of a CodeableConcept matches."""
        if not isinstance(concept, Mapping):
            return False
        for system, code, display in iter_codings(concept):
            if system and code and self.match_coding(system, code):
                return True
            if display and self.match_text(display):
                return True
        text = concept.get("text")
        return isinstance(text, str) and self.match_text(text)

    def matching_codes(self, concept: Any) -> list[tuple[str, str]]:
        """(system, code) pairs of ``concept`` that are members, for precise distinctions."""
        if not isinstance(concept, Mapping):
            return []
        return [
            (system, normalise_code(system, code))
            for system, code, _ in iter_codings(concept)
            if system and code and self.match_coding(system, code)
        ]


def iter_codings(concept: Mapping[str, Any]) -> Iterable[tuple[str, str, str]]:
    codings = concept.get("coding")
    if not isinstance(codings, list):
        return
    for coding in codings:
        if isinstance(coding, Mapping):
            system, code, display = coding.get("system"), coding.get("code"), coding.get("display")
            yield (
                system if isinstance(system, str) else "",
                code if isinstance(code, str) else "",
                display if isinstance(display, str) else "",
            )


def compile_valueset(valueset: Mapping[str, Any]) -> ValueSetMatcher:
    matcher = ValueSetMatcher(id=str(valueset["id"]), title=str(valueset.get("title", "")))
    prefixes: dict[str, list[str]] = {}
    for include in valueset.get("compose", {}).get("include", []):
        system = str(include.get("system", ""))
        for concept in include.get("concept", []):
            code = normalise_code(system, str(concept["code"]))
            matcher.codes[(system, code)] = CodedConcept(
                system, str(concept["code"]), str(concept.get("display", ""))
            )
        for rule in include.get("filter", []):
            if rule.get("op") != "is-a" or system != ICD10CM:
                raise ValueError(f"{matcher.id}: only ICD-10-CM is-a filters are supported")
            prefixes.setdefault(system, []).append(normalise_code(system, str(rule["value"])))
    matcher.prefixes = {system: tuple(values) for system, values in prefixes.items()}
    patterns = extension_values(dict(valueset), TEXT_PATTERN_EXT)
    if patterns:
        matcher.pattern = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
    return matcher


class Terminology:
    """All compiled value sets by id; attribute access fails loudly on a missing set."""

    def __init__(self, valuesets: Mapping[str, Mapping[str, Any]]) -> None:
        self._matchers = {vs_id: compile_valueset(vs) for vs_id, vs in valuesets.items()}

    def __getitem__(self, valueset_id: str) -> ValueSetMatcher:
        return self._matchers[valueset_id]

    def ids(self) -> set[str]:
        return set(self._matchers)


@lru_cache(maxsize=1)
def terminology() -> Terminology:
    return Terminology(knowledge().valuesets)
