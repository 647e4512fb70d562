"""ValueSet exclusions: ``compose.exclude`` codes and families, and text-exclude patterns."""

from __future__ import annotations

from typing import Any

from cds_service.knowledge.loader import TEXT_EXCLUDE_PATTERN_EXT, TEXT_PATTERN_EXT
from cds_service.record.terminology import ICD10CM, compile_valueset, merge

VALUESET: dict[str, Any] = {
    "id": "test",
    "extension": [
        {"url": TEXT_PATTERN_EXT, "valueString": r"\bzoster\b"},
        {"url": TEXT_EXCLUDE_PATTERN_EXT, "valueString": r"post-?herpetic\s+neuralgia"},
    ],
    "compose": {
        "include": [{"system": ICD10CM, "filter": [{"op": "is-a", "value": "B02"}]}],
        "exclude": [
            {"system": ICD10CM, "concept": [{"code": "B02.22"}]},
            {"system": ICD10CM, "filter": [{"op": "is-a", "value": "B02.3"}]},
        ],
    },
}


def coded(code: str, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [{"system": ICD10CM, "code": code}]}
    if text:
        concept["text"] = text
    return concept


def test_excluded_codes_and_families_are_not_members() -> None:
    matcher = compile_valueset(VALUESET)
    assert matcher.match_coding(ICD10CM, "B02.9")
    assert not matcher.match_coding(ICD10CM, "B02.22")
    assert not matcher.match_coding(ICD10CM, "B0222")
    assert not matcher.match_coding(ICD10CM, "B02.31")
    assert matcher.matching_codes(coded("B02.22")) == []


def test_an_excluded_coding_is_not_let_back_in_by_its_text() -> None:
    matcher = compile_valueset(VALUESET)
    assert not matcher.match_concept(coded("B02.22", "Herpes zoster neuralgia"))
    # another, included coding on the same concept still makes it a member
    both = coded("B02.22")
    both["coding"].append({"system": ICD10CM, "code": "B02.9"})
    assert matcher.match_concept(both)


def test_text_exclusions() -> None:
    matcher = compile_valueset(VALUESET)
    assert matcher.match_concept({"text": "Herpes zoster"})
    assert not matcher.match_concept({"text": "Post-herpetic neuralgia after zoster"})


def test_a_union_for_pre_filtering_is_a_superset() -> None:
    union = merge([compile_valueset(VALUESET)], "union")
    assert union.match_concept(coded("B02.22"))  # the real set decides after the pre-filter
