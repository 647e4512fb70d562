"""Small, defensive readers for raw FHIR JSON (already validated, but kept total anyway)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

JSON = Mapping[str, Any]

EXCLUDED_VERIFICATION = frozenset({"refuted", "entered-in-error"})


def reference_of(resource: JSON) -> str:
    rtype = resource.get("resourceType", "Resource")
    rid = resource.get("id")
    return f"{rtype}/{rid}" if isinstance(rid, str) and rid else f"{rtype}/(no id)"


def text_of(value: Any) -> str | None:
    """``value`` if it is a string, else None: a status of another type reads as absent."""
    return value if isinstance(value, str) else None


def codes_of(concept: Any) -> set[str]:
    if not isinstance(concept, dict):
        return set()
    codings = concept.get("coding")
    if not isinstance(codings, list):
        return set()
    return {c["code"] for c in codings if isinstance(c, dict) and isinstance(c.get("code"), str)}


def is_excluded(resource: JSON) -> bool:
    """Refuted or entered-in-error records are ignored everywhere (contract section 2)."""
    if text_of(resource.get("status")) == "entered-in-error":
        return True
    return bool(codes_of(resource.get("verificationStatus")) & EXCLUDED_VERIFICATION)


def clinical_status(resource: JSON) -> str | None:
    codes = codes_of(resource.get("clinicalStatus"))
    return next(iter(sorted(codes)), None) if codes else None


def concept_name(concept: Any) -> str:
    """How the record itself names a concept: its text, else the first display, else ""."""
    if not isinstance(concept, dict):
        return ""
    text = concept.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    codings = concept.get("coding")
    if isinstance(codings, list):
        for coding in codings:
            if isinstance(coding, dict) and isinstance(coding.get("display"), str):
                return str(coding["display"]).strip()
    return ""


def concept_label(concept: Any) -> str:
    """How the record names a concept: its text, else the first display, else a code."""
    name = concept_name(concept)
    if name or not isinstance(concept, dict):
        return name
    codings = concept.get("coding")
    if isinstance(codings, list):
        for coding in codings:
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                return f"{text_of(coding.get('system')) or ''} {coding['code']}".strip()
    return ""


def concepts(value: Any) -> Iterable[Any]:
    """A CodeableConcept or a list of them, as an iterable."""
    if isinstance(value, list):
        return value
    return [value] if value is not None else []


def number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None
