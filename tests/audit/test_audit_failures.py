"""A failing audit database never fails a hook call: the call answers, the loss is counted."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine, text

from cds_service.audit.metrics import AuditMetrics
from cds_service.audit.recorder import AuditRecorder
from cds_service.config import Settings
from tests.audit.support import audit_tables, metric, wait_for
from tests.contract.builders import PATIENT_ID, hook_request
from tests.support.server import LiveServer, free_loopback_port

SIGN = "natalizumab-order-sign"


def _sign(server: LiveServer) -> httpx.Response:
    return httpx.post(
        f"{server.url}/cds-services/{SIGN}", json=hook_request("order-sign"), timeout=30
    )


def test_audit_database_unreachable_hook_calls_still_answer(
    live_server_factory: Callable[[Settings], LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    closed_port = free_loopback_port()  # nothing listens there
    settings = Settings(
        database_url=f"postgresql+psycopg://cds@127.0.0.1:{closed_port}/none?connect_timeout=1",
        audit_flush_interval_s=0.05,
    )
    caplog.set_level(logging.ERROR, logger="cds_service.audit")
    server = live_server_factory(settings)
    for _ in range(3):
        response = _sign(server)
        assert response.status_code == 200
        assert response.json()["cards"]
    wait_for(lambda: metric(server.url, "cds_audit_write_failures_total", operation="schema") > 0)
    assert metric(server.url, "cds_audit_queue_calls") == 3  # kept for a retry, not lost yet
    assert _sign(server).status_code == 200
    failures = [r for r in caplog.records if r.getMessage() == "audit write failed"]
    assert failures
    for record in failures:
        assert PATIENT_ID not in str(record.__dict__)


def test_audit_tables_broken_after_start_hook_calls_still_answer(
    tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer]
) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    server = live_server_factory(Settings(database_url=url, audit_flush_interval_s=0.05))
    assert _sign(server).status_code == 200
    wait_for(lambda: audit_tables(url)["cds_audit_call"])
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE cds_audit_card"))
    engine.dispose()
    for _ in range(3):
        assert _sign(server).status_code == 200
    wait_for(lambda: metric(server.url, "cds_audit_write_failures_total", operation="calls") > 0)
    assert metric(server.url, "cds_audit_calls_written_total") == 1


def _recorder(
    url: str, max_pending: int = 100
) -> tuple[AuditRecorder, AuditMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = AuditMetrics(registry, "sha256:test")
    recorder = AuditRecorder(
        create_engine(url),
        knowledge_version="sha256:test",
        retention_days=365,
        metrics=metrics,
        max_pending=max_pending,
    )
    return recorder, metrics, registry


def test_record_never_raises_and_the_queue_is_bounded(tmp_path: Path) -> None:
    recorder, _, registry = _recorder(f"sqlite:///{tmp_path / 'x.db'}", max_pending=2)
    card = {"uuid": "u", "indicator": "info", "source": {"topic": {"code": "pml-risk"}}}
    recorder.record("natalizumab-order-sign", "h", [{"uuid": "no source"}])
    recorder.record("natalizumab-order-sign", "h", [])
    for _ in range(4):
        recorder.record("natalizumab-order-sign", "h", [card])
    assert recorder.pending == 2

    def dropped(reason: str) -> float | None:
        return registry.get_sample_value("cds_audit_calls_dropped_total", {"reason": reason})

    assert dropped("unreadable") == 1
    assert dropped("queue_full") == 2


def test_shutdown_with_the_database_down_drops_and_counts(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "audit.db"
    recorder, _, registry = _recorder(f"sqlite:///{missing}")
    # No schema step (the tables "exist"): the write itself fails.
    card = {"uuid": "u", "indicator": "info", "source": {"topic": {"code": "pml-risk"}}}
    recorder.record("natalizumab-order-sign", "h", [card])
    assert recorder.flush() is False
    assert recorder.pending == 1
    recorder.close()
    assert recorder.pending == 0
    assert registry.get_sample_value("cds_audit_calls_dropped_total", {"reason": "shutdown"}) == 1
    assert registry.get_sample_value("cds_audit_write_failures_total", {"operation": "calls"}) == 2
