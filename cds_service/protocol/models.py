"""Pydantic v2 models of the CDS Hooks 2.0 request envelope, hook contexts and feedback.

Validation here is *structural*: it decides whether a body is a CDS Hooks call at all (400
otherwise). FHIR resources inside ``context`` and ``prefetch`` stay plain JSON; the record
layer validates them one by one so that a single bad resource is skipped instead of
failing the whole call (contract section 1).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from cds_service.protocol.errors import ProtocolError, invalid_request

_Id = Annotated[StrictStr, Field(min_length=1, max_length=1024)]


class _Lenient(BaseModel):
    """Unknown fields are allowed: the spec lets clients add extensions anywhere."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class FhirAuthorization(BaseModel):
    """The bearer token the EHR grants for ``fhirServer``.

    Only ``access_token`` is used. Every other field (``token_type``, ``expires_in`` as a
    number or a string, ``scope``, ``subject``, vendor extras) is tolerated in any shape and
    *dropped*, never stored: an extra field may be a secret too (a refresh token), and a kept
    extra would show in reprs. ``SecretStr`` keeps the token itself out of reprs and logs. A
    token that is not a string is treated as no token: it is only needed when fetching.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    access_token: SecretStr | None = None

    @field_validator("access_token", mode="before")
    @classmethod
    def _only_strings(cls, value: object) -> object:
        return value if isinstance(value, str) and value else None


class HookRequest(_Lenient):
    """The CDS Hooks 2.0 service-call envelope."""

    hook: _Id
    hook_instance: _Id = Field(alias="hookInstance")
    fhir_server: StrictStr | None = Field(default=None, alias="fhirServer")
    fhir_authorization: FhirAuthorization | None = Field(default=None, alias="fhirAuthorization")
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None

    @field_validator("fhir_authorization", mode="before")
    @classmethod
    def _authorization_object(cls, value: object) -> object:
        """Not an object (``null``, a bare string): no token, rather than a 400 for a field
        that matters only when the service fetches."""
        return value if isinstance(value, dict) else None


class DraftBundle(_Lenient):
    """A Bundle of draft orders; entries are checked one by one when gathering."""

    resource_type: Literal["Bundle"] | None = Field(default=None, alias="resourceType")
    entry: list[Any] | None = None


def _patient_fhir_id(value: object) -> object:
    """``Patient/123`` (HAPI's own test requests send a reference) is read as the id ``123``."""
    if isinstance(value, str) and value.startswith("Patient/") and len(value) > len("Patient/"):
        return value.removeprefix("Patient/")
    return value


class OrderSignContext(_Lenient):
    """Context of ``order-sign``: every draft order is a trigger.

    ``userId`` is optional (the service does not use it; HAPI's test requests and 1.0-era
    clients omit it or send ``user``), and so is the shape of ``encounterId``. ``draftOrders``
    is a Bundle, or tolerated as a bare array of resources or entries.
    """

    user_id: Any = Field(default=None, alias="userId")
    user: Any = None
    patient_id: _Id = Field(alias="patientId")
    encounter_id: Any = Field(default=None, alias="encounterId")
    draft_orders: DraftBundle | list[Any] = Field(alias="draftOrders")

    _patient = field_validator("patient_id", mode="before")(_patient_fhir_id)


class OrderSelectContext(OrderSignContext):
    """Context of ``order-select``: only the orders named in ``selections`` are triggers."""

    selections: list[StrictStr]


class MedicationPrescribeContext(_Lenient):
    """Context of the deprecated ``medication-prescribe`` hook, with its legacy variants.

    CDS Hooks 1.0 clients send ``user`` instead of ``userId``, ``null`` for absent optional
    fields, and ``medications`` either as a Bundle or as a bare array of resources.
    """

    user_id: Any = Field(default=None, alias="userId")
    user: Any = None
    patient_id: _Id = Field(alias="patientId")
    encounter_id: Any = Field(default=None, alias="encounterId")
    medications: DraftBundle | list[Any]

    _patient = field_validator("patient_id", mode="before")(_patient_fhir_id)


HookContext = OrderSelectContext | OrderSignContext | MedicationPrescribeContext

_CONTEXT_MODELS: dict[str, type[HookContext]] = {
    "order-select": OrderSelectContext,
    "order-sign": OrderSignContext,
    "medication-prescribe": MedicationPrescribeContext,
}


def _describe(error: ValidationError, prefix: str = "") -> str:
    """Name the first offending field without echoing its value (it could be PHI)."""
    first = error.errors(include_url=False, include_input=False)[0]
    location = prefix + ".".join(str(part) for part in first["loc"])
    location = location.rstrip(".") or "body"
    if first["type"] == "missing":
        return f"Field '{location}' is required."
    if first["type"] == "value_error":
        # Raised by our own model rules, whose messages never contain request data.
        rule = str(first["msg"]).removeprefix("Value error, ")
        return f"Field '{location}' is invalid: {rule}."
    return f"Field '{location}' is invalid."


def parse_hook_request(body: object) -> HookRequest:
    """Validate the envelope or raise a 400 :class:`ProtocolError`."""
    if not isinstance(body, dict):
        raise invalid_request("The request body must be a JSON object.")
    try:
        return HookRequest.model_validate(body)
    except ValidationError as error:
        raise invalid_request(_describe(error)) from None


def parse_context(hook: str, context: dict[str, Any]) -> HookContext:
    """Validate ``context`` against the model of ``hook`` or raise a 400 error."""
    model = _CONTEXT_MODELS[hook]
    try:
        return model.model_validate(context)
    except ValidationError as error:
        raise invalid_request(_describe(error, prefix="context.")) from None


# --- Feedback (CDS Hooks 2.0, "Feedback") -------------------------------------------------

_Short = Annotated[StrictStr, Field(max_length=1024)]
_DATE_START = re.compile(r"\d{4}-\d{2}-\d{2}(?:[Tt ]|$)")


class FeedbackCoding(_Lenient):
    """The override reason Coding the clinician picked from the card's ``overrideReasons``."""

    system: _Short | None = None
    code: _Short | None = None
    display: _Short | None = None


class OverrideReason(_Lenient):
    """Why the clinician overrode a card: a Coding and/or a free-text comment."""

    reason: FeedbackCoding | None = None
    user_comment: Annotated[StrictStr, Field(max_length=10_000)] | None = Field(
        default=None, alias="userComment"
    )


class AcceptedSuggestion(_Lenient):
    """One accepted suggestion, by its ``uuid``."""

    id: Annotated[StrictStr, Field(min_length=1, max_length=255)]


class FeedbackItem(_Lenient):
    """One outcome for one card."""

    card: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    outcome: Literal["accepted", "overridden"]
    accepted_suggestions: list[AcceptedSuggestion] | None = Field(
        default=None, alias="acceptedSuggestions", max_length=100
    )
    override_reason: OverrideReason | None = Field(default=None, alias="overrideReason")
    outcome_timestamp: datetime = Field(alias="outcomeTimestamp")

    @field_validator("outcome_timestamp", mode="before")
    @classmethod
    def _date_time_text(cls, value: object) -> object:
        """An RFC 3339 string, as the spec says: not a number, nor digits read as epoch time."""
        if not isinstance(value, str) or _DATE_START.match(value) is None:
            raise ValueError("outcomeTimestamp must be an ISO 8601 date-time string")
        return value

    @field_validator("outcome_timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        """Store UTC; a timestamp without offset is read as UTC, as the spec requires UTC.

        A moment that has no UTC date in years 1-9999 (``0001-01-01T00:00:00+01:00``) cannot
        be stored or compared: it is refused here, not left to fail later as a 500.
        """
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValueError("outcomeTimestamp is outside the years 1 to 9999 in UTC") from None

    @model_validator(mode="after")
    def _accepted_needs_suggestions(self) -> FeedbackItem:
        if self.outcome == "accepted" and not self.accepted_suggestions:
            raise ValueError("acceptedSuggestions is required for accepted outcomes")
        return self


class FeedbackRequest(_Lenient):
    """The body of ``POST /cds-services/{id}/feedback``."""

    feedback: list[FeedbackItem] = Field(max_length=1000)


def parse_feedback(body: object) -> FeedbackRequest:
    """Validate a feedback body or raise a 400 :class:`ProtocolError`."""
    if not isinstance(body, dict):
        raise invalid_request("The request body must be a JSON object.")
    try:
        return FeedbackRequest.model_validate(body)
    except ValidationError as error:
        raise invalid_request(_describe(error)) from None


__all__ = [
    "DraftBundle",
    "FeedbackItem",
    "FeedbackRequest",
    "HookContext",
    "HookRequest",
    "MedicationPrescribeContext",
    "OrderSelectContext",
    "OrderSignContext",
    "ProtocolError",
    "parse_context",
    "parse_feedback",
    "parse_hook_request",
]
