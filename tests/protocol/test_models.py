"""Envelope and context validation: what is a CDS Hooks call, and what the 400 says."""

from __future__ import annotations

import pytest

from cds_service.protocol.errors import ProtocolError
from cds_service.protocol.models import (
    MedicationPrescribeContext,
    parse_context,
    parse_feedback,
    parse_hook_request,
)
from tests.contract.builders import hook_request


def test_token_is_kept_secret_in_reprs() -> None:
    body = hook_request("order-sign") | {
        "fhirServer": "https://ehr.example.org/fhir",
        "fhirAuthorization": {"access_token": "very-secret", "token_type": "Bearer"},
    }
    request = parse_hook_request(body)
    assert "very-secret" not in repr(request)
    assert request.fhir_authorization is not None
    assert request.fhir_authorization.access_token.get_secret_value() == "very-secret"


def test_extensions_and_null_optionals_are_tolerated() -> None:
    body = hook_request("order-sign") | {"extension": {"com.example": 1}, "fhirAuthorization": None}
    body["context"]["encounterId"] = None
    request = parse_hook_request(body)
    parse_context("order-sign", request.context)


@pytest.mark.parametrize(
    "context",
    [
        {"user": "Practitioner/1", "patientId": "p1", "medications": []},
        {"userId": "Practitioner/1", "patientId": "p1", "medications": {"resourceType": "Bundle"}},
        {"userId": None, "user": "P/1", "patientId": "p1", "encounterId": None, "medications": []},
    ],
)
def test_medication_prescribe_legacy_variants(context: dict[str, object]) -> None:
    assert isinstance(parse_context("medication-prescribe", context), MedicationPrescribeContext)


def test_medication_prescribe_needs_some_user() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_context("medication-prescribe", {"patientId": "p1", "medications": []})
    assert caught.value.status_code == 400
    assert "userId" in caught.value.message


def test_error_messages_name_the_field_but_never_echo_the_value() -> None:
    body = hook_request("order-sign")
    body["context"]["patientId"] = {"name": "Jane Secret-Patient"}
    request = parse_hook_request(body)
    with pytest.raises(ProtocolError) as caught:
        parse_context("order-sign", request.context)
    assert caught.value.message == "Field 'context.patientId' is invalid."
    assert "Secret" not in caught.value.message


def test_draft_orders_must_be_a_bundle_when_typed() -> None:
    body = hook_request("order-sign")
    body["context"]["draftOrders"] = {"resourceType": "MedicationRequest"}
    with pytest.raises(ProtocolError):
        parse_context("order-sign", parse_hook_request(body).context)


def test_feedback_timestamps_are_normalised_to_utc() -> None:
    parsed = parse_feedback(
        {
            "feedback": [
                {
                    "card": "c",
                    "outcome": "overridden",
                    "outcomeTimestamp": "2020-12-11T01:00:00+01:00",
                },
                {"card": "d", "outcome": "overridden", "outcomeTimestamp": "2020-12-11T00:00:00"},
            ]
        }
    )
    first, second = parsed.feedback
    assert first.outcome_timestamp == second.outcome_timestamp
    assert first.outcome_timestamp.utcoffset() is not None
