"""Indication: exactly one of five topics, per contract sections 2-3."""

from __future__ import annotations

import pytest

from tests.clinical.fhir import (
    ICD,
    MSF,
    SNOMED,
    Resource,
    card,
    concept,
    condition,
    days_ago,
    mri_activity,
    mri_report,
    ppms,
    relapse,
    rrms,
    run,
    spms,
    topics,
)

INDICATION_TOPICS = {
    "natalizumab-indicated",
    "progressive-ms-not-indicated",
    "ms-activity-undetermined",
    "ms-phenotype-unspecified",
    "no-approved-indication",
}


def indication(resources: list[Resource]) -> tuple[str, str]:
    found = {t: i for t, i in topics(run(resources)).items() if t in INDICATION_TOPICS}
    assert len(found) == 1, found
    return next(iter(found.items()))


def test_rrms_is_indicated_and_names_touch() -> None:
    evaluation = run([rrms(recorded=days_ago(900))])
    assert topics(evaluation)["natalizumab-indicated"] == "info"
    indicated = card(evaluation, "natalizumab-indicated")
    assert "TOUCH" in indicated["detail"]
    assert any("TOUCH" in link["label"] for link in indicated["links"])
    assert all(link["url"].startswith("https://") for link in indicated["links"])


@pytest.mark.parametrize(
    "code",
    [
        concept(ICD, "G35.A"),
        concept(ICD, "G35A"),
        concept(text="Relapsing-remitting multiple sclerosis"),
        concept(text="relapsing remitting MS"),
        concept(MSF, "clinically-isolated-syndrome"),
        concept(text="Clinically isolated syndrome"),
    ],
)
def test_relapsing_forms_by_code_and_text(code: Resource) -> None:
    assert indication([condition(code, recorded=days_ago(100))]) == (
        "natalizumab-indicated",
        "info",
    )


@pytest.mark.parametrize(
    "code",
    [
        concept(SNOMED, "428700003"),
        concept(SNOMED, "230374002"),
        concept(ICD, "G35.B0"),
        concept(ICD, "G35.B1"),
        concept(ICD, "G35.B2"),
        concept(text="Primary progressive multiple sclerosis"),
    ],
)
def test_ppms_is_not_indicated_whatever_the_activity(code: Resource) -> None:
    resources = [condition(code, recorded=days_ago(30)), relapse(days_ago(10))]
    assert indication(resources) == ("progressive-ms-not-indicated", "warning")


def test_ppms_card_names_ocrelizumab() -> None:
    evaluation = run([ppms(recorded=days_ago(30))])
    assert "ocrelizumab" in card(evaluation, "progressive-ms-not-indicated")["detail"].lower()


def test_spms_with_recent_relapse_is_indicated() -> None:
    resources = [spms(recorded=days_ago(400)), relapse(days_ago(100))]
    assert indication(resources) == ("natalizumab-indicated", "info")


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (364, "natalizumab-indicated"),
        (365, "natalizumab-indicated"),
        (366, "progressive-ms-not-indicated"),
    ],
)
def test_spms_mri_activity_window_boundary(age: int, expected: str) -> None:
    # At 366 days the active scan is outside the window; the scan one day later counted no
    # new or enlarging T2 lesion, which is non-activity evidence: non-active SPMS.
    resources = [
        spms(recorded=days_ago(800)),
        mri_activity(days_ago(age), 2),
        mri_activity(days_ago(age - 1), 0, kind="mri-new-or-enlarging-t2-lesions"),
    ]
    assert indication(resources)[0] == expected


@pytest.mark.parametrize(
    ("age", "expected"), [(365, "natalizumab-indicated"), (366, "ms-activity-undetermined")]
)
def test_spms_relapse_window_boundary(age: int, expected: str) -> None:
    assert indication([spms(recorded=days_ago(800)), relapse(days_ago(age))])[0] == expected


def test_new_t2_count_of_zero_is_non_activity_evidence() -> None:
    t2_zero = mri_activity(days_ago(30), 0, kind="mri-new-or-enlarging-t2-lesions")
    assert indication([spms(recorded=days_ago(800)), t2_zero]) == (
        "progressive-ms-not-indicated",
        "warning",
    )


def test_gadolinium_count_of_zero_alone_leaves_activity_undetermined() -> None:
    resources = [spms(recorded=days_ago(800)), mri_activity(days_ago(30), 0)]
    assert indication(resources) == ("ms-activity-undetermined", "warning")


def test_free_text_mri_report_is_not_an_assessment_and_is_named() -> None:
    report = mri_report(days_ago(40))
    report["code"] = concept(text="MRI brain: several new T2 lesions, see report")
    evaluation = run([spms(recorded=days_ago(800)), report])
    assert topics(evaluation)["ms-activity-undetermined"] == "warning"
    detail = card(evaluation, "ms-activity-undetermined")["detail"]
    assert f"DiagnosticReport/{report['id']}" in detail.replace("\\", "")
    assert "lesion counts" in detail


