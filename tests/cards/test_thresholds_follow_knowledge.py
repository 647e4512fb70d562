"""Card text follows the knowledge data: edit a threshold in a copy of ``knowledge/`` and the
rules and the words on the cards both move with it (nothing in ``cards/`` repeats a number).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from cds_service.cards.render import render_cards
from cds_service.clinical.engine import assess
from cds_service.knowledge.loader import KNOWLEDGE_DIR, Knowledge, load_knowledge
from cds_service.record.model import JcvStatus, PatientRecord, Phenotype
from tests.clinical.fhir import NOW
from tests.clinical.records import (
    ORDER,
    condition_fact,
    evidence,
    jcv,
    monthly_infusions,
    phenotype,
    prior_immunosuppressant,
    record,
    result,
)


def edited_knowledge(tmp_path: Path, **values: float) -> Knowledge:
    """A copy of the packaged knowledge with the given thresholds (shared, or a rule's own)
    set to new values."""
    copy = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    path = copy / "rules.json"
    rules: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    for name, value in values.items():
        own = [r for r in rules["rules"] if name in r.get("thresholds", {})]
        table = own[0]["thresholds"] if own else rules["thresholds"]
        table[name]["value"] = value
    path.write_text(json.dumps(rules), encoding="utf-8")
    return load_knowledge(copy)


def cards(patient: PatientRecord, kb: Knowledge) -> dict[str, dict[str, Any]]:
    rendered = render_cards(assess(patient, [ORDER], NOW, kb), patient, [ORDER], kb=kb)
    assert not rendered.fallbacks
    return {card["source"]["topic"]["code"]: card for card in rendered.cards}


RRMS = phenotype(Phenotype.RRMS)


def test_jcv_retest_interval_moves_the_rule_and_the_words(tmp_path: Path) -> None:
    kb = edited_knowledge(tmp_path, jcv_retest_days=92)
    # 100 days old: not due under the packaged 183 days, due under the edited 92.
    patient = record(phenotypes=(RRMS,), jcv_results=[jcv(100, JcvStatus.NEGATIVE, 0.1)])
    due = cards(patient, kb)["jcv-test-due"]
    assert "older than 3 months" in due["summary"]
    assert "retest every 3 months" in due["detail"]
    assert "a result older than 92 days is due for retesting" in due["detail"]
    assert "6 months" not in due["summary"]
    risk = cards(patient, kb)["pml-risk"]
    assert "retest every 3 months" in risk["summary"]


def test_a_value_off_whole_months_is_stated_in_days(tmp_path: Path) -> None:
    kb = edited_knowledge(tmp_path, jcv_retest_days=100)
    patient = record(phenotypes=(RRMS,), jcv_results=[jcv(150, JcvStatus.NEGATIVE, 0.1)])
    assert "older than 100 days" in cards(patient, kb)["jcv-test-due"]["summary"]


@pytest.mark.parametrize(
    ("threshold", "days", "spoken", "facts"),
    [
        ("mri_start_days", 61, "2 months", {}),
        ("mri_on_therapy_days", 183, "6 months", {"uses": tuple(monthly_infusions(6))}),
    ],
)
def test_mri_intervals_move_the_rule_and_the_words(
    tmp_path: Path, threshold: str, days: int, spoken: str, facts: dict[str, Any]
) -> None:
    kb = edited_knowledge(tmp_path, **{threshold: days})
    patient = record(
        phenotypes=(RRMS,),
        mri_exams=[evidence("DiagnosticReport", days + 5, "MRI brain")],
        jcv_results=[jcv(10, JcvStatus.NEGATIVE, 0.1)],
        **facts,
    )
    mri = cards(patient, kb)["mri-due"]
    assert f"none in the last {spoken}" in mri["summary"]
    assert f"{days} days" in mri["detail"]  # the product rule states the exact interval


def test_high_risk_exposure_months_move_the_rule_and_the_words(tmp_path: Path) -> None:
    kb = edited_knowledge(tmp_path, mri_high_risk_min_exposure_months=12)
    patient = record(
        phenotypes=(RRMS,),
        uses=tuple(monthly_infusions(13, last_days_ago=20)),
        mri_exams=[evidence("DiagnosticReport", 150, "MRI brain")],
        jcv_results=[jcv(10, JcvStatus.POSITIVE, 0.5)],
    )
    mri = cards(patient, kb)["mri-due"]
    assert mri["summary"].startswith("High PML risk")
    assert "anti-JCV positive and 12 months or more of natalizumab" in mri["detail"]


def test_index_cut_offs_move_the_rules_and_the_words(tmp_path: Path) -> None:
    kb = edited_knowledge(tmp_path, jcv_retest_waived_index_above=2.5, pml_critical_index_above=3)
    patient = record(
        phenotypes=(RRMS,),
        uses=tuple(monthly_infusions(30, last_days_ago=20)),
        jcv_results=[jcv(300, JcvStatus.POSITIVE, 2.0)],
        mri_exams=[evidence("DiagnosticReport", 20, "MRI brain")],
    )
    found = cards(patient, kb)
    # Index 2.0 is above the packaged 1.5 (critical, retest waived) but below the edited cuts.
    assert found["pml-risk"]["indicator"] == "warning"
    assert "above 2.5 or a prior immunosuppressant" in found["jcv-test-due"]["detail"]


def test_exposure_months_for_critical_move_the_rule_and_the_words(tmp_path: Path) -> None:
    kb = edited_knowledge(tmp_path, pml_critical_exposure_above_months=36)
    patient = record(
        phenotypes=(RRMS,),
        uses=tuple(monthly_infusions(30, last_days_ago=20)),
        jcv_results=[jcv(10, JcvStatus.POSITIVE, 2.0)],
        prior_immunosuppressants=[prior_immunosuppressant()],
    )
    risk = cards(patient, kb)["pml-risk"]
    assert risk["indicator"] == "warning"  # 30 months: critical under 24, not under 36
    assert "the risk rises beyond 36 months" in risk["detail"]
    assert "critical needs more than 36 months of exposure" in risk["detail"]


def test_a_topics_own_thresholds_move_the_rule_and_the_words(tmp_path: Path) -> None:
    kb = edited_knowledge(
        tmp_path, herpes_active_days=60, herpes_cns_critical_days=183, platelet_count_below=150
    )
    patient = record(
        phenotypes=(RRMS,),
        jcv_results=[jcv(10, JcvStatus.NEGATIVE, 0.1)],
        conditions=[condition_fact("herpes-infection-active", 45)],
        observations=[result("platelet-count", 5, 120, "10*3/uL")],
    )
    found = cards(patient, kb)
    herpes = found["herpes-infection"]  # 45 days: active under 60, not under the packaged 30
    assert "within the last 60 days" in herpes["detail"]
    assert "within the last 183 days or are not resolved" in herpes["detail"]
    platelets = found["thrombocytopenia"]  # 120 is below the edited 150, not the packaged 100
    assert "(below 150)" in platelets["summary"]
    assert "below 150 × 10⁹/L" in platelets["detail"]


def test_the_product_rule_follows_the_knowledge_it_is_rendered_with(tmp_path: Path) -> None:
    """The renderer remembers each rule's words: never across different knowledge data."""
    packaged = load_knowledge()
    edited = edited_knowledge(tmp_path, mri_start_days=61)
    patient = record(
        phenotypes=(RRMS,),
        mri_exams=[evidence("DiagnosticReport", 200, "MRI brain")],
        jcv_results=[jcv(10, JcvStatus.NEGATIVE, 0.1)],
    )
    details = [cards(patient, kb)["mri-due"]["detail"] for kb in (packaged, edited, packaged)]
    assert "61 days" in details[1]
    assert "61 days" not in details[0]
    assert details[0] == details[2]
