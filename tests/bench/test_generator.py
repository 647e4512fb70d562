"""The bench request generator: valid FHIR R4, exact sizes, the natalizumab story, determinism."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from bench.generate import (
    MSF,
    NATALIZUMAB_RXCUI,
    RXNORM,
    dumps,
    generate_request,
    prefetch_resources,
)

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def _codes(resource: dict[str, Any], element: str) -> set[tuple[str, str]]:
    concept = resource.get(element) or {}
    return {(c["system"], c["code"]) for c in concept.get("coding", [])}


def _validate(resource: dict[str, Any]) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


@pytest.mark.parametrize("n", [10, 11, 49, 50, 200, 1000])
def test_prefetch_holds_exactly_n_valid_r4_resources(n: int) -> None:
    request = generate_request(n, seed=7, now=NOW)
    for value in request["prefetch"].values():
        _validate(value)  # each searchset Bundle validates with all its entries
    _validate(request["context"]["draftOrders"])
    assert len(prefetch_resources(request)) == n


def test_largest_request_is_valid_and_under_the_service_body_limit() -> None:
    request = generate_request(5000, seed=3, now=NOW)
    for value in request["prefetch"].values():
        _validate(value)
    assert len(prefetch_resources(request)) == 5000
    assert len(dumps(request)) < 5 * 1024 * 1024


@pytest.mark.parametrize("n", [10, 200, 5000])
def test_request_carries_the_natalizumab_story(n: int) -> None:
    request = generate_request(n, seed=11, now=NOW)
    resources = prefetch_resources(request)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(resource)
    natalizumab = (RXNORM, NATALIZUMAB_RXCUI)
    ms = {("http://snomed.info/sct", "426373005"), ("http://snomed.info/sct", "425500002")}
    assert any(_codes(c, "code") & ms for c in by_type["Condition"])
    jcv = [o for o in by_type["Observation"] if (MSF, "anti-jcv-antibody") in _codes(o, "code")]
    assert len(jcv) >= 2
    assert all(isinstance(o["valueQuantity"]["value"], float) for o in jcv)
    assert any(
        o["code"]["coding"][0]["system"] == "http://loinc.org" for o in by_type["Observation"]
    )
    assert any(
        natalizumab in _codes(m, "medicationCodeableConcept") for m in by_type["MedicationRequest"]
    )
    assert any(
        natalizumab in _codes(m, "medicationCodeableConcept")
        for m in by_type["MedicationAdministration"]
    )
    assert any(
        ("http://www.ama-assn.org/go/cpt", "70553") in _codes(d, "code")
        for d in by_type["DiagnosticReport"]
    )
    assert by_type.keys() >= {"Patient", "AllergyIntolerance", "Procedure"}
    drafts = [e["resource"] for e in request["context"]["draftOrders"]["entry"]]
    assert len(drafts) == 1
    assert drafts[0]["status"] == "draft"
    assert _codes(drafts[0], "medicationCodeableConcept") == {natalizumab}
    assert request["hook"] == "order-sign"
    assert request["context"]["patientId"] == by_type["Patient"][0]["id"]


def test_large_requests_add_unrelated_drugs_and_many_labs() -> None:
    resources = prefetch_resources(generate_request(1000, seed=2, now=NOW))
    drugs = {
        c["code"]
        for r in resources
        if r["resourceType"] == "MedicationRequest"
        for c in r["medicationCodeableConcept"]["coding"]
    }
    labs = [r for r in resources if r["resourceType"] == "Observation"]
    assert len(drugs - {NATALIZUMAB_RXCUI}) >= 3
    assert len(labs) > 400


def test_same_seed_and_now_give_identical_bytes_and_other_seeds_differ() -> None:
    assert dumps(generate_request(500, seed=5, now=NOW)) == dumps(
        generate_request(500, seed=5, now=NOW)
    )
    assert dumps(generate_request(500, seed=5, now=NOW)) != dumps(
        generate_request(500, seed=6, now=NOW)
    )


def test_dates_are_relative_to_now_and_never_in_the_future() -> None:
    later = NOW + timedelta(days=400)
    first = prefetch_resources(generate_request(300, seed=9, now=NOW))
    second = prefetch_resources(generate_request(300, seed=9, now=later))
    keys = ("effectiveDateTime", "authoredOn", "recordedDate", "performedDateTime")
    stamps = [
        (datetime.fromisoformat(a[key]), datetime.fromisoformat(b[key]))
        for a, b in zip(first, second, strict=True)
        for key in keys
        if key in a
    ]
    assert len(stamps) > 250
    for old, new in stamps:
        assert old <= NOW
        assert new - old == timedelta(days=400)


@pytest.mark.parametrize("n", [9, 5001])
def test_sizes_outside_the_supported_range_are_refused(n: int) -> None:
    with pytest.raises(ValueError, match="between"):
        generate_request(n)


def test_other_drug_request_keeps_the_record_and_orders_no_natalizumab() -> None:
    natalizumab = generate_request(200, seed=4, now=NOW)
    other = generate_request(200, seed=4, now=NOW, natalizumab=False)
    assert other["prefetch"] == natalizumab["prefetch"]
    (draft,) = [e["resource"] for e in other["context"]["draftOrders"]["entry"]]
    _validate(draft)
    assert draft["status"] == "draft"
    assert (RXNORM, NATALIZUMAB_RXCUI) not in _codes(draft, "medicationCodeableConcept")
    assert "natalizumab" not in dumps(draft).decode().lower()
