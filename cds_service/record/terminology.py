"""Value-set membership for codings and free text, compiled once from the knowledge data.

Matching happens on raw FHIR JSON (CodeableConcept dicts) so that resources no rule can use
are discarded before the comparatively expensive model validation. Free text is matched by
:class:`cds_service.record.text_patterns.TextPattern` (linear time, bounded per call). A coding
whose ``system``, ``code`` or ``display`` is not a string matches nothing and is counted
(:func:`cds_service.record.reading.note_ill_typed`): its resource cannot be read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from cds_service.knowledge.loader import (
    TEXT_EXCLUDE_PATTERN_EXT,
    TEXT_PATTERN_EXT,
    extension_values,
    knowledge,
)
from cds_service.record.reading import note_ill_typed, spend_text_budget, text_budget_exhausted
from cds_service.record.text_patterns import TextPattern

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
MSF = "https://natalizumab-cds.example/fhir/CodeSystem/ms-findings"
TEXT_CACHE_SIZE = 4096
MAX_TEXT_CHARS = 2000
#: Distinct concepts whose value-set memberships are remembered (then forgotten at once).
MEMBERSHIP_CACHE_SIZE: Final = 8192

ConceptKey = tuple[tuple[tuple[str | None, str | None, str | None], ...], str | None]


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


@dataclass(frozen=True)
class Exclusions:
    """What a ValueSet's ``compose.exclude`` and ``text-exclude-pattern`` take out again.

    A concept with an excluded coding is not recognised by its text either: "B02.22
    Postherpetic trigeminal neuralgia" with the text "herpes zoster neuralgia" stays out.
    """

    codes: frozenset[tuple[str, str]] = frozenset()
    prefixes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    pattern: TextPattern | None = None

    def excludes_coding(self, system: str, normalised: str) -> bool:
        if (system, normalised) in self.codes:
            return True
        prefixes = self.prefixes.get(system)
        return prefixes is not None and normalised.startswith(prefixes)


@dataclass
class ValueSetMatcher:
    """Membership test for one ValueSet: explicit codes, ICD-10-CM ``is-a`` prefixes, text,
    minus its exclusions."""

    id: str
    title: str
    codes: dict[tuple[str, str], CodedConcept] = field(default_factory=dict)
    prefixes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    pattern: TextPattern | None = None
    exclusions: Exclusions | None = None
    _text_cache: dict[str, bool] = field(default_factory=dict, repr=False)
    _systems: frozenset[str] | None = field(default=None, repr=False)

    def match_coding(self, system: str, code: str) -> bool:
        normalised = normalise_code(system, code)
        if self.exclusions is not None and self.exclusions.excludes_coding(system, normalised):
            return False
        if (system, normalised) in self.codes:
            return True
        prefixes = self.prefixes.get(system)
        return prefixes is not None and normalised.startswith(prefixes)

    def _excluded_concept(self, concept: dict[str, Any]) -> bool:
        """The concept names an excluded code, so only its other codes may make it a member."""
        exclusions = self.exclusions
        if exclusions is None or not (exclusions.codes or exclusions.prefixes):
            return False
        return any(
            exclusions.excludes_coding(system, normalise_code(system, code))
            for system, code, _ in iter_codings(concept)
            if system and code
        )

    def _excluded_text(self, text: str) -> bool:
        exclusions = self.exclusions
        return (
            exclusions is not None
            and exclusions.pattern is not None
            and exclusions.pattern.search(text)
        )

    def match_text(self, text: str) -> bool:
        """Pattern search, memoised: long records repeat the same few displays thousands of times.

        Codes and displays are short; a longer text is read up to :data:`MAX_TEXT_CHARS`, and
        text not yet seen counts against the call's text budget (an exhausted budget reads as
        "no match" and the call's cards say so).
        """
        if self.pattern is None:
            return False
        text = text[:MAX_TEXT_CHARS]
        known = self._text_cache.get(text)
        if known is None:
            if not spend_text_budget(len(text)):
                return False
            if len(self._text_cache) >= TEXT_CACHE_SIZE:
                self._text_cache.clear()
            known = self.pattern.search(text) and not self._excluded_text(text)
            self._text_cache[text] = known
        return known

    def search_text(self, text: str) -> bool:
        """The pattern itself on the whole text: no cache, no truncation, no budget (tests)."""
        return self.pattern is not None and self.pattern.search(text)

    def match_concept(self, concept: Any) -> bool:
        """True when any coding, ``display`` or the ``text`` of a CodeableConcept matches.

        This runs once per resource of a long record, so it is written for speed: codes of a
        system the set does not use are not even normalised.
        """
        if not isinstance(concept, dict):
            return False
        if self.exclusions is not None and self._excluded_concept(concept):
            return bool(self.matching_codes(concept))
        codings = concept.get("coding")
        if isinstance(codings, list):
            systems = self.systems
            for coding in codings:
                if not isinstance(coding, dict):
                    continue
                system, code = coding.get("system"), coding.get("code")
                if isinstance(system, str) and isinstance(code, str):
                    if system in systems and self.match_coding(system, code):
                        return True
                elif not _absent_or_text(system) or not _absent_or_text(code):
                    note_ill_typed()
                display = coding.get("display")
                if isinstance(display, str):
                    if self.match_text(display):
                        return True
                elif display is not None:
                    note_ill_typed()
        text = concept.get("text")
        if isinstance(text, str):
            return self.match_text(text)
        if text is not None:
            note_ill_typed()
        return False

    @property
    def systems(self) -> frozenset[str]:
        if self._systems is None:
            self._systems = frozenset(s for s, _ in self.codes) | frozenset(self.prefixes)
        return self._systems

    def matching_codes(self, concept: Any) -> list[tuple[str, str]]:
        """(system, code) pairs of ``concept`` that are members, for precise distinctions."""
        if not isinstance(concept, dict):
            return []
        return [
            (system, normalise_code(system, code))
            for system, code, _ in iter_codings(concept)
            if system and code and self.match_coding(system, code)
        ]


def _absent_or_text(value: object) -> bool:
    return value is None or isinstance(value, str)


def concept_key(concept: Any) -> ConceptKey | None:
    """Everything matching reads of a CodeableConcept, as a hashable value.

    ``None`` when the concept is not a plain, well-typed one (a coding that is not a list of
    objects, a ``system``/``code``/``display``/``text`` that is not a string): matching such a
    concept counts what it could not read, so it is never memoised.
    """
    if not isinstance(concept, dict):
        return None
    text = concept.get("text")
    codings = concept.get("coding")
    if not _absent_or_text(text) or not (codings is None or isinstance(codings, list)):
        return None
    parts: list[tuple[str | None, str | None, str | None]] = []
    for coding in codings or ():
        if not isinstance(coding, dict):
            return None
        system, code, display = coding.get("system"), coding.get("code"), coding.get("display")
        if not (_absent_or_text(system) and _absent_or_text(code) and _absent_or_text(display)):
            return None
        parts.append((system, code, display))
    return tuple(parts), text


def iter_codings(concept: Mapping[str, Any]) -> Iterable[tuple[str, str, str]]:
    codings = concept.get("coding")
    if not isinstance(codings, list):
        return
    for coding in codings:
        if isinstance(coding, dict):
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
        matcher.pattern = TextPattern(patterns, name=matcher.id)
    matcher.exclusions = _exclusions(valueset, matcher.id)
    return matcher


def _exclusions(valueset: Mapping[str, Any], valueset_id: str) -> Exclusions | None:
    codes: set[tuple[str, str]] = set()
    prefixes: dict[str, list[str]] = {}
    for exclude in valueset.get("compose", {}).get("exclude", []):
        system = str(exclude.get("system", ""))
        for concept in exclude.get("concept", []):
            codes.add((system, normalise_code(system, str(concept["code"]))))
        for rule in exclude.get("filter", []):
            if rule.get("op") != "is-a" or system != ICD10CM:
                raise ValueError(f"{valueset_id}: only ICD-10-CM is-a filters are supported")
            prefixes.setdefault(system, []).append(normalise_code(system, str(rule["value"])))
    patterns = extension_values(dict(valueset), TEXT_EXCLUDE_PATTERN_EXT)
    if not codes and not prefixes and not patterns:
        return None
    pattern = TextPattern(patterns, name=f"{valueset_id} (exclude)") if patterns else None
    return Exclusions(
        frozenset(codes), {system: tuple(v) for system, v in prefixes.items()}, pattern
    )


def merge(matchers: Iterable[ValueSetMatcher], merged_id: str) -> ValueSetMatcher:
    """One matcher for "member of any of these sets": the cheap pre-filter on raw resources."""
    merged = ValueSetMatcher(id=merged_id, title=merged_id)
    prefixes: dict[str, set[str]] = {}
    patterns: list[str] = []
    for matcher in matchers:
        merged.codes.update(matcher.codes)
        for system, values in matcher.prefixes.items():
            prefixes.setdefault(system, set()).update(values)
        if matcher.pattern is not None:
            patterns.extend(matcher.pattern.sources)
    merged.prefixes = {system: tuple(sorted(values)) for system, values in prefixes.items()}
    if patterns:
        merged.pattern = TextPattern(patterns, name=merged_id)
    return merged


class Terminology:
    """All compiled value sets by id; attribute access fails loudly on a missing set."""

    def __init__(self, valuesets: Mapping[str, Mapping[str, Any]]) -> None:
        self._matchers = {vs_id: compile_valueset(vs) for vs_id, vs in valuesets.items()}
        self._unions: dict[tuple[str, ...], ValueSetMatcher] = {}
        self._memberships: dict[ConceptKey, dict[str, bool]] = {}
        self._member_sets: dict[tuple[ConceptKey, tuple[str, ...]], frozenset[str]] = {}
        self._displays = {
            key: coded.display
            for matcher in self._matchers.values()
            for key, coded in matcher.codes.items()
            if coded.display
        }

    def display_of(self, concept: Any) -> str:
        """The knowledge data's display of the first known code of ``concept``, or ""."""
        if not isinstance(concept, dict):
            return ""
        for system, code, _ in iter_codings(concept):
            display = self._displays.get((system, normalise_code(system, code)))
            if display:
                return display
        return ""

    def __getitem__(self, valueset_id: str) -> ValueSetMatcher:
        return self._matchers[valueset_id]

    def member(
        self, valuesets: str | tuple[str, ...], concept: Any, key: ConceptKey | None
    ) -> bool:
        """``match_concept`` of the set (or the union of the sets), remembered by ``key``.

        The answer depends only on what the key holds, so it is kept for the next concept with
        the same codes and text, in this call or a later one; an answer given while the call's
        text budget was exhausted is not kept (it may be "no" only for want of budget). Like
        the matchers' text cache, a remembered answer spends no text budget again.
        """
        matcher = self[valuesets] if isinstance(valuesets, str) else self.any_of(valuesets)
        if key is None:
            return matcher.match_concept(concept)
        known = self._memberships.get(key)
        if known is None:
            if len(self._memberships) >= MEMBERSHIP_CACHE_SIZE:
                self._memberships.clear()
            known = self._memberships.setdefault(key, {})
        answer = known.get(matcher.id)
        if answer is None:
            answer = matcher.match_concept(concept)
            if not text_budget_exhausted():
                known[matcher.id] = answer
        return answer

    def members(
        self, valuesets: tuple[str, ...], concept: Any, key: ConceptKey | None
    ) -> frozenset[str]:
        """The sets among ``valuesets`` that hold ``concept``, remembered as :meth:`member`'s."""
        if key is None:
            return frozenset(v for v in valuesets if self[v].match_concept(concept))
        remembered = (key, valuesets)
        found = self._member_sets.get(remembered)
        if found is None:
            found = frozenset(v for v in valuesets if self.member(v, concept, key))
            if not text_budget_exhausted():
                if len(self._member_sets) >= MEMBERSHIP_CACHE_SIZE:
                    self._member_sets.clear()
                self._member_sets[remembered] = found
        return found

    def any_of(self, valueset_ids: tuple[str, ...]) -> ValueSetMatcher:
        union = self._unions.get(valueset_ids)
        if union is None:
            union = merge((self[i] for i in valueset_ids), "|".join(valueset_ids))
            self._unions[valueset_ids] = union
        return union

    def ids(self) -> set[str]:
        return set(self._matchers)


@lru_cache(maxsize=1)
def terminology() -> Terminology:
    return Terminology(knowledge().valuesets)
