"""The three CDS services of contract section 1 and their prefetch templates (section 2).

One natalizumab check is offered on three hooks so that each EHR can call it at the point of
its ordering workflow it supports: order-select (earliest), order-sign (last chance, all order
details known) and the deprecated medication-prescribe (CDS Hooks 1.0 EHRs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

PATIENT_TOKEN: Final = "{{context.patientId}}"  # noqa: S105 - a prefetch token, not a secret

PREFETCH: Final[Mapping[str, str]] = MappingProxyType(
    {
        "patient": f"Patient/{PATIENT_TOKEN}",
        "conditions": f"Condition?patient={PATIENT_TOKEN}",
        "observations": f"Observation?patient={PATIENT_TOKEN}",
        "medicationRequests": f"MedicationRequest?patient={PATIENT_TOKEN}",
        "medicationStatements": f"MedicationStatement?patient={PATIENT_TOKEN}",
        "medicationAdministrations": f"MedicationAdministration?patient={PATIENT_TOKEN}",
        "allergies": f"AllergyIntolerance?patient={PATIENT_TOKEN}",
        "diagnosticReports": f"DiagnosticReport?patient={PATIENT_TOKEN}",
        "procedures": f"Procedure?patient={PATIENT_TOKEN}",
    }
)
"""Prefetch key -> FHIR R4 query template, in the order discovery lists them."""

REQUIRED_PREFETCH: Final = frozenset(
    {"patient", "conditions", "observations", "medicationRequests"}
)
"""Keys without which no safe answer is possible: absent and not fetchable -> 412."""

_USAGE = (
    "Supply every prefetch key, or send fhirServer (and fhirAuthorization when the FHIR server "
    "needs a token) from a server the operator has allow-listed; without patient, conditions, "
    "observations and medicationRequests the service answers 412. Missing optional data "
    "(medication statements and administrations, allergies, diagnostic reports, procedures) "
    "is named in the affected cards."
)


@dataclass(frozen=True)
class ServiceDefinition:
    """One discovery entry: the hook it answers and the text an EHR administrator reads."""

    id: str
    hook: str
    title: str
    description: str

    def discovery_entry(self) -> dict[str, Any]:
        """This service as a CDS Hooks 2.0 discovery object."""
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": dict(PREFETCH),
            "usageRequirements": _USAGE,
        }


_DESCRIPTION = (
    "Checks a natalizumab (Tysabri, Tyruko) order against the patient's record: approved "
    "indication (MS phenotype and activity, Crohn's disease), contraindications (PML history, "
    "hypersensitivity), immunosuppression, PML risk from anti-JCV serostatus and exposure, and "
    "due anti-JCV and brain MRI monitoring."
)

SERVICES: Final[Mapping[str, ServiceDefinition]] = MappingProxyType(
    {
        service.id: service
        for service in (
            ServiceDefinition(
                id="natalizumab-order-select",
                hook="order-select",
                title="Natalizumab order check (order-select)",
                description=_DESCRIPTION + " Acts on the selected draft orders.",
            ),
            ServiceDefinition(
                id="natalizumab-order-sign",
                hook="order-sign",
                title="Natalizumab order check (order-sign)",
                description=_DESCRIPTION + " Acts on every draft order about to be signed.",
            ),
            ServiceDefinition(
                id="natalizumab-medication-prescribe",
                hook="medication-prescribe",
                title="Natalizumab order check (medication-prescribe, CDS Hooks 1.0)",
                description=_DESCRIPTION
                + " For EHRs still on the deprecated medication-prescribe hook.",
            ),
        )
    }
)

SERVICE_BY_HOOK: Final[Mapping[str, ServiceDefinition]] = MappingProxyType(
    {service.hook: service for service in SERVICES.values()}
)


def discovery_document() -> dict[str, Any]:
    """The body of ``GET /cds-services``."""
    return {"services": [service.discovery_entry() for service in SERVICES.values()]}
