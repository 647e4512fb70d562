"""CDS Hooks 2.0 cards as typed models, validated before a card leaves the service.

Shaped after HealthChain's response models (``healthchain/models/responses/cdsresponse.py``:
``Card.summary`` limited in length, ``suggestions`` imply ``selectionBehavior``, enums for the
indicator, the link type and the action type) with the contract's stricter rules on top:
a summary of fewer than 140 characters in plain text, ``source.topic`` a Coding, override
reasons on every warning and critical card, and an action's ``resource`` (create, update) or
``resourceId`` (delete). A card that fails here is a defect of the service, never of the
patient's data: ``cards.render`` replaces it with the topic's minimal fallback card.
"""

from __future__ import annotations

import re
import uuid
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from cds_service.knowledge.topics import Indicator

#: Contract section 3: "summary < 140 chars" (CDS Hooks 2.0: "<140 characters").
SUMMARY_MAX = 139

# Plain text, not markdown or HTML: no tag, no emphasis, no code, no link, no line break and no
# block markup at the start. Record text in a summary went through ``markdown.plain`` already.
_NOT_PLAIN = re.compile(r"<[A-Za-z/!?]|\*\*|__|`|\]\(|[\r\n]|^\s*(?:#|>|[-+*]\s)")
_ABSOLUTE_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


def _plain_text(value: str) -> str:
    if _NOT_PLAIN.search(value):
        raise ValueError("the summary must be plain text (no markdown, no HTML, one line)")
    if not value.strip():
        raise ValueError("the summary must not be blank")
    return value


def _uuid(value: str) -> str:
    uuid.UUID(value)
    return value


def _absolute_url(value: str) -> str:
    if not _ABSOLUTE_URL.match(value):
        raise ValueError("a link URL must be an absolute http(s) URL")
    return value


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


NonBlank = Annotated[str, AfterValidator(_non_blank)]
Uuid = Annotated[str, AfterValidator(_uuid)]
PlainSummary = Annotated[str, Field(max_length=SUMMARY_MAX), AfterValidator(_plain_text)]
AbsoluteUrl = Annotated[str, AfterValidator(_absolute_url)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Coding(_Model):
    """The CDS Hooks Coding: a trimmed FHIR Coding."""

    system: NonBlank
    code: NonBlank
    display: NonBlank


class Source(_Model):
    label: NonBlank
    topic: Coding


class LinkType(StrEnum):
    ABSOLUTE = "absolute"
    SMART = "smart"


class Link(_Model):
    label: NonBlank
    url: AbsoluteUrl
    type: LinkType
    appContext: str | None = None

    @model_validator(mode="after")
    def _app_context_needs_smart(self) -> Self:
        if self.appContext is not None and self.type is not LinkType.SMART:
            raise ValueError("appContext is only valid on a SMART link")
        return self


class ActionType(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class Action(_Model):
    type: ActionType
    description: NonBlank
    resource: dict[str, Any] | None = None
    resourceId: str | None = None

    @model_validator(mode="after")
    def _target(self) -> Self:
        if self.type is ActionType.DELETE:
            if not self.resourceId:
                raise ValueError("a delete action needs resourceId")
        elif not self.resource or not isinstance(self.resource.get("resourceType"), str):
            raise ValueError(f"a {self.type.value} action needs a FHIR resource")
        return self


class Suggestion(_Model):
    uuid: Uuid
    label: NonBlank
    isRecommended: bool | None = None
    actions: list[Action] = Field(min_length=1)


class SelectionBehavior(StrEnum):
    AT_MOST_ONE = "at-most-one"
    ANY = "any"


class Card(_Model):
    """One card, in the order of fields the service has always sent."""

    uuid: Uuid
    summary: PlainSummary
    indicator: Indicator
    detail: NonBlank
    source: Source
    suggestions: list[Suggestion] | None = None
    selectionBehavior: SelectionBehavior | None = None
    overrideReasons: list[Coding] | None = None
    links: list[Link] | None = None

    @model_validator(mode="after")
    def _contract_rules(self) -> Self:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("a card with suggestions needs selectionBehavior")
        if self.suggestions is not None and not self.suggestions:
            raise ValueError("suggestions, when present, must not be empty")
        if self.indicator is not Indicator.INFO and not self.overrideReasons:
            raise ValueError("a warning or critical card needs overrideReasons")
        return self

    def wire(self) -> dict[str, Any]:
        """The card as the JSON the EHR receives (absent fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)
