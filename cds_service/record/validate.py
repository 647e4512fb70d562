"""Lenient validation: each resource is checked on its own with fhir.resources (R4B).

One malformed resource must never sink the whole call (contract section 1), so validation
answers "keep or skip", and the caller records the skip without any of the resource's content.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import ValidationError

logger = logging.getLogger("cds_service.record")

# Only types the rules read are validated; the module names follow fhir.resources' layout.
_MODULES = {
    "Patient": "patient",
    "Condition": "condition",
    "Observation": "observation",
    "MedicationRequest": "medicationrequest",
    "MedicationStatement": "medicationstatement",
    "MedicationAdministration": "medicationadministration",
    "Medication": "medication",
    "AllergyIntolerance": "allergyintolerance",
    "DiagnosticReport": "diagnosticreport",
    "ImagingStudy": "imagingstudy",
    "Procedure": "procedure",
}


# Element types fhir.resources imports lazily on first use; importing them at start-up keeps
# the first call after a deploy as fast as the others.
_ELEMENT_MODULES = (
    "address",
    "age",
    "annotation",
    "attachment",
    "codeableconcept",
    "coding",
    "contactpoint",
    "dosage",
    "duration",
    "extension",
    "humanname",
    "identifier",
    "meta",
    "narrative",
    "period",
    "quantity",
    "range",
    "ratio",
    "reference",
    "timing",
)


def preload_models() -> None:
    for resource_type in _MODULES:
        _model(resource_type)
    for name in _ELEMENT_MODULES:
        importlib.import_module(f"fhir.resources.R4B.{name}")


@cache
def _model(resource_type: str) -> Any:
    module = importlib.import_module(f"fhir.resources.R4B.{_MODULES[resource_type]}")
    return getattr(module, resource_type)


def model_for(resource_type: str) -> Any:
    """The fhir.resources R4B model class of a supported resource type."""
    return _model(resource_type)


def supported(resource_type: str) -> bool:
    return resource_type in _MODULES


def validation_problem(resource: Mapping[str, Any]) -> str | None:
    """None when valid; else a description of *where* it is invalid, never of its values."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not supported(resource_type):
        return "unsupported resourceType"
    try:
        _model(resource_type).model_validate(resource)
    except ValidationError as error:
        locations = sorted({".".join(str(p) for p in e["loc"][:3]) for e in error.errors()})
        return f"invalid at {', '.join(locations[:5])}"
    except Exception as error:
        # fhir.resources can raise anything on hostile input (e.g. KeyError for a contained
        # resource of an unknown resourceType); any failure means "invalid", never a 500.
        return f"invalid ({type(error).__name__})"
    return None


class ValidationCache:
    """Remembers verdicts by a digest of the resource's canonical JSON.

    An EHR sends the same patient's resources again and again (order-select, then order-sign,
    then the next order), and model validation is the costliest step per relevant resource.
    Keys are content digests, so a changed resource is always validated afresh; only the
    digest and the verdict are kept, never patient data.
    """

    def __init__(self, max_entries: int = 50_000) -> None:
        self._entries: OrderedDict[bytes, str | None] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def problem(self, resource: Mapping[str, Any], canonical: bytes) -> str | None:
        key = hashlib.blake2b(canonical, digest_size=16).digest()
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        verdict = validation_problem(resource)
        with self._lock:
            self._entries[key] = verdict
            if len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return verdict

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


VALIDATION_CACHE = ValidationCache()