def test_spms_active_icd_code_recorded_recently_is_activity() -> None:
    resources = [condition(concept(ICD, "G35.C1"), recorded=days_ago(60))]
    assert indication(resources) == ("natalizumab-indicated", "info")


def test_spms_active_icd_code_recorded_long_ago_is_not_activity() -> None:
    resources = [condition(concept(ICD, "G35.C1"), recorded=days_ago(500))]
    assert indication(resources) == ("ms-activity-undetermined", "warning")


def test_non_active_spms_code_recently_means_not_indicated() -> None:
    resources = [condition(concept(ICD, "G35.C2"), recorded=days_ago(30))]
    assert indication(resources) == ("progressive-ms-not-indicated", "warning")


def test_spms_without_any_assessment_is_undetermined() -> None:
    evaluation = run([spms(recorded=days_ago(30)), mri_report(days_ago(500))])
    assert topics(evaluation)["ms-activity-undetermined"] == "warning"
    assert "mri-due" in topics(evaluation)


def test_progressive_beats_relapsing_whatever_the_dates() -> None:
    resources = [spms(recorded=days_ago(2000)), rrms(recorded=days_ago(10))]
    assert indication(resources)[0] == "ms-activity-undetermined"


def test_latest_progressive_phenotype_wins() -> None:
    newer_ppms = [spms(recorded=days_ago(300)), ppms(recorded=days_ago(100)), relapse(days_ago(5))]
    assert indication(newer_ppms)[0] == "progressive-ms-not-indicated"
    newer_spms = [ppms(recorded=days_ago(300)), spms(recorded=days_ago(100)), relapse(days_ago(5))]
    assert indication(newer_spms)[0] == "natalizumab-indicated"


def test_phenotype_beats_plain_ms_within_one_condition() -> None:
    code = {
        "coding": [{"system": SNOMED, "code": "24700007"}, {"system": SNOMED, "code": "426373005"}]
    }
    assert indication([condition(code, recorded=days_ago(10))])[0] == "natalizumab-indicated"


@pytest.mark.parametrize(
    "code",
    [
        concept(SNOMED, "24700007"),
        concept(ICD, "G35"),
        concept(ICD, "G35.D"),
        concept(text="Multiple sclerosis"),
    ],
)
def test_plain_ms_is_phenotype_unspecified(code: Resource) -> None:
    assert indication([condition(code, recorded=days_ago(10))]) == (
        "ms-phenotype-unspecified",
        "warning",
    )


def test_resolved_phenotype_is_ignored_but_remission_counts() -> None:
    assert indication([rrms(clinical="resolved")])[0] == "no-approved-indication"
    assert indication([rrms(clinical="remission")])[0] == "natalizumab-indicated"
    assert indication([rrms(clinical="inactive")])[0] == "natalizumab-indicated"


@pytest.mark.parametrize("verification", ["refuted", "entered-in-error"])
def test_refuted_and_entered_in_error_are_ignored(verification: str) -> None:
    resources = [rrms(verification=verification), ppms(verification=verification)]
    assert indication(resources)[0] == "no-approved-indication"


def test_relapse_record_is_not_a_phenotype() -> None:
    resources = [condition(concept(text="Relapse of multiple sclerosis"), onset=days_ago(10))]
    assert indication(resources)[0] == "no-approved-indication"


@pytest.mark.parametrize(
    "code",
    [concept(SNOMED, "34000006"), concept(ICD, "K50.90"), concept(text="Crohn's disease of ileum")],
)
def test_crohns_disease_is_an_indication_without_ms(code: Resource) -> None:
    evaluation = run([condition(code, recorded=days_ago(100))])
    assert topics(evaluation)["natalizumab-indicated"] == "info"
    assert "Crohn" in card(evaluation, "natalizumab-indicated")["summary"]


def test_ms_indication_takes_precedence_over_crohns() -> None:
    resources = [condition(concept(SNOMED, "34000006")), ppms(recorded=days_ago(5))]
    assert indication(resources)[0] == "progressive-ms-not-indicated"


def test_nothing_recorded_is_no_approved_indication() -> None:
    assert indication([]) == ("no-approved-indication", "warning")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RRMS", "natalizumab-indicated"),
        ("SPMS", "ms-activity-undetermined"),
        ("PPMS", "progressive-ms-not-indicated"),
    ],
)
def test_phenotype_abbreviations(text: str, expected: str) -> None:
    assert indication([condition(concept(text=text), recorded=days_ago(10))])[0] == expected
