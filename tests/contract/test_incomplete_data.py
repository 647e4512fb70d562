"""Contract v2 section 2 over HTTP: incomplete data is said in the cards that use it, and
``CDS_MAX_RESOURCES`` counts every resource of the call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds_service.config import Settings
from tests.contract.builders import full_prefetch, hook_request, patient, rrms_condition, searchset
from tests.support.fhir_stub import FhirStub, start_fhir_stub
from tests.support.server import LiveServer

SIGN = "/cds-services/natalizumab-order-sign"


def jcv_negative(index: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"jcv-{index}",
        "status": "final",
        "code": {"text": "JC virus antibody index"},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2020-01-01",
        "valueQuantity": {"value": 0.1},
    }


def details_by_topic(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {c["source"]["topic"]["code"]: c["detail"] for c in response.json()["cards"]}


def test_unreadable_next_page_is_named_only_in_the_cards_that_use_it(
    live_server: LiveServer,
) -> None:
    """The issue's 40-result searchset: page one read, page two unreadable, no silence."""
    prefetch = full_prefetch()
    page = searchset(*(jcv_negative(i) for i in range(20)))
    page["total"] = 40
    page["link"] = [{"relation": "next", "url": "https://ehr.example.org/fhir/Observation?p=2"}]
    prefetch["observations"] = page
    body = hook_request("order-sign", prefetch=prefetch)
    details = details_by_topic(httpx.post(f"{live_server.url}{SIGN}", json=body, timeout=30))
    note = "Read only in part for this assessment: observations"
    for topic in ("pml-risk", "mri-due", "natalizumab-indicated"):
        assert note in details[topic], topic
    assert "jcv-test-due" in details  # the negative results are older than 183 days
    assert note in details["jcv-test-due"]


def test_optional_key_absent_is_named_only_where_it_matters(live_server: LiveServer) -> None:
    prefetch = full_prefetch()
    del prefetch["allergies"]
    body = hook_request("order-sign", prefetch=prefetch)
    details = details_by_topic(httpx.post(f"{live_server.url}{SIGN}", json=body, timeout=30))
    assert not any("allergies" in detail for detail in details.values())


@pytest.fixture
def many_observations() -> Iterator[FhirStub]:
    server = start_fhir_stub(
        [patient(), rrms_condition(), *(jcv_negative(i) for i in range(60))], page_size=10
    )
    yield server
    server.stop()


def test_call_wide_budget_is_a_413_across_pages(
    many_observations: FhirStub,
    tmp_path: Path,
    live_server_factory: Callable[[Settings], LiveServer],
) -> None:
    base = many_observations.base_url
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'f.db'}",
        allowed_fhir_servers=[base],
        max_resources=40,  # each page (10 + its Bundle) is far below it; all pages are not
    )
    server = live_server_factory(settings)
    prefetch = full_prefetch()
    del prefetch["observations"]
    body = hook_request("order-sign", prefetch=prefetch) | {"fhirServer": base}
    response = httpx.post(f"{server.url}{SIGN}", json=body, timeout=30)
    assert response.status_code == 413
    assert response.json()["error"] == "too_many_resources"

    roomy = live_server_factory(settings.model_copy(update={"max_resources": 200}))
    assert httpx.post(f"{roomy.url}{SIGN}", json=body, timeout=30).status_code == 200


def test_every_topic_declares_the_prefetch_keys_its_facts_come_from() -> None:
    """The mapping is data (card-topic property ``prefetch-key``): a new topic must say it."""
    from cds_service.cards.render import topic_prefetch_keys
    from cds_service.knowledge.loader import knowledge
    from cds_service.protocol.services import PREFETCH

    kb = knowledge()
    mapping = topic_prefetch_keys(kb)
    topics = {str(c["code"]) for c in kb.codesystems["card-topic"]["concept"]}
    missing = sorted(topics - set(mapping))
    assert not missing, f"add prefetch-key properties to card-topic.json for {missing}"
    for topic, keys in mapping.items():
        assert keys <= set(PREFETCH), (topic, sorted(keys - set(PREFETCH)))
