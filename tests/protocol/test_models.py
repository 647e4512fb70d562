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
    assert request.fhir_authorization.access_token is not None
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


@pytest.mark.parametrize("hook", ["order-select", "order-sign", "medication-prescribe"])
def test_user_id_is_optional_on_every_hook(hook: str) -> None:
    """Contract section 1: the service does not use userId; HAPI and 1.0-era clients omit it."""
    body = hook_request(hook)
    del body["context"]["userId"]
    parse_context(hook, parse_hook_request(body).context)


@pytest.mark.parametrize("hook", ["order-select", "order-sign", "medication-prescribe"])
@pytest.mark.parametrize("where", ["context", "top level"])
def test_legacy_user_is_accepted_in_context_or_at_the_top_level(hook: str, where: str) -> None:
    body = hook_request(hook)
    del body["context"]["userId"]
    (body["context"] if where == "context" else body)["user"] = "Practitioner/example"
    parse_context(hook, parse_hook_request(body).context)


@pytest.mark.parametrize("encounter", [12345, {"reference": "Encounter/1"}, [], None])
def test_an_unused_field_of_any_shape_is_never_a_400(encounter: object) -> None:
    body = hook_request("order-sign")
    body["context"]["encounterId"] = encounter
    body["context"]["userId"] = 7
    parse_context("order-sign", parse_hook_request(body).context)


def test_patient_reference_as_patient_id_is_read_as_the_id() -> None:
    body = hook_request("order-sign")
    body["context"]["patientId"] = "Patient/123"
    context = parse_context("order-sign", parse_hook_request(body).context)
    assert context.patient_id == "123"


def test_draft_orders_may_be_a_bare_array() -> None:
    body = hook_request("order-sign")
    body["context"]["draftOrders"] = [entry for entry in body["context"]["draftOrders"]["entry"]]
    parse_context("order-sign", parse_hook_request(body).context)


@pytest.mark.parametrize(
    "authorization",
    [
        {"access_token": "t", "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read"},
        {"access_token": "t", "token_type": "Bearer", "expires_in": "300", "subject": "cds-svc"},
        {"access_token": "t", "expires_in": 3.5e2, "patient": "123", "vendor": {"x": [1]}},
    ],
)
def test_fhir_authorization_shapes_seen_in_the_wild(authorization: dict[str, object]) -> None:
    request = parse_hook_request(hook_request("order-sign") | {"fhirAuthorization": authorization})
    assert request.fhir_authorization is not None
    assert request.fhir_authorization.access_token is not None
    assert request.fhir_authorization.access_token.get_secret_value() == "t"


@pytest.mark.parametrize(
    "authorization", [{}, {"access_token": None}, {"access_token": 5}, "a-bare-token", [1]]
)
def test_unusable_fhir_authorization_means_no_token_not_a_400(authorization: object) -> None:
    request = parse_hook_request(hook_request("order-sign") | {"fhirAuthorization": authorization})
    token = request.fhir_authorization.access_token if request.fhir_authorization else None
    assert token is None


def test_extra_authorization_fields_are_not_kept() -> None:
    """A refresh token beside the access token must not end up in a repr or a log."""
    authorization = {"access_token": "t", "refresh_token": "very-secret-refresh"}
    request = parse_hook_request(hook_request("order-sign") | {"fhirAuthorization": authorization})
    assert "very-secret-refresh" not in repr(request)


@pytest.mark.parametrize(
    ("field", "value"),
    [("hook", None), ("hook", 5), ("hookInstance", None), ("hookInstance", []), ("context", "x")],
)
def test_really_malformed_envelopes_are_still_400(field: str, value: object) -> None:
    body = hook_request("order-sign")
    body[field] = value
    with pytest.raises(ProtocolError) as caught:
        parse_hook_request(body)
    assert caught.value.status_code == 400


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
