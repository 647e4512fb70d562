"""Which drug a medication record is about (natalizumab history: ``record.therapy``).

Medication can be coded inline (``medicationCodeableConcept``) or by reference to a contained
or pooled ``Medication``; both count (contract section 2).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from cds_service.record.fhir import JSON

#: How a pooled Medication is named: the key of the record's index and the trigger's lookup.
MEDICATION_PREFIX: Final = "Medication/"


class MedicationIndex:
    """Medications by reference, to resolve ``medicationReference``.

    The first copy of an id wins, as in the pool (:mod:`cds_service.protocol.gather`) and in
    the trigger's lookup (:func:`cds_service.record.trigger.pooled_medications`), so the
    record and the trigger read the same Medication. The test is written out here rather than
    shared with that lookup: a function call per pooled resource cost 20 us at N = 200.
    """

    def __init__(self, pooled: Iterable[JSON]) -> None:
        self._by_ref: dict[str, JSON] = {}
        for resource in pooled:
            if resource.get("resourceType") == "Medication" and isinstance(resource.get("id"), str):
                self._by_ref.setdefault(MEDICATION_PREFIX + resource["id"], resource)

    @property
    def by_reference(self) -> Mapping[str, JSON]:
        """``Medication/{id}`` -> Medication: what :func:`pooled_medications` finds in a pool."""
        return self._by_ref

    def concept(self, resource: JSON) -> Any:
        """The medication's CodeableConcept, or None when it cannot be resolved."""
        inline = resource.get("medicationCodeableConcept")
        if inline is not None:
            return inline
        ref = resource.get("medicationReference")
        if not isinstance(ref, dict):
            return None
        target = ref.get("reference")
        medication: JSON | None = None
        if isinstance(target, str) and target.startswith("#"):
            contained = resource.get("contained")
            for candidate in contained if isinstance(contained, list) else ():
                if isinstance(candidate, dict) and candidate.get("id") == target[1:]:
                    medication = candidate
        elif isinstance(target, str):
            medication = self._by_ref.get(relative_reference(target))
        if medication is not None:
            code = medication.get("code")
            if code is not None:
                return code
        display = ref.get("display")
        return {"text": display} if isinstance(display, str) else None


def relative_reference(reference: str) -> str:
    """``Type/id`` from a relative or absolute reference, without any ``_history`` part."""
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    return "/".join(parts[-2:])
