"""Engine-level rules on PatientRecord facts: anti-JCV status, age, and card order."""

from __future__ import annotations

from datetime import date

import pytest

from cds_service.clinical.engine import assess
from cds_service.clinical.jcv import summarise_jcv
from cds_service.knowledge.loader import knowledge
from cds_service.record.model import JcvStatus, Phenotype
from tests.clinical.fhir import NOW, TODAY
from tests.clinical.records import (
    ORDER,
    T,
    evidence,
    jcv,
    monthly_infusions,
    phenotype,
    prior_immunosuppressant,
    record,
    topics,
)

INDICATION = [
    "natalizumab-indicated",
    "progressive-ms-not-indicated",
    "spms-on-natalizumab-review",
    "ms-activity-undetermined",
    "ms-phenotype-unspecified",
    "no-approved-indication",
]
SAFETY = [
    "pml-history",
    "natalizumab-hypersensitivity",
    "immunocompromised",
    "concomitant-immunotherapy",
    "herpes-infection",
    "liver-injury",
    "thrombocytopenia",
    "pregnancy",
]
MONITORING = ["pml-risk", "jcv-test-due", "mri-due"]


def test_once_positive_the_patient_stays_positive_with_the_latest_positive_index() -> None:
    patient = record(
        jcv_results=[
            jcv(400, JcvStatus.POSITIVE, 2.5),
            jcv(200, JcvStatus.POSITIVE, 0.9),
            jcv(10, JcvStatus.NEGATIVE, 0.1),
        ]
    )
    summary = summarise_jcv(patient)
    assert summary.status is JcvStatus.POSITIVE
    assert summary.index == 0.9
    assert summary.latest is not None and summary.latest.status is JcvStatus.NEGATIVE


def test_only_indeterminate_results_are_no_status() -> None:
    summary = summarise_jcv(record(jcv_results=[jcv(10, JcvStatus.INDETERMINATE, 0.3)]))
    assert summary.status is None


def _birthday(years: int, extra_days: int = 0) -> date:
    born = date(TODAY.year - years, TODAY.month, TODAY.day)
    return date.fromordinal(born.toordinal() + extra_days)


@pytest.mark.parametrize(
    ("birth", "pediatric"),
    [
        (_birthday(int(T.adult_age_years.value), extra_days=1), True),  # the birthday is tomorrow
        (_birthday(int(T.adult_age_years.value)), False),
        (_birthday(int(T.adult_age_years.value), extra_days=-1), False),
    ],
)
def test_pediatric_below_the_adult_age(birth: date, pediatric: bool) -> None:
    patient = record(phenotypes=(phenotype(Phenotype.RRMS),), birth_date=birth)
    assert ("pediatric-patient" in topics(patient)) is pediatric


def test_cards_are_ordered_by_indicator_then_indication_safety_monitoring() -> None:
    defined = knowledge().topics
    by_order = tuple(sorted(defined, key=lambda code: defined[code].order))
    assert (*INDICATION, "pediatric-patient", *SAFETY, *MONITORING) == by_order
    groups = {code: defined[code].group.value for code in defined}
    assert {code for code, group in groups.items() if group == "indication"} == set(INDICATION)
    assert {code for code, group in groups.items() if group == "monitoring"} == set(MONITORING)
    patient = record(
        phenotypes=(phenotype(Phenotype.PPMS),),
        birth_date=_birthday(16),
        immunocompromising=[evidence("Condition", 10, "HIV infection")],
        concomitant_immunotherapy=[prior_immunosuppressant("fingolimod")],
        uses=tuple(monthly_infusions(30, last_days_ago=400)),
        jcv_results=[jcv(300, JcvStatus.POSITIVE, 0.6)],
    )
    found = assess(patient, [ORDER], NOW)
    ranks = [f.indicator.rank for f in found]
    assert ranks == sorted(ranks)
    warnings = [f.topic for f in found if f.indicator.value == "warning"]
    assert warnings[0] == "progressive-ms-not-indicated"
    assert warnings.index("immunocompromised") < warnings.index("pml-risk")
    assert warnings[-1] == "mri-due"


def test_no_order_no_findings() -> None:
    assert assess(record(phenotypes=(phenotype(Phenotype.RRMS),)), [], NOW) == []
