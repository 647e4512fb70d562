"""Read a natalizumab order of any FHIR version leniently, and say which parts could not be read.

Contract section 1: a natalizumab order is never skipped. CDS Hooks 1.0 clients send STU3
``MedicationRequest`` or DSTU2 ``MedicationOrder`` shapes (``dosage.doseQuantity``,
``category`` as an object, no ``intent``, ``dateWritten``, ``patient``, ``prescriber``,
``dosageInstruction.timing`` variants). They are mapped onto R4 names here (a shallow view:
nothing of the EHR's JSON is changed or deep-copied) and then checked with the same R4B
models as every other resource. The fields that still fail are *named* (never their values:
they could be PHI) so the cards can say what was not read, and left out of the view.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson
from pydantic import ValidationError

from cds_service.record.validate import model_for, shown_valid

JSON = Mapping[str, Any]

#: A resource-level rule failed (e.g. two ``medication[x]`` choices): no single field to name.
WHOLE_ORDER: Final = "the order's overall structure"

#: DSTU2/STU3 dosage elements that R4 moved under ``doseAndRate``.
_DOSE_AND_RATE: Final = (
    "doseQuantity",
    "doseRange",
    "doseSimpleQuantity",
    "rateRatio",
    "rateRange",
    "rateQuantity",
    "rateSimpleQuantity",
)


@dataclass(frozen=True)
class OrderReading:
    """An order as the engine may read it, and the fields of the original that it could not."""

    view: dict[str, Any]
    unread: tuple[str, ...]


#: DSTU2/STU3 ``Timing.repeat`` names that R4 renamed.
_REPEAT_RENAMES: Final = {
    "periodUnits": "periodUnit",
    "durationUnits": "durationUnit",
    "boundsQuantity": "boundsDuration",
}


def _timing(timing: Any) -> Any:
    """A Timing with DSTU2/STU3 ``repeat`` variants under their R4 names."""
    if not isinstance(timing, dict) or not isinstance(timing.get("repeat"), dict):
        return timing
    repeat = dict(timing["repeat"])
    for old, new in _REPEAT_RENAMES.items():
        if old in repeat and new not in repeat:
            repeat[new] = repeat.pop(old)
    if isinstance(repeat.get("when"), str):  # DSTU2: one code; R4: a list
        repeat["when"] = [repeat["when"]]
    return {**timing, "repeat": repeat}


def _dosage(item: Any) -> Any:
    """One dosage instruction under R4 names: dose and rate in ``doseAndRate``, timing."""
    if not isinstance(item, dict):
        return item
    view = {key: value for key, value in item.items() if key not in _DOSE_AND_RATE}
    entry: dict[str, Any] = {}
    for key in _DOSE_AND_RATE:
        if key in item:
            target = {"doseSimpleQuantity": "doseQuantity", "rateSimpleQuantity": "rateQuantity"}
            entry.setdefault(target.get(key, key), item[key])
    if entry:
        view["doseAndRate"] = [entry]
    if isinstance(item.get("additionalInstructions"), dict):  # DSTU2 singular
        view["additionalInstruction"] = [view.pop("additionalInstructions")]
    if "siteCodeableConcept" in item:  # DSTU2 site[x]
        view["site"] = view.pop("siteCodeableConcept")
    if "timing" in item:
        view["timing"] = _timing(item["timing"])
    return view


def r4_view(order: JSON) -> dict[str, Any]:
    """The order under R4 names: a new top-level dict, the EHR's nested values shared."""
    view = dict(order)
    if view.get("resourceType") == "MedicationOrder":  # DSTU2
        view["resourceType"] = "MedicationRequest"
    renames = {
        "patient": "subject",  # DSTU2
        "dateWritten": "authoredOn",  # DSTU2
        "prescriber": "requester",  # DSTU2
        "context": "encounter",  # STU3
    }
    for old, new in renames.items():
        if old in view and new not in view:
            view[new] = view.pop(old)
    requester = view.get("requester")
    if isinstance(requester, dict) and isinstance(requester.get("agent"), dict):  # STU3
        view["requester"] = requester["agent"]
    if "intent" not in view:  # DSTU2 has none; a draft order is an order being written
        view["intent"] = "order"
    if isinstance(view.get("category"), dict):  # STU3 single category
        view["category"] = [view["category"]]
    if isinstance(view.get("reasonCodeableConcept"), dict):  # DSTU2 reason[x]
        view["reasonCode"] = [view.pop("reasonCodeableConcept")]
    if isinstance(view.get("reasonReference"), dict):
        view["reasonReference"] = [view["reasonReference"]]
    if isinstance(view.get("note"), str):  # DSTU2 note is a string
        view["note"] = [{"text": view["note"]}]
    dosage = view.get("dosageInstruction")
    if isinstance(dosage, dict):
        dosage = [dosage]
    if isinstance(dosage, list):
        view["dosageInstruction"] = [_dosage(item) for item in dosage]
    return view


