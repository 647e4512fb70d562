"""GET /fhir/CodeSystem/{id}: the project's CodeSystems as FHIR JSON, nothing else."""

from __future__ import annotations

import httpx
import pytest

from tests.contract.builders import card_topics, hook_request
from tests.support.server import LiveServer

BASE = "https://natalizumab-cds.example/fhir/CodeSystem/"


@pytest.mark.parametrize("codesystem_id", ["card-topic", "ms-findings"])
def test_codesystems_are_served(live_server: LiveServer, codesystem_id: str) -> None:
    response = httpx.get(f"{live_server.url}/fhir/CodeSystem/{codesystem_id}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    resource = response.json()
    assert resource["resourceType"] == "CodeSystem"
    assert resource["id"] == codesystem_id
    assert resource["url"] == BASE + codesystem_id


def test_every_card_topic_is_defined_in_the_served_codesystem(live_server: LiveServer) -> None:
    codes = {
        concept["code"]
        for concept in httpx.get(f"{live_server.url}/fhir/CodeSystem/card-topic").json()["concept"]
    }
    response = httpx.post(
        f"{live_server.url}/cds-services/natalizumab-order-sign", json=hook_request("order-sign")
    )
    assert set(card_topics(response.json())) <= codes


@pytest.mark.parametrize(
    "codesystem_id",
    ["does-not-exist", "Card-Topic", "card_topic", "..%2Fconfig", "%2E%2E", "card-topic.json"],
)
def test_other_ids_are_404(live_server: LiveServer, codesystem_id: str) -> None:
    response = httpx.get(f"{live_server.url}/fhir/CodeSystem/{codesystem_id}")
    assert response.status_code == 404
    assert set(response.json()) == {"error", "message"}


def test_path_traversal_is_404(live_server: LiveServer) -> None:
    for path in ("/fhir/CodeSystem/../../config.py", "/fhir/CodeSystem/..%2F..%2Fconfig"):
        response = httpx.get(f"{live_server.url}{path}")
        assert response.status_code == 404
        assert "resourceType" not in response.text
