"""Liveness, readiness, Prometheus metrics and the access log, over real HTTP."""

from __future__ import annotations

import gc
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.generate import dumps, generate_request
from cds_service.app import GC_THRESHOLDS, create_app
from cds_service.config import Settings
from tests.contract.builders import hook_request
from tests.support.asgi import InProcessClient
from tests.support.server import LiveServer


def test_healthz_and_readyz(live_server: LiveServer) -> None:
    assert httpx.get(f"{live_server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{live_server.url}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


def test_readyz_is_503_when_the_store_is_unreachable(
    tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer]
) -> None:
    missing_dir = tmp_path / "no" / "such" / "dir" / "f.db"
    server = live_server_factory(Settings(database_url=f"sqlite:///{missing_dir}"))
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    response = httpx.get(f"{server.url}/readyz")
    assert response.status_code == 503
    assert response.json()["error"] == "not_ready"


def test_metrics_count_requests_cards_and_latency(live_server: LiveServer) -> None:
    service = f"{live_server.url}/cds-services/natalizumab-order-sign"
    assert httpx.post(service, json=hook_request("order-sign")).status_code == 200
    assert httpx.post(service, content=b"{", headers={"Content-Type": "application/json"})
    response = httpx.get(f"{live_server.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'cds_requests_total{route="service",service="natalizumab-order-sign",status="200"} 1.0'
        in text
    )
    assert (
        'cds_requests_total{route="service",service="natalizumab-order-sign",status="400"} 1.0'
        in text
    )
    assert 'cds_cards_total{indicator="info",topic="natalizumab-indicated"} 1.0' in text
    assert "cds_request_latency_seconds_bucket" in text


def test_two_apps_in_one_process_have_separate_metrics(
    tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer]
) -> None:
    first = live_server_factory(Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}"))
    second = live_server_factory(Settings(database_url=f"sqlite:///{tmp_path / 'b.db'}"))
    httpx.get(f"{first.url}/cds-services")
    assert 'route="discovery"' in httpx.get(f"{first.url}/metrics").text
    assert 'route="discovery"' not in httpx.get(f"{second.url}/metrics").text


def test_metrics_name_the_analytics_and_demo_routes(live_server: LiveServer) -> None:
    """The committee's API and pages are counted under their own route label, not "other"
    (an operator alerting on 401s at the analytics API must be able to tell them apart)."""
    httpx.get(f"{live_server.url}/analytics/cards")  # 404 while no token is configured
    httpx.get(f"{live_server.url}/analytics")
    httpx.get(f"{live_server.url}/demo")
    httpx.get(f"{live_server.url}/no-such-page")
    text = httpx.get(f"{live_server.url}/metrics").text
    assert 'route="analytics-api"' in text
    assert 'route="analytics-page"' in text
    assert 'route="demo-page"' in text
    assert 'cds_requests_total{route="other",service="none",status="404"} 1.0' in text


def test_one_access_log_line_per_call_without_patient_data_or_token(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    body = hook_request("order-sign")
    body["fhirAuthorization"] = {"access_token": "tok-SECRET-123", "token_type": "Bearer"}
    body["fhirServer"] = "https://ehr.example.org/fhir"

    def this_call() -> list[logging.LogRecord]:
        return [
            r
            for r in caplog.records
            if r.name == "cds_service.access"
            and r.__dict__.get("hook_instance") == body["hookInstance"]
        ]

    with caplog.at_level(logging.INFO, logger="cds_service"):
        response = httpx.post(
            f"{live_server.url}/cds-services/natalizumab-order-sign", json=body, timeout=30
        )
        # The line is written once the response has been sent: wait for it (at most 5 s).
        deadline = time.monotonic() + 5
        while not this_call() and time.monotonic() < deadline:
            time.sleep(0.02)
    assert response.status_code == 200
    lines = this_call()
    assert len(lines) == 1
    record = lines[0].__dict__
    assert record["hook"] == "order-sign"
    assert record["service_id"] == "natalizumab-order-sign"
    assert record["hook_instance"] == body["hookInstance"]
    assert record["status"] == 200
    assert record["latency_ms"] > 0
    assert "natalizumab-indicated" in record["card_topics"]
    assert record["skipped_resources"] == 0
    everything = caplog.text + json.dumps([str(r.__dict__) for r in caplog.records])
    for secret in ("tok-SECRET-123", "1985-04-02", "Tysabri", "PractitionerRole/123", "89284"):
        assert secret not in everything


def test_started_app_tunes_the_collector(tmp_path: Path) -> None:
    """The thresholds bench/README.md measured are in force once the app has started."""
    gc.set_threshold(700, 10, 10)
    client = InProcessClient(create_app(Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}")))
    try:
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        client.close()


def test_a_large_call_ends_before_the_collector_starts(tmp_path: Path) -> None:
    """A 5,000-resource call holds ~58,000 containers at once and frees them by reference
    counting: with the started app's thresholds no collection runs while it is answered (at
    the earlier 5,000 about sixteen young ones did, 11 ms of a 62 ms call; bench/README.md)."""
    body = dumps(generate_request(5000, seed=2))
    headers = {"Content-Type": "application/json"}
    path = "/cds-services/natalizumab-order-sign"
    client = InProcessClient(create_app(Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}")))
    started: list[int] = []

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(info["generation"])

    try:
        assert client.post(path, content=body, headers=headers).status_code == 200
        gc.collect(0)  # what the first call left counts from nothing
        gc.callbacks.append(note)
        try:
            response = client.post(path, content=body, headers=headers)
        finally:
            gc.callbacks.remove(note)
    finally:
        client.close()
    assert response.status_code == 200 and response.json()["cards"]
    assert started == []
