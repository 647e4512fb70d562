"""Builders of realistic FHIR R4 JSON for rule tests, with dates relative to a fixed now."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cds_service.pipeline import Evaluation, HookData, evaluate

NOW = datetime(2026, 6, 15, 10, 30, tzinfo=UTC)
TODAY = NOW.date()
SNOMED = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
MSF = "https://natalizumab-cds.example/fhir/CodeSystem/ms-findings"
CPT = "http://www.ama-assn.org/go/cpt"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
LOINC_ANTIBODY = "70173-0"  # JC virus antibody (ARUP, Quest catalogues)
LOINC_INDEX = "100977-8"  # JC virus antibody index
PATIENT = {"reference": "Patient/p1"}

_ids = itertools.count(1)

Resource = dict[str, Any]


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def days_ago(days: int) -> str:
    return (TODAY - timedelta(days=days)).isoformat()


def concept(
    system: str | None = None, code: str | None = None, text: str | None = None
) -> Resource:
    result: Resource = {}
    if system and code:
        result["coding"] = [{"system": system, "code": code}]
    if text:
        result["text"] = text
    return result


def patient(birth: str | date = "1985-04-02") -> Resource:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "birthDate": birth if isinstance(birth, str) else birth.isoformat(),
    }


def condition(
    code: Resource,
    *,
    recorded: str | None = None,
    onset: str | None = None,
    clinical: str | None = "active",
    verification: str | None = None,
) -> Resource:
    resource: Resource = {
        "resourceType": "Condition",
        "id": _id("cond"),
        "subject": PATIENT,
        "code": code,
    }
    if clinical:
        resource["clinicalStatus"] = concept(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", clinical
        )
    if verification:
        resource["verificationStatus"] = concept(
            "http://terminology.hl7.org/CodeSystem/condition-ver-status", verification
        )
    if recorded:
        resource["recordedDate"] = recorded
    if onset:
        resource["onsetDateTime"] = onset
    return resource


def rrms(**kw: Any) -> Resource:
    return condition(concept(SNOMED, "426373005"), **kw)


def spms(**kw: Any) -> Resource:
    return condition(concept(SNOMED, "425500002"), **kw)


def ppms(**kw: Any) -> Resource:
    return condition(concept(SNOMED, "428700003"), **kw)


def observation(code: Resource, when: str, status: str = "final", **value: Any) -> Resource:
    return {
        "resourceType": "Observation",
        "id": _id("obs"),
        "status": status,
        "subject": PATIENT,
        "code": code,
        "effectiveDateTime": when,
        **value,
    }


def jcv(
    when: str, index: float | None = None, interpretation: str | None = None, **kw: Any
) -> Resource:
    value: Resource = {}
    if index is not None:
        value["valueQuantity"] = {"value": index, "unit": "index"}
    if interpretation:
        value["interpretation"] = [concept(V3, interpretation)]
    return observation(concept(MSF, "anti-jcv-antibody", "JC virus antibody"), when, **value, **kw)


def mri_activity(when: str, count: int, kind: str = "mri-gd-enhancing-lesions") -> Resource:
    return observation(concept(MSF, kind), when, valueInteger=count)


def relapse(when: str) -> Resource:
    return condition(concept(MSF, "ms-relapse", "MS relapse"), onset=when, recorded=when)


def mri_report(when: str, code: str = "70553") -> Resource:
    return {
        "resourceType": "DiagnosticReport",
        "id": _id("dr"),
        "status": "final",
        "subject": PATIENT,
        "code": concept(CPT, code, "MRI brain with and without contrast"),
        "effectiveDateTime": when,
    }


def medication(
    kind: str,
    drug: Resource,
    *,
    status: str = "active",
    start: str | None = None,
    end: str | None = None,
    when: str | None = None,
) -> Resource:
    resource: Resource = {
        "resourceType": kind,
        "id": _id(kind.lower()),
        "status": status,
        "subject": PATIENT,
        "medicationCodeableConcept": drug,
    }
    if kind == "MedicationRequest":
        resource["intent"] = "order"
        if when:
            resource["authoredOn"] = when
        if start or end:
            period = {k: v for k, v in (("start", start), ("end", end)) if v}
            resource["dispenseRequest"] = {"validityPeriod": period}
    elif kind == "MedicationStatement":
        if start or end:
            resource["effectivePeriod"] = {k: v for k, v in (("start", start), ("end", end)) if v}
        elif when:
            resource["effectiveDateTime"] = when
    else:
        resource["effectiveDateTime"] = when or start
    return resource


NATALIZUMAB = concept(RXNORM, "354770", "natalizumab")


def infusions(count: int, first_days_ago: int = 1000) -> list[Resource]:
    return [
        medication(
            "MedicationAdministration",
            NATALIZUMAB,
            status="completed",
            when=days_ago(first_days_ago - 28 * i),
        )
        for i in range(count)
    ]


def order(drug: Resource | None = None, oid: str = "order-1") -> Resource:
    return {
        "resourceType": "MedicationRequest",
        "id": oid,
        "status": "draft",
        "intent": "order",
        "subject": PATIENT,
        "medicationCodeableConcept": drug or concept(RXNORM, "354770", "Tysabri 300 mg IV"),
    }


def run(
    resources: list[Resource],
    *,
    orders: list[Resource] | None = None,
    drafts: list[Resource] | None = None,
    now: datetime = NOW,
    with_patient: bool = True,
) -> Evaluation:
    trigger = orders if orders is not None else [order()]
    draft_orders = drafts if drafts is not None else trigger
    pool = ([patient()] if with_patient else []) + resources + draft_orders
    return evaluate(
        HookData(
            resources=pool, trigger_orders=trigger, draft_orders=draft_orders, patient_id="p1"
        ),
        now,
    )


def topics(evaluation: Evaluation) -> dict[str, str]:
    return {card["source"]["topic"]["code"]: card["indicator"] for card in evaluation.cards}


def card(evaluation: Evaluation, topic: str) -> Resource:
    return next(c for c in evaluation.cards if c["source"]["topic"]["code"] == topic)
