"""A realistic order-sign call with PHI-like content, shared by the security tests.

Every identifying string is unusual enough that finding it in a log line can only mean the
service logged patient data or a credential.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

PATIENT_ID = "pat-7f3a91"
PATIENT_NAME_FAMILY = "Quetzalcoatl-Vandermeer"
PATIENT_NAME_GIVEN = "Ysolde"
BIRTH_DATE = "1987-03-14"
MRN = "MRN-55510299"
FREE_TEXT = "Patient reports tingling after hiking Mount Zyxwvut last Tuesday"
ACCESS_TOKEN = "ehr-access-token-5e1b7c2d9f"
SERVICE_ID = "natalizumab-order-sign"

PHI_STRINGS = (
    PATIENT_ID,
    PATIENT_NAME_FAMILY,
    PATIENT_NAME_GIVEN,
    BIRTH_DATE,
    MRN,
    "Zyxwvut",
    ACCESS_TOKEN,
)

NATALIZUMAB = {
    "coding": [
        {
            "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
            "code": "354770",
            "display": "natalizumab",
        }
    ],
    "text": "Tysabri (natalizumab) 300 mg IV every 4 weeks",
}


def _patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "identifier": [
            {
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
                    ]
                },
                "system": "urn:oid:1.2.36.146.595.217.0.1",
                "value": MRN,
            }
        ],
        "name": [{"family": PATIENT_NAME_FAMILY, "given": [PATIENT_NAME_GIVEN]}],
        "gender": "female",
        "birthDate": BIRTH_DATE,
    }


def _condition() -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "cond-rrms",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {
            "coding": [
                {
                    "system": "http://snomed.info/sct",
                    "code": "426373005",
                    "display": "Relapsing remitting multiple sclerosis",
                }
            ]
        },
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "recordedDate": "2021-06-01",
        "note": [{"text": FREE_TEXT}],
    }


def _draft_order() -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "draft-natalizumab-1",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": NATALIZUMAB,
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "note": [{"text": FREE_TEXT}],
    }


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }


def order_sign_request(
    *, prefetch: bool = True, fhir_server: str | None = None, with_token: bool = True
) -> dict[str, Any]:
    """A full order-sign call; ``prefetch=False`` omits the prefetch so data is fetched."""
    body: dict[str, Any] = {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/prac-1",
            "patientId": PATIENT_ID,
            "draftOrders": searchset(_draft_order()),
        },
    }
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    if with_token:
        body["fhirAuthorization"] = {
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds-service",
        }
    if prefetch:
        body["prefetch"] = {
            "patient": _patient(),
            "conditions": searchset(_condition()),
            "observations": searchset(),
            "medicationRequests": searchset(),
        }
    return copy.deepcopy(body)


def fhir_resources() -> list[dict[str, Any]]:
    """The same patient as plain resources, for a stand-in FHIR server."""
    return [_patient(), _condition()]


def feedback_body(count: int = 1) -> dict[str, Any]:
    return {
        "feedback": [
            {
                "card": str(uuid.uuid4()),
                "outcome": "overridden",
                "overrideReasons": [
                    {
                        "reason": {
                            "code": "patient-aware",
                            "system": "https://natalizumab-cds.example/fhir/CodeSystem/override",
                        },
                        "userComment": FREE_TEXT,
                    }
                ],
                "outcomeTimestamp": "2026-11-26T02:00:00Z",
            }
            for _ in range(count)
        ]
    }
