"""The knowledge data is complete, cited and well-formed: a rule without a source fails."""

from __future__ import annotations

import re

import pytest

from cds_service.knowledge.loader import (
    CITATION_EXT,
    TEXT_PATTERN_EXT,
    Threshold,
    extension_values,
    knowledge,
)
from cds_service.record.terminology import terminology

KB = knowledge()
TOPICS = {c["code"] for c in KB.codesystems["card-topic"]["concept"]}
KNOWN_SYSTEMS = {
    "http://snomed.info/sct",
    "http://hl7.org/fhir/sid/icd-10-cm",
    "http://www.nlm.nih.gov/research/umls/rxnorm",
    "http://loinc.org",
    "http://www.ama-assn.org/go/cpt",
    "https://natalizumab-cds.example/fhir/CodeSystem/ms-findings",
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
}


def test_every_card_topic_has_a_cited_rule() -> None:
    assert {rule.id for rule in KB.rules.rules} == TOPICS
    for rule in KB.rules.rules:
        assert rule.citations


def test_every_citation_resolves_to_a_source() -> None:
    missing = KB.citation_ids() - set(KB.sources)
    assert not missing


@pytest.mark.parametrize("valueset_id", sorted(KB.valuesets))
def test_every_valueset_and_concept_is_cited(valueset_id: str) -> None:
    valueset = KB.valuesets[valueset_id]
    assert valueset["resourceType"] == "ValueSet"
    assert extension_values(valueset, CITATION_EXT), "value set without citation"
    for include in valueset.get("compose", {}).get("include", []):
        assert include["system"] in KNOWN_SYSTEMS, include["system"]
        if "filter" in include:
            assert extension_values(include, CITATION_EXT)
        for concept in include.get("concept", []):
            assert extension_values(concept, CITATION_EXT), concept["code"]
    for pattern in extension_values(valueset, TEXT_PATTERN_EXT):
        re.compile(pattern)


def test_engine_valuesets_exist() -> None:
    needed = {
        "natalizumab",
        "ms-phenotype-rrms",
        "ms-phenotype-spms",
        "ms-phenotype-ppms",
        "ms-phenotype-unspecified",
        "ms-phenotype-cis",
        "ms-active-codes",
        "spms-non-active-codes",
        "ms-relapse",
        "crohns-disease",
        "brain-mri",
        "mri-activity",
        "anti-jcv-antibody",
        "jcv-result-positive",
        "jcv-result-negative",
        "jcv-result-indeterminate",
        "prior-immunosuppressants",
        "concomitant-immunotherapy",
        "immunocompromising-conditions",
        "pml-history",
    }
    assert needed <= terminology().ids()


def test_contract_codes_are_members() -> None:
    tm = terminology()
    snomed, icd = "http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10-cm"
    assert tm["ms-phenotype-rrms"].match_coding(snomed, "426373005")
    assert tm["ms-phenotype-spms"].match_coding(snomed, "425500002")
    assert tm["ms-phenotype-ppms"].match_coding(snomed, "428700003")
    assert tm["ms-phenotype-ppms"].match_coding(snomed, "230374002")
    assert tm["ms-phenotype-unspecified"].match_coding(snomed, "24700007")
    for code in ("G35.C0", "G35.C1", "G35.C2"):
        assert tm["ms-phenotype-spms"].match_coding(icd, code)
    for code in ("G35.B0", "G35.B1", "G35.B2"):
        assert tm["ms-phenotype-ppms"].match_coding(icd, code)
    assert tm["ms-phenotype-rrms"].match_coding(icd, "G35.A")
    assert tm["ms-phenotype-unspecified"].match_coding(icd, "G35")
    assert tm["ms-phenotype-unspecified"].match_coding(icd, "G35.D")
    assert tm["pml-history"].match_coding(icd, "A81.2")
    assert tm["pml-history"].match_coding(snomed, "22255007")
    assert tm["crohns-disease"].match_coding(icd, "K50.012")
    assert tm["natalizumab"].match_coding("http://www.nlm.nih.gov/research/umls/rxnorm", "354770")
    for code in ("70551", "70552", "70553"):
        assert tm["brain-mri"].match_coding("http://www.ama-assn.org/go/cpt", code)


