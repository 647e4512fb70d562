"""Every rendered example is well-formed: valid FHIR R4 resources and a consistent expected.json.

This runs without the service, so the examples can be trusted before the engine exists; the
HTTP test (``test_examples.py``) then checks the service's answers against them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from fhir_examples.render import Example, example_names, load_example
from tests.examples.topics import INDICATION_TOPICS, SERVICE_HOOKS, TOPIC_INDICATORS

NAMES = example_names()
# Rendering at a leap day and at a year end as well as today catches date arithmetic that only
# breaks on some days (e.g. "now - 17 years" from 29 February).
NOWS = [
    datetime.now(UTC),
    datetime(2028, 2, 29, 23, 30, tzinfo=UTC),
    datetime(2026, 12, 31, 0, 5, tzinfo=UTC),
]
PREFETCH_KEYS = {
    "patient",
    "conditions",
    "observations",
    "medicationRequests",
    "medicationStatements",
    "medicationAdministrations",
    "allergies",
    "diagnosticReports",
    "procedures",
}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")


def _orders(example: Example) -> list[dict[str, Any]]:
    context = example.request["context"]
    if "medications" in context:
        meds = context["medications"]
        return list(meds) if isinstance(meds, list) else [e["resource"] for e in meds["entry"]]
    return [entry["resource"] for entry in context["draftOrders"].get("entry", [])]


def _resources(example: Example) -> Iterator[dict[str, Any]]:
    """Every top-level resource and bundle of the request (prefetch values, draft orders)."""
    for value in example.request["prefetch"].values():
        if value is not None:
            yield value
    context = example.request["context"]
    if isinstance(context.get("draftOrders"), dict):
        yield context["draftOrders"]
    if isinstance(context.get("medications"), list):
        yield from context["medications"]


def _leaf_resources(example: Example) -> Iterator[dict[str, Any]]:
    for resource in _resources(example):
        if resource["resourceType"] == "Bundle":
            yield from (entry["resource"] for entry in resource.get("entry", []))
        else:
            yield resource


def _walk_strings(value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                yield key, item
            else:
                yield from _walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_strings(item)


@pytest.mark.parametrize("now", NOWS, ids=["today", "leap-day", "year-end"])
@pytest.mark.parametrize("name", NAMES)
def test_every_resource_is_valid_r4(name: str, now: datetime) -> None:
    example = load_example(name, now)
    for resource in _resources(example):
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    for resource in _leaf_resources(example):
        # Validated again on its own, with the model of its own type, in case a Bundle model
        # accepts its entries as a generic Resource.
        model = get_fhir_model_class(resource["resourceType"])
        model.model_validate(resource)
        assert resource.get("id"), f"{resource['resourceType']} without id"


@pytest.mark.parametrize("name", NAMES)
def test_request_envelope_and_references(name: str) -> None:
    example = load_example(name, datetime.now(UTC))
    request = example.request
    assert request["hook"] == SERVICE_HOOKS[example.service]
    uuid.UUID(request["hookInstance"])
    assert "fhirServer" not in request
    context = request["context"]
    patient_id = context["patientId"]
    user = context.get("userId") or context.get("user")
    assert isinstance(user, str)
    assert user.startswith("Practitioner/")
    assert set(request["prefetch"]) >= PREFETCH_KEYS
    assert request["prefetch"]["patient"]["id"] == patient_id
    for key in PREFETCH_KEYS - {"patient"}:
        bundle = request["prefetch"][key]
        assert bundle is None or (bundle["resourceType"], bundle["type"]) == ("Bundle", "searchset")
    for resource in _leaf_resources(example):
        ref = resource.get("subject") or resource.get("patient")
        if resource["resourceType"] != "Patient":
            assert ref == {"reference": f"Patient/{patient_id}"}, resource["id"]
    for order in _orders(example):
        assert order["resourceType"] == "MedicationRequest"
        assert order["status"] == "draft"
    if example.service == "natalizumab-order-select":
        ids = {f"MedicationRequest/{order['id']}" for order in _orders(example)}
        assert set(context["selections"]) <= ids


@pytest.mark.parametrize("name", NAMES)
def test_dates_are_rendered_as_fhir_dates(name: str) -> None:
    text = json.dumps(load_example(name, datetime.now(UTC)).request)
    assert "{{" not in text
    for key, value in _walk_strings(json.loads(text)):
        if key == "birthDate":
            assert _DATE.match(value), value
        elif key in {
            "lastUpdated",
            "issued",
            "authoredOn",
            "recordedDate",
            "started",
            "effectiveDateTime",
            "performedDateTime",
            "dateAsserted",
            "start",
            "end",
        }:
            assert _DATETIME.match(value), f"{key}={value}"


@pytest.mark.parametrize("name", NAMES)
def test_expected_is_consistent_with_the_contract(name: str) -> None:
    example = load_example(name, datetime.now(UTC))
    expected = example.expected
    assert set(expected) == {"service", "description", "cards"}
    assert expected["service"] in SERVICE_HOOKS
    assert len(expected["description"]) > 40
    topics = [card["topic"] for card in expected["cards"]]
    assert len(topics) == len(set(topics)), "a topic is listed twice"
    for card in expected["cards"]:
        assert set(card) <= {"topic", "indicator", "detailMentions"}
        assert card["indicator"] in TOPIC_INDICATORS[card["topic"]], card
    if topics:
        # Exactly one indication card per natalizumab order (contract section 3).
        assert len(INDICATION_TOPICS.intersection(topics)) == 1
        assert "pml-risk" in topics or "jcv-test-due" in topics, (
            "no anti-JCV status and no test card"
        )
    if name.startswith("topic-"):
        assert name.removeprefix("topic-") in topics


def test_every_topic_has_its_own_example_and_stories_exist() -> None:
    topic_examples = {name.removeprefix("topic-") for name in NAMES if name.startswith("topic-")}
    assert topic_examples == set(TOPIC_INDICATORS)
    stories = [name for name in NAMES if not name.startswith("topic-")]
    assert len(stories) >= 12
    seen = {
        (card["topic"], card["indicator"])
        for name in NAMES
        for card in load_example(name, datetime.now(UTC)).expected["cards"]
    }
    every_pair = {(topic, ind) for topic, inds in TOPIC_INDICATORS.items() for ind in inds}
    assert seen == every_pair
