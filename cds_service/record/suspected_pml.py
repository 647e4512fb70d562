"""Suspected PML: a provisional or differential PML diagnosis, or JC virus DNA detected.

The boxed warning's first instruction is to withhold natalizumab "at the first sign or symptom
suggestive of PML", so a PML that is not (yet) confirmed must not wait for confirmation to
reach the prescriber (contract section 2).
"""

from __future__ import annotations

from cds_service.record.fhir import JSON, codes_of, number
from cds_service.record.jcv import qualitative
from cds_service.record.model import JcvStatus
from cds_service.record.terminology import Terminology

SUSPECTED_VERIFICATION = frozenset({"provisional", "differential"})


def is_suspected(condition: JSON) -> bool:
    """A PML Condition whose diagnosis is provisional or a differential, not confirmed."""
    return bool(codes_of(condition.get("verificationStatus")) & SUSPECTED_VERIFICATION)


def jcv_dna_detected(observation: JSON, tm: Terminology) -> bool:
    """Positive or detected; a copy number above zero is detected unless it is a "<" bound."""
    reading = qualitative(observation, tm)
    if reading is not None:
        return reading is JcvStatus.POSITIVE
    quantity = observation.get("valueQuantity")
    if not isinstance(quantity, dict) or quantity.get("comparator") in {"<", "<="}:
        return False
    value = number(quantity.get("value"))
    return value is not None and value > 0