def test_threshold_values_match_the_contract() -> None:
    t = KB.rules.thresholds
    expected = {
        "activity_window_days": 365,
        "jcv_retest_days": 183,
        "jcv_retest_waived_index_above": 1.5,
        "jcv_index_negative_below": 0.20,
        "jcv_index_positive_above": 0.40,
        "jcv_no_test_after_plasma_exchange_days": 14,
        "jcv_no_test_after_ivig_months": 6,
        "mri_start_days": 92,
        "mri_on_therapy_days": 365,
        "mri_high_risk_days": 122,
        "mri_high_risk_min_exposure_months": 18,
        "pml_critical_exposure_above_months": 24,
        "pml_critical_index_above": 1.5,
        "adult_age_years": 18,
        "days_per_month": 30.4375,
        "infusion_dedup_days": 14,
        "current_infusion_days": 90,
        "current_course_min_days": 30,
        "current_statement_asserted_days": 365,
        "treatment_period_tail_days": 183,
        "rebound_after_last_dose_weeks": 12,
        "jcv_dna_window_days": 365,
    }
    assert {name: th.value for name, th in t.named().items()} == expected


def test_spoken_intervals_are_derived_from_their_values() -> None:
    """A card says "6 months" for 183 days: the spoken form is computed from the value (and
    says the exact days when the value is not close to whole months), never typed beside it."""
    per_month = 365.25 / 12
    for name, threshold in KB.rules.thresholds.named().items():
        amount, _, unit = threshold.spoken.partition(" ")
        if threshold.unit == "d" and unit.startswith("month"):
            assert round(threshold.value / per_month) == int(amount), name
            assert abs(threshold.value / per_month - int(amount)) <= 0.1, name
        elif threshold.unit == "d" and unit.startswith("week"):
            assert abs(threshold.value / 7 - int(amount)) <= 0.1, name
        else:
            assert float(amount) == threshold.value, name


@pytest.mark.parametrize(
    ("value", "say_in", "spoken"),
    [
        (183, "mo", "6 months"),
        (92, "mo", "3 months"),
        (122, "mo", "4 months"),
        (365, "mo", "12 months"),
        (100, "mo", "100 days"),
        (30, "mo", "1 month"),
        (14, "wk", "2 weeks"),
        (10, "wk", "10 days"),
        (1, None, "1 day"),
        (90, None, "90 days"),
    ],
)
def test_a_day_count_is_spoken_in_months_or_weeks_only_when_exact(
    value: float, say_in: str | None, spoken: str
) -> None:
    threshold = Threshold(value=value, unit="d", statement="test", citations=("x",), say_in=say_in)
    assert threshold.spoken == spoken
    assert threshold.literal == f"{value:g} day{'s' if value != 1 else ''}"


def test_product_rules_name_only_known_thresholds() -> None:
    """Shared thresholds, or the rule's own (``thresholds`` of its rules.json entry)."""
    shared = KB.rules.thresholds.named()
    for rule in KB.rules.rules:
        for placeholder in re.findall(r"{(\w+)}", rule.product_rule):
            assert placeholder in shared or placeholder in rule.thresholds, (rule.id, placeholder)


def test_rules_shown_on_cards_cite_no_internal_document() -> None:
    internal = {sid for sid, source in KB.sources.items() if source.internal}
    assert "natalizumab-cds-contract" in internal
    for rule in KB.rules.rules:
        assert not internal.intersection(rule.citations), rule.id
    for stratum in KB.rules.pml_risk.strata:
        assert not internal.intersection(stratum.citations), stratum.id


def test_risk_table_covers_every_jcv_stratum() -> None:
    from cds_service.clinical.jcv import JcvSummary
    from cds_service.clinical.topics.pml_risk import select_stratum
    from cds_service.record.model import Evidence, JcvResult, JcvStatus

    def summary(status: JcvStatus, index: float | None) -> JcvSummary:
        result = JcvResult(Evidence("Observation/x", None, ""), status, index)
        positive = result if status is JcvStatus.POSITIVE else None
        return JcvSummary(status, result, positive)

    table = KB.rules.pml_risk
    for status in (JcvStatus.POSITIVE, JcvStatus.NEGATIVE):
        for index in (None, 0.5, 0.9, 1.2, 1.5, 3.0):
            for prior in (True, False):
                assert select_stratum(table, summary(status, index), prior) is not None


def test_codesystems_served_are_complete() -> None:
    msf = {c["code"] for c in KB.codesystems["ms-findings"]["concept"]}
    assert msf == {
        "clinically-isolated-syndrome",
        "ms-relapse",
        "brain-mri",
        "mri-new-or-enlarging-t2-lesions",
        "mri-gd-enhancing-lesions",
        "anti-jcv-antibody",
    }
    assert len(TOPICS) == 18