#: Verdicts of order views by content digest (the same draft is read on every call of a
#: session: order-select, then order-sign); only digests and field names are kept.
_VERDICTS: dict[bytes, tuple[str, ...] | None] = {}
_MAX_VERDICTS: Final = 4096


def _digest(view: JSON) -> bytes:
    try:
        canonical = orjson.dumps(view, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):  # e.g. integers beyond 64 bits
        canonical = json.dumps(view, sort_keys=True, default=repr).encode()
    return hashlib.blake2b(canonical, digest_size=16).digest()


def _failing_fields(view: JSON) -> list[str] | None:
    """Top-level fields of ``view`` that fail R4B validation; ``None`` when it is valid.

    Remembered by the view's content digest: validating an order costs more than the rest of
    reading it.
    """
    key = _digest(view)
    if key in _VERDICTS:
        known = _VERDICTS[key]
        return None if known is None else list(known)
    verdict = _validate_order(view)
    if len(_VERDICTS) >= _MAX_VERDICTS:
        _VERDICTS.clear()
    _VERDICTS[key] = None if verdict is None else tuple(verdict)
    return verdict


def _validate_order(view: JSON) -> list[str] | None:
    # The one-pass path first: a new draft (a new patient's first call) otherwise costs a
    # whole fhir.resources validation (~235 us for the bench's order, ~46 us this way,
    # bench/README.md). Only "valid" is taken from it; whatever it does not show valid is
    # judged and named below.
    if shown_valid("MedicationRequest", view):
        return None
    try:
        model_for("MedicationRequest").model_validate(view)
    except ValidationError as error:
        fields: list[str] = []
        for problem in error.errors(include_url=False, include_input=False):
            location = problem["loc"]
            name = str(location[0]) if location else WHOLE_ORDER
            if name not in fields:
                fields.append(name)
        return fields
    except Exception:
        # fhir.resources can raise anything on hostile input; the order is still an order.
        return [WHOLE_ORDER]
    return None


def read_order(order: JSON) -> OrderReading:
    """The order as R4, minus the fields that cannot be read, and the names of those fields.

    Fields the order lacks are not reported (a draft may not have them yet); only fields
    present with a value the service cannot read are, under the EHR's own name. The view is
    validated again without them (bounded), since one field's rule can involve another.
    """
    view = r4_view(order)
    unread: list[str] = []
    for attempt in range(3):
        failing = _failing_fields(view)
        if not failing:
            break
        removable = [name for name in failing if name in view and name != "resourceType"]
        if not removable:
            # A cross-field rule of the order as sent; after removals it only means that a
            # required field is now absent, which is not a part that could not be read.
            if attempt == 0 and WHOLE_ORDER in failing:
                unread.append(WHOLE_ORDER)
            break
        for name in removable:
            view.pop(name)
            original = _original_name(order, name)
            if original is not None and original not in unread:
                unread.append(original)
    return OrderReading(view, tuple(unread))


_ORIGINAL_NAMES: Final = {
    "subject": ("subject", "patient"),
    "authoredOn": ("authoredOn", "dateWritten"),
    "requester": ("requester", "prescriber"),
    "encounter": ("encounter", "context"),
    "reasonCode": ("reasonCode", "reasonCodeableConcept"),
}


def _original_name(order: JSON, name: str) -> str | None:
    """The order's own name for an R4 field of the view (``dateWritten`` for ``authoredOn``)."""
    for original in _ORIGINAL_NAMES.get(name, (name,)):
        if original in order:
            return original
    return None
