"""Decision audit over real HTTP: what is recorded for each hook, and what never is."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds_service.audit.knowledge_version import knowledge_version
from cds_service.config import Settings
from tests.audit.support import audit_tables, metric, wait_for
from tests.contract.builders import (
    PATIENT_ID,
    SERVICE_BY_HOOK,
    hook_request,
    other_order,
)
from tests.support.server import LiveServer


@pytest.fixture
def audited(tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer]) -> LiveServer:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'audit.db'}", audit_flush_interval_s=0.05
    )
    return live_server_factory(settings)


def call(server: LiveServer, body: dict[str, Any]) -> httpx.Response:
    service = SERVICE_BY_HOOK[body["hook"]]
    return httpx.post(f"{server.url}/cds-services/{service}", json=body, timeout=30)


def test_every_hook_call_with_cards_is_recorded_without_patient_data(audited: LiveServer) -> None:
    answers: dict[str, dict[str, Any]] = {}
    requests = {}
    for hook in ("order-select", "order-sign", "medication-prescribe"):
        body = hook_request(hook)
        response = call(audited, body)
        assert response.status_code == 200
        answer = response.json()
        assert answer["cards"]
        answers[body["hookInstance"]] = answer
        requests[body["hookInstance"]] = (hook, body)

    url = audited.settings.database_url
    wait_for(lambda: len(audit_tables(url)["cds_audit_call"]) == 3)
    tables = audit_tables(url)
    calls = {row["hook_instance"]: row for row in tables["cds_audit_call"]}
    assert set(calls) == set(answers)
    cards_by_call: dict[int, list[dict[str, Any]]] = {}
    for card in tables["cds_audit_card"]:
        cards_by_call.setdefault(card["call_id"], []).append(card)
    for hook_instance, row in calls.items():
        hook, _ = requests[hook_instance]
        assert row["service_id"] == SERVICE_BY_HOOK[hook]
        assert row["knowledge_version"] == knowledge_version()
        assert row["knowledge_version"].startswith("sha256:")
        expected = {
            (card["uuid"], card["source"]["topic"]["code"], card["indicator"])
            for card in answers[hook_instance]["cards"]
        }
        recorded = {
            (card["card_uuid"], card["topic"], card["indicator"])
            for card in cards_by_call[row["id"]]
        }
        assert recorded == expected
        assert {card["shown_on"] for card in cards_by_call[row["id"]]} == {
            row["recorded_at"].date()
        }

    shown = sum(row["shown"] for row in tables["cds_audit_daily"])
    assert shown == sum(len(answer["cards"]) for answer in answers.values())

    # No patient data and no card text anywhere in the audit.
    dump = json.dumps(tables, default=str)
    assert PATIENT_ID not in {
        value for rows in tables.values() for r in rows for value in r.values()
    }
    assert f"Patient/{PATIENT_ID}" not in dump
    for answer in answers.values():
        for card in answer["cards"]:
            assert card["summary"] not in dump
    assert metric(audited.url, "cds_audit_calls_written_total") == 3


def test_calls_without_cards_or_with_errors_are_not_recorded(audited: LiveServer) -> None:
    no_cards = call(audited, hook_request("order-sign", [other_order()]))
    assert no_cards.json() == {"cards": []}
    bad = httpx.post(
        f"{audited.url}/cds-services/natalizumab-order-sign", json={"hook": "order-sign"}
    )
    assert bad.status_code == 400
    with_cards = call(audited, hook_request("order-sign"))
    assert with_cards.status_code == 200
    url = audited.settings.database_url
    wait_for(lambda: audit_tables(url)["cds_audit_call"])
    tables = audit_tables(url)
    assert len(tables["cds_audit_call"]) == 1
    assert {c["card_uuid"] for c in tables["cds_audit_card"]} == {
        c["uuid"] for c in with_cards.json()["cards"]
    }


def test_the_knowledge_version_is_a_metric(audited: LiveServer) -> None:
    assert metric(audited.url, "cds_knowledge_info", version=knowledge_version()) == 1.0
