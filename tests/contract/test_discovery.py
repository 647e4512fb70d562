"""GET /cds-services over real HTTP (contract sections 1 and 2)."""

from __future__ import annotations

import httpx

from tests.support.server import LiveServer

EXPECTED_PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "medicationAdministrations": "MedicationAdministration?patient={{context.patientId}}",
    "allergies": "AllergyIntolerance?patient={{context.patientId}}",
    "diagnosticReports": "DiagnosticReport?patient={{context.patientId}}",
    "procedures": "Procedure?patient={{context.patientId}}",
}


def test_discovery_lists_the_three_services(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.url}/cds-services")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    services = response.json()["services"]
    assert {(s["id"], s["hook"]) for s in services} == {
        ("natalizumab-order-select", "order-select"),
        ("natalizumab-order-sign", "order-sign"),
        ("natalizumab-medication-prescribe", "medication-prescribe"),
    }
    for service in services:
        assert set(service) == {
            "hook",
            "id",
            "title",
            "description",
            "prefetch",
            "usageRequirements",
        }
        assert service["title"] and service["description"] and service["usageRequirements"]
        assert service["prefetch"] == EXPECTED_PREFETCH


def test_cors_allows_any_origin_by_default(live_server: LiveServer) -> None:
    response = httpx.get(
        f"{live_server.url}/cds-services", headers={"Origin": "https://sandbox.cds-hooks.org"}
    )
    assert response.headers["access-control-allow-origin"] == "*"
    preflight = httpx.options(
        f"{live_server.url}/cds-services/natalizumab-order-sign",
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["access-control-allow-methods"]
