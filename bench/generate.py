"""Deterministic, realistic ``order-sign`` requests for a patient with N prefetched resources.

Why synthetic: the benchmark must scale the record size (10 to 5,000 resources) and stay
reproducible, so one seeded generator builds a plausible natalizumab patient (an RRMS or SPMS
condition, anti-JCV results, natalizumab orders and infusions, brain MRIs) buried in unrelated
everyday data (labs, vitals, other drugs, allergies, procedures). Dates are relative to ``now``
so the clinical windows ("within 12 months") behave the same whenever the bench runs.

Every code used below is a published code (SNOMED CT, LOINC, RxNorm, CPT) or one of the
project's own ``ms-findings`` codes; no identifiers or names of real people appear.

Usage: ``python bench/generate.py --n 200 --seed 1 --out request.json``
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

Resource = dict[str, Any]

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT = "http://www.ama-assn.org/go/cpt"
UCUM = "http://unitsofmeasure.org"
MSF = "https://natalizumab-cds.example/fhir/CodeSystem/ms-findings"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"

NATALIZUMAB_RXCUI = "354770"
MIN_RESOURCES = 10
MAX_RESOURCES = 5_000

# (code, display) pairs of MS phenotypes the issue asks for: RRMS or SPMS.
MS_PHENOTYPES = (
    ("426373005", "Relapsing remitting multiple sclerosis (disorder)"),
    ("425500002", "Secondary progressive multiple sclerosis (disorder)"),
)

# Unrelated everyday problems (SNOMED CT).
OTHER_CONDITIONS = (
    ("38341003", "Hypertensive disorder, systemic arterial (disorder)"),
    ("44054006", "Diabetes mellitus type 2 (disorder)"),
    ("195967001", "Asthma (disorder)"),
    ("35489007", "Depressive disorder (disorder)"),
    ("37796009", "Migraine (disorder)"),
    ("55822004", "Hyperlipidemia (disorder)"),
    ("444814009", "Viral sinusitis (disorder)"),
    ("195662009", "Acute viral pharyngitis (disorder)"),
    ("10509002", "Acute bronchitis (disorder)"),
    ("68566005", "Urinary tract infectious disease (disorder)"),
)


@dataclass(frozen=True)
class Lab:
    """One LOINC-coded result with a plausible value range."""

    code: str
    display: str
    unit: str
    low: float
    high: float
    category: str = "laboratory"


LABS = (
    Lab("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 11.5, 17.0),
    Lab("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 3.8, 11.0),
    Lab("777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", 150, 420),
    Lab("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 160),
    Lab("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.6, 1.3),
    Lab("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.5, 5.1),
    Lab("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 135, 145),
    Lab(
        "1742-6",
        "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
        7,
        56,
    ),
    Lab(
        "1920-8",
        "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
        10,
        40,
    ),
    Lab("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", "mg/dL", 0.1, 1.2),
    Lab("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4.5, 7.5),
    Lab("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 140, 260),
    Lab("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "m[IU]/L", 0.4, 4.0),
    Lab("8480-6", "Systolic blood pressure", "mm[Hg]", 100, 150, "vital-signs"),
    Lab("8462-4", "Diastolic blood pressure", "mm[Hg]", 60, 95, "vital-signs"),
    Lab("8867-4", "Heart rate", "/min", 55, 100, "vital-signs"),
    Lab("29463-7", "Body weight", "kg", 50, 110, "vital-signs"),
    Lab("8302-2", "Body height", "cm", 150, 195, "vital-signs"),
    Lab("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", 18, 35, "vital-signs"),
)

# Unrelated drugs (RxNorm clinical drugs); none is an immunosuppressant or an MS therapy.
OTHER_DRUGS = (
    ("314076", "lisinopril 10 MG Oral Tablet"),
    ("860975", "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet"),
    ("197361", "amlodipine 5 MG Oral Tablet"),
    ("313782", "acetaminophen 325 MG Oral Tablet"),
    ("310965", "ibuprofen 200 MG Oral Tablet"),
    ("308182", "amoxicillin 250 MG Oral Capsule"),
)

LAB_PANELS = (
    ("58410-2", "CBC panel - Blood by Automated count"),
    ("24323-8", "Comprehensive metabolic 2000 panel - Serum or Plasma"),
    ("51990-0", "Basic metabolic panel - Blood"),
    ("57698-3", "Lipid panel with direct LDL - Serum or Plasma"),
)

BRAIN_MRI = (
    "70553",
    "Magnetic resonance (eg, proton) imaging, brain (including brain stem); without contrast "
    "material, followed by contrast material(s) and further sequences",
)

ALLERGIES = (
    ("91936005", "Allergy to penicillin (finding)", "medication"),
    ("300916003", "Latex allergy (finding)", "environment"),
    ("417532002", "Allergy to fish (finding)", "food"),
    ("232347008", "Dander (animal) allergy (finding)", "environment"),
    ("419474003", "Allergy to mould (finding)", "environment"),
)

PROCEDURES = (
    ("73761001", "Colonoscopy (procedure)"),
    ("430193006", "Medication reconciliation (procedure)"),
    ("171207006", "Depression screening (procedure)"),
    ("117015009", "Throat culture (procedure)"),
)

# Share of the resources beyond the essential ones, by type (Observations take the rest).
SHARES = {
    "Condition": 0.08,
    "MedicationRequest": 0.12,
    "MedicationAdministration": 0.08,
    "DiagnosticReport": 0.08,
    "AllergyIntolerance": 0.02,
    "Procedure": 0.07,
}

PREFETCH_KEYS = {
    "Condition": "conditions",
    "Observation": "observations",
    "MedicationRequest": "medicationRequests",
    "MedicationAdministration": "medicationAdministrations",
    "DiagnosticReport": "diagnosticReports",
    "AllergyIntolerance": "allergies",
    "Procedure": "procedures",
}


def _coding(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


def _concept(system: str, code: str, display: str, text: str | None = None) -> Resource:
    concept: Resource = {"coding": [_coding(system, code, display)]}
    if text:
        concept["text"] = text
    return concept


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quantity(value: float, unit: str) -> Resource:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


class _Builder:
    """Builds one patient's resources from a seeded RNG; every id comes from the same RNG."""

    def __init__(self, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.patient_id = self.new_id()
        self.subject = {"reference": f"Patient/{self.patient_id}"}

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def days_ago(self, low: int, high: int) -> datetime:
        seconds = self.rng.randint(low * 86_400, high * 86_400)
        return self.now - timedelta(seconds=seconds)

    def patient(self) -> Resource:
        birth = (self.now - timedelta(days=self.rng.randint(25 * 365, 55 * 365))).date()
        return {
            "resourceType": "Patient",
            "id": self.patient_id,
            "active": True,
            "gender": self.rng.choice(("female", "male")),
            "birthDate": birth.isoformat(),
        }

    def condition(self, code: str, display: str, onset: datetime, active: bool) -> Resource:
        status = "active" if active else "resolved"
        resource: Resource = {
            "resourceType": "Condition",
            "id": self.new_id(),
            "clinicalStatus": _concept(f"{TERMINOLOGY}/condition-clinical", status, status.title()),
            "verificationStatus": _concept(
                f"{TERMINOLOGY}/condition-ver-status", "confirmed", "Confirmed"
            ),
            "category": [
                _concept(
                    f"{TERMINOLOGY}/condition-category", "problem-list-item", "Problem List Item"
                )
            ],
            "code": _concept(SNOMED, code, display),
            "subject": self.subject,
            "onsetDateTime": _instant(onset),
            "recordedDate": _instant(onset + timedelta(days=self.rng.randint(0, 30))),
        }
        if not active:
            resource["abatementDateTime"] = _instant(onset + timedelta(days=14))
        return resource

    def ms_condition(self) -> Resource:
        code, display = self.rng.choice(MS_PHENOTYPES)
        return self.condition(code, display, self.days_ago(3 * 365, 10 * 365), active=True)

    def other_condition(self) -> Resource:
        code, display = self.rng.choice(OTHER_CONDITIONS)
        return self.condition(code, display, self.days_ago(30, 15 * 365), self.rng.random() < 0.5)

    def lab(self) -> Resource:
        lab = self.rng.choice(LABS)
        when = self.days_ago(1, 6 * 365)
        value = round(self.rng.uniform(lab.low, lab.high), 1)
        display = lab.category.replace("-", " ").title()
        return {
            "resourceType": "Observation",
            "id": self.new_id(),
            "status": "final",
            "category": [_concept(f"{TERMINOLOGY}/observation-category", lab.category, display)],
            "code": _concept(LOINC, lab.code, lab.display),
            "subject": self.subject,
            "effectiveDateTime": _instant(when),
            "issued": _instant(when + timedelta(hours=4)),
            "valueQuantity": _quantity(value, lab.unit),
        }

    def anti_jcv(self, when: datetime) -> Resource:
        index = round(self.rng.uniform(0.1, 3.0), 2)
        return {
            "resourceType": "Observation",
            "id": self.new_id(),
            "status": "final",
            "category": [
                _concept(f"{TERMINOLOGY}/observation-category", "laboratory", "Laboratory")
            ],
            "code": _concept(MSF, "anti-jcv-antibody", "Anti-JC virus antibody (index)"),
            "subject": self.subject,
            "effectiveDateTime": _instant(when),
            "issued": _instant(when + timedelta(days=5)),
            "valueQuantity": {"value": index, "unit": "index"},
        }

    def _natalizumab(self) -> Resource:
        return _concept(RXNORM, NATALIZUMAB_RXCUI, "natalizumab", "natalizumab")

    def _natalizumab_dosage(self) -> list[Resource]:
        return [
            {
                "timing": {"repeat": {"frequency": 1, "period": 4, "periodUnit": "wk"}},
                "doseAndRate": [{"doseQuantity": _quantity(300, "mg")}],
            }
        ]

    def natalizumab_request(self, authored: datetime, status: str) -> Resource:
        return {
            "resourceType": "MedicationRequest",
            "id": self.new_id(),
            "status": status,
            "intent": "order",
            "medicationCodeableConcept": self._natalizumab(),
            "subject": self.subject,
            "authoredOn": _instant(authored),
            "dosageInstruction": self._natalizumab_dosage(),
        }

    def natalizumab_infusion(self, when: datetime, request_id: str) -> Resource:
        return {
            "resourceType": "MedicationAdministration",
            "id": self.new_id(),
            "status": "completed",
            "medicationCodeableConcept": self._natalizumab(),
            "subject": self.subject,
            "effectiveDateTime": _instant(when),
            "request": {"reference": f"MedicationRequest/{request_id}"},
            "dosage": {"dose": _quantity(300, "mg")},
        }

    def other_request(self) -> Resource:
        code, display = self.rng.choice(OTHER_DRUGS)
        status = self.rng.choice(("active", "completed", "completed", "stopped"))
        return {
            "resourceType": "MedicationRequest",
            "id": self.new_id(),
            "status": status,
            "intent": "order",
            "medicationCodeableConcept": _concept(RXNORM, code, display),
            "subject": self.subject,
            "authoredOn": _instant(self.days_ago(1, 8 * 365)),
            "dosageInstruction": [
                {"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}}
            ],
        }

    def other_administration(self) -> Resource:
        code, display = self.rng.choice(OTHER_DRUGS[3:5])
        return {
            "resourceType": "MedicationAdministration",
            "id": self.new_id(),
            "status": "completed",
            "medicationCodeableConcept": _concept(RXNORM, code, display),
            "subject": self.subject,
            "effectiveDateTime": _instant(self.days_ago(1, 6 * 365)),
            "dosage": {"dose": {"value": 1, "unit": "tablet"}},
        }

    def brain_mri(self, when: datetime) -> Resource:
        code, display = BRAIN_MRI
        return {
            "resourceType": "DiagnosticReport",
            "id": self.new_id(),
            "status": "final",
            "category": [_concept(f"{TERMINOLOGY}/v2-0074", "RAD", "Radiology")],
            "code": _concept(CPT, code, display, "MRI brain without and with contrast"),
            "subject": self.subject,
            "effectiveDateTime": _instant(when),
            "issued": _instant(when + timedelta(days=1)),
        }

    def lab_report(self) -> Resource:
        code, display = self.rng.choice(LAB_PANELS)
        when = self.days_ago(1, 6 * 365)
        return {
            "resourceType": "DiagnosticReport",
            "id": self.new_id(),
            "status": "final",
            "category": [_concept(f"{TERMINOLOGY}/v2-0074", "LAB", "Laboratory")],
            "code": _concept(LOINC, code, display),
            "subject": self.subject,
            "effectiveDateTime": _instant(when),
            "issued": _instant(when + timedelta(hours=6)),
        }

    def allergy(self) -> Resource:
        code, display, category = self.rng.choice(ALLERGIES)
        return {
            "resourceType": "AllergyIntolerance",
            "id": self.new_id(),
            "clinicalStatus": _concept(
                f"{TERMINOLOGY}/allergyintolerance-clinical", "active", "Active"
            ),
            "verificationStatus": _concept(
                f"{TERMINOLOGY}/allergyintolerance-verification", "confirmed", "Confirmed"
            ),
            "type": "allergy",
            "category": [category],
            "criticality": "low",
            "code": _concept(SNOMED, code, display),
            "patient": self.subject,
            "recordedDate": _instant(self.days_ago(30, 20 * 365)),
        }

    def procedure(self) -> Resource:
        code, display = self.rng.choice(PROCEDURES)
        return {
            "resourceType": "Procedure",
            "id": self.new_id(),
            "status": "completed",
            "code": _concept(SNOMED, code, display),
            "subject": self.subject,
            "performedDateTime": _instant(self.days_ago(1, 10 * 365)),
        }


def _essentials(builder: _Builder, n: int) -> list[Resource]:
    """The natalizumab story, scaled with N: more infusions, JCV tests and MRIs as N grows.

    The first ten items fit N=10 exactly; larger N adds up to 30 monthly infusions, one
    natalizumab order per year of therapy, anti-JCV tests every six months and yearly MRIs.
    """
    now = builder.now
    months = min(30, max(1, n // 40))
    first_order = builder.natalizumab_request(now - timedelta(days=30 * months + 7), "active")
    items: list[Resource] = [
        builder.patient(),
        builder.ms_condition(),
        builder.anti_jcv(now - timedelta(days=builder.rng.randint(20, 150))),
        first_order,
        builder.natalizumab_infusion(now - timedelta(days=28), first_order["id"]),
        builder.brain_mri(now - timedelta(days=builder.rng.randint(60, 300))),
        builder.lab(),
        builder.allergy(),
        builder.procedure(),
        builder.anti_jcv(now - timedelta(days=builder.rng.randint(200, 330))),
    ]
    if n >= 50:
        items.append(builder.anti_jcv(now - timedelta(days=builder.rng.randint(380, 500))))
        items.append(builder.brain_mri(now - timedelta(days=builder.rng.randint(400, 700))))
    for year in range(1, min(3, months // 12 + 1)):
        items.append(builder.natalizumab_request(now - timedelta(days=365 * year), "completed"))
    for month in range(2, months + 1):
        items.append(
            builder.natalizumab_infusion(now - timedelta(days=28 * month), first_order["id"])
        )
    return items


def _fillers(builder: _Builder, count: int) -> list[Resource]:
    makers: dict[str, Callable[[], Resource]] = {
        "Condition": builder.other_condition,
        "MedicationRequest": builder.other_request,
        "MedicationAdministration": builder.other_administration,
        "DiagnosticReport": builder.lab_report,
        "AllergyIntolerance": builder.allergy,
        "Procedure": builder.procedure,
    }
    items: list[Resource] = []
    for kind, share in SHARES.items():
        items.extend(makers[kind]() for _ in range(int(count * share)))
    items.extend(builder.lab() for _ in range(count - len(items)))
    return items


def _searchset(resources: list[Resource]) -> Resource:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }


def generate_request(
    n: int, seed: int = 1, now: datetime | None = None, *, natalizumab: bool = True
) -> Resource:
    """An ``order-sign`` request whose prefetch holds exactly ``n`` resources (Patient included).

    Same ``n``, ``seed`` and ``now`` give the same request, byte for byte. With
    ``natalizumab=False`` the draft order is an everyday drug (lisinopril) for the same
    patient and record: the call an EHR makes for well over 99 % of the orders signed, which
    the service answers ``{"cards": []}``.
    """
    if not MIN_RESOURCES <= n <= MAX_RESOURCES:
        raise ValueError(f"n must be between {MIN_RESOURCES} and {MAX_RESOURCES}")
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    builder = _Builder(seed, moment)
    essentials = _essentials(builder, n)
    resources = essentials + _fillers(builder, n - len(essentials))
    builder.rng.shuffle(resources)  # the engine must not rely on order
    grouped: dict[str, list[Resource]] = {key: [] for key in PREFETCH_KEYS.values()}
    patient: Resource | None = None
    for resource in resources:
        kind = resource["resourceType"]
        if kind == "Patient":
            patient = resource
        else:
            grouped[PREFETCH_KEYS[kind]].append(resource)
    draft = builder.natalizumab_request(moment, "draft")
    if not natalizumab:
        code, display = OTHER_DRUGS[0]
        draft["medicationCodeableConcept"] = _concept(RXNORM, code, display)
        draft["dosageInstruction"] = [
            {"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}}
        ]
    prefetch: Resource = {"patient": patient}
    prefetch.update({key: _searchset(items) for key, items in grouped.items()})
    prefetch["medicationStatements"] = _searchset([])
    return {
        "hook": "order-sign",
        "hookInstance": builder.new_id(),
        "context": {
            "userId": f"Practitioner/{builder.new_id()}",
            "patientId": builder.patient_id,
            "encounterId": builder.new_id(),
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": draft}],
            },
        },
        "prefetch": prefetch,
    }


def prefetch_resources(request: Resource) -> list[Resource]:
    """Every resource in a request's prefetch, whether given bare or in a Bundle."""
    found: list[Resource] = []
    for value in request["prefetch"].values():
        if value is None:
            continue
        if value.get("resourceType") == "Bundle":
            found.extend(entry["resource"] for entry in value.get("entry", []))
        else:
            found.append(value)
    return found


def dumps(request: Resource) -> bytes:
    """Compact JSON, as an EHR would send it."""
    return json.dumps(request, separators=(",", ":")).encode()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=200, help="resources in prefetch (10-5000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--now", type=date.fromisoformat, help="reference date (default today)")
    parser.add_argument("--out", type=Path, help="output file (default stdout)")
    parser.add_argument(
        "--other-drug", action="store_true", help="draft order for lisinopril, not natalizumab"
    )
    args = parser.parse_args(argv)
    now = datetime(args.now.year, args.now.month, args.now.day, tzinfo=UTC) if args.now else None
    body = dumps(generate_request(args.n, args.seed, now, natalizumab=not args.other_drug))
    if args.out:
        args.out.write_bytes(body)
    else:
        print(body.decode())


if __name__ == "__main__":
    main()
