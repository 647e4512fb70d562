"""A rule that raises (a defect of the service) must neither fail the call nor pass unseen.

The real engine and real rules run; one rule at a time is replaced by a function that raises,
as a defect on some unforeseen record would. Its topic is then answered by a "not assessed"
card (warning where the topic allows it), the other rules' cards are intact, the failure is
logged without the exception's message and counted in ``/metrics``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from cds_service import pipeline
from cds_service.cards.models import Card
from cds_service.clinical import engine
from cds_service.clinical.findings import Indicator, NoValues
from cds_service.clinical.registry import RegisteredRule, registered_rules, rule
from cds_service.clinical.registry import emits as emitted
from cds_service.knowledge.loader import Rules
from cds_service.record.model import PatientRecord
from tests.clinical.fhir import card, jcv, rrms, run, topics
from tests.contract.builders import hook_request
from tests.support.server import LiveServer

SECRET = "Jane-Doe-MRN-12345"  # stands for record data an exception message could quote


def _raises(record: PatientRecord, now: datetime, rules: Rules) -> None:
    raise ValueError(f"unexpected value {SECRET}")


def _break(monkeypatch: pytest.MonkeyPatch, *suffixes: str) -> list[RegisteredRule]:
    """Make the rules whose name ends with one of ``suffixes`` raise (all rules: ``"*"``)."""
    broken = [
        replace(r, function=_raises) if "*" in suffixes or r.name.endswith(suffixes) else r
        for r in registered_rules()
    ]
    assert any(r.function is _raises for r in broken), suffixes
    monkeypatch.setattr(engine, "registered_rules", lambda: tuple(broken))
    return broken


def test_a_raising_safety_rule_gives_its_topic_a_not_assessed_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _break(monkeypatch, ".pml_history")
    with caplog.at_level(logging.ERROR, logger="cds_service.clinical"):
        evaluation = run([rrms(), jcv("2026-06-01", 0.1)])
    found = topics(evaluation)
    # pml-history allows only critical: a check of a contraindication that did not run keeps
    # the topic's own severity.
    assert found["pml-history"] == "critical"
    failed = card(evaluation, "pml-history")
    Card.model_validate(failed)
    assert "not assessed" in failed["summary"] and "History of PML" in failed["summary"]
    assert "review the patient's record" in failed["detail"]
    assert failed["overrideReasons"]
    assert evaluation.rules_failed == ["pml-history"]
    assert evaluation.card_fallbacks == []
    # The other rules ran as usual.
    assert found["natalizumab-indicated"] == "info" and found["pml-risk"] == "info"
    logged = [r for r in caplog.records if r.name == "cds_service.clinical"]
    assert logged and getattr(logged[0], "topic", None) == "pml-history"
    assert getattr(logged[0], "error", None) == "ValueError"
    assert SECRET not in caplog.text and SECRET not in str(vars(logged[0]))


def test_a_topic_that_allows_a_warning_is_not_assessed_at_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _break(monkeypatch, ".pml_risk")
    evaluation = run([rrms(), jcv("2026-06-01", 0.1)])
    assert topics(evaluation)["pml-risk"] == "warning"  # not info, not an alarm
    assert evaluation.rules_failed == ["pml-risk"]


def test_a_raising_indication_rule_still_answers_the_indication_question(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _break(monkeypatch, ".assess_indication")
    evaluation = run([rrms(), jcv("2026-06-01", 0.1)])
    first = evaluation.cards[0]
    assert first["source"]["topic"]["code"] == "ms-phenotype-unspecified"
    assert first["indicator"] == "warning"
    assert first["summary"].startswith("Natalizumab's indication for this patient: not assessed")
    assert "natalizumab-indicated" not in topics(evaluation)


def test_every_rule_raising_is_still_never_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = _break(monkeypatch, "*")
    evaluation = run([rrms()])
    assert len(evaluation.cards) == len(broken)
    assert sorted(evaluation.rules_failed) == sorted(r.unassessed for r in broken)
    assert all("not assessed" in c["summary"] for c in evaluation.cards)
    for c in evaluation.cards:
        Card.model_validate(c)


def test_a_rule_with_several_topics_must_name_its_unassessed_topic() -> None:
    def function(record: PatientRecord, now: datetime, rules: Rules) -> None:
        return None

    two = (emitted("a", NoValues, Indicator.INFO), emitted("b", NoValues, Indicator.INFO))
    with pytest.raises(ValueError, match="unassessed"):
        rule(*two)(function)
    with pytest.raises(ValueError, match="not one the rule concludes"):
        rule(*two, unassessed="c")(function)


def test_every_registered_rule_names_a_topic_it_concludes() -> None:
    for registered in registered_rules():
        assert registered.unassessed in {e.topic for e in registered.emits}, registered.name


def test_over_http_a_raising_rule_is_a_200_and_is_counted(
    monkeypatch: pytest.MonkeyPatch, live_server: LiveServer
) -> None:
    _break(monkeypatch, ".mri_due", ".jcv_test_due")
    body: dict[str, Any] = hook_request("order-sign")
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        response = client.post("/cds-services/natalizumab-order-sign", json=body)
        assert response.status_code == 200, response.text
        codes = [c["source"]["topic"]["code"] for c in response.json()["cards"]]
        metrics = client.get("/metrics").text
    assert "mri-due" in codes and "jcv-test-due" in codes, codes
    assert 'cds_rule_failures_total{topic="mri-due"} 1.0' in metrics
    assert 'cds_rule_failures_total{topic="jcv-test-due"} 1.0' in metrics


def _fail_record_building(monkeypatch: pytest.MonkeyPatch) -> None:
    def build_record(**kwargs: Any) -> None:
        raise KeyError(SECRET)

    monkeypatch.setattr(pipeline, "build_record", build_record)


def test_a_failing_record_build_still_answers_a_natalizumab_order_with_one_card(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _fail_record_building(monkeypatch)
    with caplog.at_level(logging.ERROR, logger="cds_service.pipeline"):
        evaluation = run([rrms()])
    assert evaluation.failed
    [only] = evaluation.cards
    Card.model_validate(only)
    assert only["source"]["topic"]["code"] == "ms-phenotype-unspecified"
    assert only["indicator"] == "warning" and only["overrideReasons"]
    assert "checks (indication, safety, monitoring): not assessed" in only["summary"]
    [logged] = [r for r in caplog.records if r.name == "cds_service.pipeline"]
    assert getattr(logged, "error", None) == "KeyError"
    assert SECRET not in caplog.text and SECRET not in str(vars(logged))


def test_without_a_natalizumab_order_a_failure_is_not_turned_into_a_card(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fail_record_building(monkeypatch)
    with pytest.raises(KeyError):
        pipeline.evaluate(
            pipeline.HookData(resources=[], trigger_orders=[], natalizumab_orders=()),
            datetime(2026, 1, 1, tzinfo=UTC),
        )


def test_a_defect_at_warm_up_still_fails_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_record_building(monkeypatch)
    with pytest.raises(KeyError):
        pipeline.warm_up()


def test_over_http_a_failed_assessment_is_a_200_and_is_counted(
    monkeypatch: pytest.MonkeyPatch, live_server: LiveServer
) -> None:
    _fail_record_building(monkeypatch)
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        response = client.post(
            "/cds-services/natalizumab-order-sign", json=hook_request("order-sign")
        )
        assert response.status_code == 200, response.text
        [only] = response.json()["cards"]
        metrics = client.get("/metrics").text
    assert "not assessed" in only["summary"]
    assert "cds_assessment_failures_total 1.0" in metrics
