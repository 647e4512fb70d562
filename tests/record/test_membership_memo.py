"""Remembered value-set memberships answer exactly as matching does, and forget nothing wrong.

The record builder asks the same code against a dozen sets, and the same few codes recur
across a long record and across calls, so ``Terminology.member`` remembers answers by the
concept's content. It must agree with ``match_concept`` on every concept, must not remember
concepts whose matching counts something (ill-typed parts), and must not remember a "no" given
only because the call's text budget ran out.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from cds_service.knowledge.loader import knowledge
from cds_service.record.reading import call_reading
from cds_service.record.terminology import Terminology, concept_key, terminology

EXAMPLES = Path(__file__).resolve().parents[2] / "fhir_examples"


def _concepts(value: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if "coding" in value or "text" in value:
            found.append(value)
        for child in value.values():
            found.extend(_concepts(child))
    elif isinstance(value, list):
        for child in value:
            found.extend(_concepts(child))
    return found


def test_remembered_answers_equal_matching_on_every_example_concept() -> None:
    concepts = [
        concept
        for path in sorted(EXAMPLES.rglob("*.json"))
        for concept in _concepts(json.loads(path.read_text()))
    ]
    assert len(concepts) > 500
    fresh = Terminology(knowledge().valuesets)
    shared = terminology()
    for valueset in sorted(fresh.ids()):
        for concept in concepts:
            expected = fresh[valueset].match_concept(concept)
            key = concept_key(concept)
            assert shared.member(valueset, concept, key) is expected, (valueset, concept)
            assert shared.member(valueset, concept, key) is expected  # now remembered
    sets = tuple(sorted(fresh.ids()))
    for concept in concepts:
        expected_sets = frozenset(v for v in sets if fresh[v].match_concept(concept))
        for _ in range(2):
            assert shared.members(sets, concept, concept_key(concept)) == expected_sets


def test_ill_typed_concepts_have_no_key() -> None:
    assert concept_key({"coding": [{"system": "http://loinc.org", "code": 5}]}) is None
    assert concept_key({"coding": [7]}) is None
    assert concept_key({"coding": {"code": "x"}}) is None
    assert concept_key({"text": ["natalizumab"]}) is None
    assert concept_key({"coding": [{"system": "s", "code": "c"}], "text": "t"}) == (
        (("s", "c", None),),
        "t",
    )


def test_a_no_for_want_of_text_budget_is_not_remembered() -> None:
    tm = Terminology(knowledge().valuesets)
    text = f"relapsing remitting multiple sclerosis {uuid.uuid4()}"
    concept = {"text": text}
    key = concept_key(concept)
    with call_reading(text_chars=5) as reading:
        assert tm.member("ms-phenotype-rrms", concept, key) is False
        assert reading.text_exhausted
    with call_reading() as reading:
        assert tm.member("ms-phenotype-rrms", concept, key) is True
        assert not reading.text_exhausted
