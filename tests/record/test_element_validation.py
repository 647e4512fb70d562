"""Validation through remembered elements gives exactly the verdicts of whole validation.

``validation_problem`` first gives the model the resource's complex elements as instances
validated on their own (and remembered); only a resource that path shows valid is answered
from it, anything else is validated whole. So the one way it could go wrong is calling valid
what whole validation refuses: this holds it to whole validation on every resource the
project has (examples, the third-party corpus, the bench's records) and on thousands of
mutations of them (each value swapped for one of the wrong type), cold and remembered, and
on what the one-pass models (``_checked_once``) handle apart from fhir.resources' own models.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bench.generate import generate_request
from cds_service.examples import example_names, load_example
from cds_service.record import order_shapes, validate
from cds_service.record.validate import ELEMENT_CACHE, supported, validation_problem
from tests.interop.corpus import corpus_dir, corpus_sources, corpus_text, parse_published
from tests.security.mutation import WRONG_VALUES, kind, replaced, value_paths

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MUTATIONS_PER_RESOURCE = 12


def _resources(
    document: Any, wanted: Callable[[str], bool] = supported
) -> Iterator[dict[str, Any]]:
    """Every object in ``document``, at any depth, whose ``resourceType`` is ``wanted``."""
    if isinstance(document, dict):
        rtype = document.get("resourceType")
        if isinstance(rtype, str) and wanted(rtype):
            yield document
        for value in document.values():
            yield from _resources(value, wanted)
    elif isinstance(document, list):
        for value in document:
            yield from _resources(value, wanted)


def _all_resources() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for name in example_names():
        found += _resources(load_example(name, NOW).request)
    directory = corpus_dir()
    for source in corpus_sources(directory):
        found += _resources(parse_published(corpus_text(directory, source["id"])))
    for seed in (1, 2):
        found += _resources(generate_request(200, seed=seed, now=NOW))
    return found


RESOURCES = _all_resources()


def _whole(resource: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str | None:
    with monkeypatch.context() as patch:
        patch.setattr(validate, "_valid_by_elements", lambda model, r: False)
        return validation_problem(resource)


def _mutations(resource: dict[str, Any], rng: random.Random) -> Iterator[dict[str, Any]]:
    paths = [p for p in value_paths(resource) if p != ("resourceType",)]
    for _ in range(MUTATIONS_PER_RESOURCE if paths else 0):
        changes = []
        for path in rng.sample(paths, k=min(len(paths), rng.choice((1, 1, 2, 3)))):
            original: Any = resource
            for part in path:
                original = original[part]
            changes.append((path, rng.choice(WRONG_VALUES[kind(original)])))
        yield replaced(resource, changes)


#: A valid value for each choice (``x[x]``) a rule's resource types offer, by its JSON name.
_CHOICE_VALUES: dict[str, Any] = {
    "valueString": "positive",
    "valueBoolean": True,
    "valueInteger": 1,
    "valueQuantity": {"value": 1.2, "unit": "index"},
    "valueCodeableConcept": {"text": "positive"},
    "effectiveDateTime": "2026-01-02",
    "effectivePeriod": {"start": "2026-01-02"},
    "onsetDateTime": "2020-05-01",
    "onsetString": "in 2020",
    "abatementDateTime": "2021-05-01",
    "deceasedBoolean": False,
    "deceasedDateTime": "2025-01-01",
    "medicationCodeableConcept": {"text": "natalizumab"},
    "medicationReference": {"reference": "Medication/m1"},
    "reportedBoolean": True,
    "effectiveInstant": "2026-01-02T10:00:00Z",
    "performedDateTime": "2026-01-02",
    "performedPeriod": {"start": "2026-01-02"},
    "occurrenceDateTime": "2026-01-02",
}


#: An extension on a primitive: FHIR lets one stand in for a required value that is missing.
_AN_EXTENSION = {
    "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
    "valueCode": "unknown",
}


def _one_pass_edges(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """What the one-pass models handle apart from fhir.resources' own: a null in each list;
    the ``resourceType`` / ``resource_type`` keys that the models' ``__init__`` reads, on the
    resource and inside each element (a wrong one, a right one, an extra one); and each
    choice left out or given a second type; each required primitive left out, null, or
    replaced by its extension (with and without one), and given one beside its value."""
    for key, value in resource.items():
        if isinstance(value, list) and value:
            for position in (0, len(value)):
                yield {**resource, key: [*value[:position], None, *value[position:]]}
        if isinstance(value, dict):
            for extra in ({"resourceType": "Patient"}, {"resource_type": value.get("id", "x")}):
                yield {**resource, key: {**value, **extra}}
        if isinstance(value, list) and value and isinstance(value[0], dict):
            yield {**resource, key: [{**value[0], "resourceType": "Coding"}, *value[1:]]}
    rtype = resource["resourceType"]
    for names in validate.model_for(rtype).model_construct().get_one_of_many_fields().values():
        given = [name for name in names if name in resource]
        yield {key: value for key, value in resource.items() if key not in given}
        for name in names:
            if name not in given and name in _CHOICE_VALUES:
                yield {**resource, name: _CHOICE_VALUES[name]}
    for name, _ in validate.model_for(rtype).model_construct().get_required_fields():
        without = {key: value for key, value in resource.items() if key != name}
        yield without
        yield {**without, name: None}
        yield {**without, f"_{name}": {"extension": [_AN_EXTENSION]}}  # stands in for it
        yield {**without, f"_{name}": {"id": "no-extension"}}
        yield {**resource, f"_{name}": {"extension": [_AN_EXTENSION]}}
    yield {**resource, "resource_type": rtype}
    yield {**resource, "resource_type": "Patient"}
    yield {**resource, "resourceType": "Patient" if rtype != "Patient" else "Observation"}
    yield {key: value for key, value in resource.items() if key != "resourceType"}


def test_the_resources_are_many_and_of_every_type_read() -> None:
    types = {r["resourceType"] for r in RESOURCES}
    assert len(RESOURCES) > 500
    assert {"Condition", "Observation", "MedicationRequest", "Patient"} <= types


def _verdicts_checked(
    candidates: Iterator[dict[str, Any]], remembered: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, int]:
    """(checked, valid): each candidate's verdict held to whole validation's."""
    if not remembered:
        ELEMENT_CACHE.clear()
    checked = valid = 0
    for candidate in candidates:
        if not remembered:
            ELEMENT_CACHE.clear()  # every element validated afresh
        expected = _whole(candidate, monkeypatch)
        assert validation_problem(candidate) == expected, candidate
        checked += 1
        valid += expected is None
    return checked, valid


@pytest.mark.parametrize("remembered", [False, True])
def test_verdicts_equal_whole_validation(remembered: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(14)
    candidates = (c for r in RESOURCES for c in [r, *_mutations(r, rng)])
    checked, valid = _verdicts_checked(candidates, remembered, monkeypatch)
    # Both verdicts are well represented, so neither side of the equality is vacuous.
    assert checked > 5_000
    assert 0.2 < valid / checked < 0.9


@pytest.mark.parametrize("remembered", [False, True])
def test_the_one_pass_models_refuse_what_the_models_refuse(
    remembered: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    candidates = (c for r in RESOURCES for c in _one_pass_edges(r))
    checked, valid = _verdicts_checked(candidates, remembered, monkeypatch)
    # Some edges are valid (a right resource_type, no resourceType at all), most are not.
    assert checked > 5_000
    assert 0.02 < valid / checked < 0.5


def test_a_resource_is_not_shown_valid_by_the_model_of_another_type() -> None:
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    assert validate._valid_by_elements(validate.model_for("Observation"), observation)
    for model in ("Condition", "Procedure"):
        assert not validate._valid_by_elements(validate.model_for(model), observation)
    # Without its resourceType, this one is a valid Patient (no element is required).
    assert validate._valid_by_elements(validate.model_for("Patient"), {"resourceType": "Patient"})
    assert not validate._valid_by_elements(
        validate.model_for("Patient"), {"resourceType": "Medication"}
    )
    assert not validate._valid_by_elements(
        validate.model_for("Observation"), {**observation, "resource_type": "Observation"}
    )


def test_start_up_builds_what_validation_uses() -> None:
    """Preloading (at start-up) leaves no model or field table for a first call to build."""
    validate.preload_models()
    before = (validate._complex_fields.cache_info(), validate._checked_once.cache_info())
    for resource in RESOURCES:
        validation_problem(resource)
    after = (validate._complex_fields.cache_info(), validate._checked_once.cache_info())
    assert [info.misses for info in after] == [info.misses for info in before]
    assert all(info.hits > 0 for info in after)


def test_an_invalid_element_is_not_remembered_and_still_refuses() -> None:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "1234-5"}], "text": 5},
    }
    for _ in range(2):
        assert validation_problem(resource) is not None


def test_elements_are_remembered_within_their_bound() -> None:
    ELEMENT_CACHE.clear()
    resource = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    long_note = {**resource, "note": [{"text": "y" * 5000}]}
    assert validation_problem(resource) is None
    assert validation_problem(long_note) is None
    assert len(ELEMENT_CACHE) == 1  # the code; the long note was validated, not remembered


def test_a_null_in_a_list_of_elements_is_refused_as_whole_validation_does() -> None:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "category": [{"text": "laboratory"}, None],
    }
    assert validation_problem(resource) is not None


def _orders(document: Any) -> Iterator[dict[str, Any]]:
    """Every draft-order shape in ``document``: R4/STU3 MedicationRequest, DSTU2 MedicationOrder."""
    return _resources(document, {"MedicationRequest", "MedicationOrder"}.__contains__)


def _read_afresh(order: dict[str, Any]) -> order_shapes.OrderReading:
    order_shapes._VERDICTS.clear()  # a remembered verdict would hide the path under test
    return order_shapes.read_order(order)


def test_order_readings_equal_whole_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    """A natalizumab order is read (and its unreadable fields named) as whole validation
    would, now that the one-pass path is asked first (``order_shapes._validate_order``)."""
    directory = corpus_dir()
    documents: list[Any] = [load_example(name, NOW).request for name in example_names()]
    documents += [
        parse_published(corpus_text(directory, s["id"])) for s in corpus_sources(directory)
    ]
    documents.append(generate_request(200, seed=1, now=NOW))
    orders = [order for document in documents for order in _orders(document)]
    rng = random.Random(14)
    # Through JSON, as from the wire: two changes on one path can leave an integer key.
    mutated = (c for order in orders for c in [order, *_mutations(order, rng)])
    candidates = [json.loads(json.dumps(c)) for c in mutated]
    fast = [_read_afresh(c) for c in candidates]
    with monkeypatch.context() as patch:
        patch.setattr(validate, "_valid_by_elements", lambda model, r: False)
        whole = [_read_afresh(c) for c in candidates]
    assert fast == whole
    assert len({o["resourceType"] for o in orders}) == 2  # DSTU2 shapes are among them
    read_whole = sum(not reading.unread for reading in whole)
    assert len(candidates) > 300 and 0.1 < read_whole / len(candidates) < 0.9
