"""Lenient validation: each resource is checked on its own with fhir.resources (R4B).

One malformed resource must never sink the whole call (contract section 1), so validation
answers "keep or skip", and the caller records the skip without any of the resource's content.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import threading
import types
import typing
from collections import OrderedDict
from collections.abc import Mapping
from functools import cache
from typing import Any, Final

import orjson
from pydantic import BaseModel, ValidationError

from cds_service.bounded import BoundedMap

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
    for name in _ELEMENT_MODULES:
        importlib.import_module(f"fhir.resources.R4B.{name}")
    for resource_type in _MODULES:
        model = _model(resource_type)  # the model a call's resource is read against
        _checked_once(model)
        for element in _complex_fields(model).values():
            _checked_once(element)


@cache
def _model(resource_type: str) -> Any:
    module = importlib.import_module(f"fhir.resources.R4B.{_MODULES[resource_type]}")
    return getattr(module, resource_type)


def model_for(resource_type: str) -> Any:
    """The fhir.resources R4B model class of a supported resource type."""
    return _model(resource_type)


def supported(resource_type: str) -> bool:
    return resource_type in _MODULES


def content_digest(canonical: bytes) -> bytes:
    """The key by which a resource's or element's canonical JSON is remembered (16 bytes)."""
    return hashlib.blake2b(canonical, digest_size=16).digest()


#: Most validated complex elements remembered (model instances; the values are patient data,
#: held in this process's memory only and forgotten oldest-first); fewer when
#: ``CDS_RECORD_MEMO_ENTRIES`` is lower, none when it is 0.
ELEMENT_CACHE_ENTRIES: Final = 4096
#: An element longer than this (a narrative, a long note) is validated but not remembered: it
#: rarely repeats, and memory stays bounded by entries x this.
ELEMENT_MAX_BYTES: Final = 2048


@cache
def _checked_once(model: Any) -> Any:
    """A subclass of ``model`` that validates a dict in one pass; used only to show validity.

    fhir.resources' models cost twice what their checks need, and a cold call (a new patient,
    nothing remembered) spends most of its validation there: a model's own ``__init__`` (it
    checks ``resourceType``) makes pydantic validate every model twice, the outer pass running
    its model validators again on the same input; and fhir_core's
    ``reject_null_complex_elements`` asks of every field, on every call, whether it is a list
    of complex elements, its choice check (``value[x]``: one type at most) reads each field's
    schema again, and its check of required primitives looks each one up by alias. The
    subclass keeps pydantic's ``__init__`` and looks only at what the input gave: its lists
    (none holding a null needs no check), the fields it named (pydantic's
    ``__pydantic_fields_set__``) against the model's own list of choices, and the required
    primitives by field name. A list holding a null, a choice given twice or (where required)
    not at all, or a required primitive without a value (an extension may stand in for it) is
    handed to the original check, which decides. What the subclass cannot see, it refuses: a
    ``resourceType`` or ``resource_type`` key is an extra input to it. Whoever uses it
    therefore treats a refusal as "not shown" and asks the original model, which decides and
    describes (:func:`validation_problem`); the test holds the verdicts equal.
    """
    original = model.reject_null_complex_elements.__func__

    def reject_null_complex_elements(cls: Any, data: Any) -> Any:
        if data.__class__ is not dict:
            return original(cls, data)
        for value in data.values():  # a list of any field holding a null: let the check judge
            if value.__class__ is list and any(item is None for item in value):
                return original(cls, data)
        return data

    choices = tuple(
        (
            frozenset(names),
            model.model_fields[names[0]].json_schema_extra["one_of_many_required"] is True,
        )
        for names in model.model_construct().get_one_of_many_fields().values()
    )
    original_choices = model._validate_one_of_many

    def _validate_one_of_many(self: Any) -> None:
        values = self.__dict__  # pydantic keeps every field there, None when not given
        given_fields = self.__pydantic_fields_set__  # the fields the input named
        for names, required in choices:
            given = sum(values[name] is not None for name in names & given_fields)
            if given > 1 or (given == 0 and required):
                original_choices(self)  # raises the model's own error

    aliases = model.get_alias_mapping()
    required_primitives = tuple(
        aliases[name] for name, _ in model.model_construct().get_required_fields()
    )
    original_required = model._validate_required_primitive_elements

    def _validate_required_primitive_elements(self: Any) -> None:
        values = self.__dict__
        for name in required_primitives:
            if values[name] is None:  # an extension may stand in for it: the check decides
                original_required(self)
                return

    namespace = {
        "__module__": __name__,
        "__qualname__": model.__qualname__,
        "__init__": BaseModel.__init__,
        "reject_null_complex_elements": classmethod(reject_null_complex_elements),
        "_validate_one_of_many": _validate_one_of_many,
        "_validate_required_primitive_elements": _validate_required_primitive_elements,
    }
    return type(model.__name__, (model,), namespace)


@cache
def _complex_fields(model: Any) -> dict[str, Any]:
    """JSON name -> element model of each field of ``model`` typed by a FHIR complex type.

    ``contained`` (any resource type) is left out, its model depends on the value, and so
    are the extensions of primitives (``_status``), whose lists hold positional nulls.
    """
    found: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        klass = _element_model(info.annotation)
        key = info.alias or name
        if klass is not None and name != "contained" and not key.startswith("_"):
            found[key] = klass
    return found


def _element_model(annotation: Any) -> Any:
    """The FHIR model behind a field annotation (``X | None``, ``List[X]``), else None."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list):
        for argument in typing.get_args(annotation):
            klass = _element_model(argument)
            if klass is not None:
                return klass
        return None
    getter = getattr(annotation, "get_model_klass", None)
    return getter() if callable(getter) else None


class _ElementCache:
    """Complex elements validated on their own, by model and canonical JSON.

    A record repeats the same codes, categories, units and subject reference in resource
    after resource, and fhir.resources validates each occurrence again (each a model of its
    own, ~20 us). A field validated as a model instance is taken as it is (fhir_core's
    ``fhir_model_validator``), so a resource whose complex elements are replaced by the
    instances validated before checks only what is its own.
    """

    def __init__(self, max_entries: int) -> None:
        self._entries: BoundedMap[tuple[Any, bytes], Any] = BoundedMap(max_entries)

    def instance(self, klass: Any, value: dict[str, Any]) -> Any:
        """The validated instance of ``value``, or None when it is invalid (not remembered)."""
        try:
            canonical = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except (TypeError, orjson.JSONEncodeError):
            return None
        if not self._entries.enabled or len(canonical) > ELEMENT_MAX_BYTES:
            return _validated(_checked_once(klass), value)
        key = (klass, content_digest(canonical))
        known = self._entries.get(key)
        if known is None:
            known = _validated(_checked_once(klass), value)
            if known is not None:
                self._entries.put(key, known)
        return known

    def configure(self, max_entries: int) -> None:
        """Set the bound; forgets everything (0: validate every element, remember none)."""
        self._entries.configure(max_entries)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()


def _validated(klass: Any, value: dict[str, Any]) -> Any:
    try:
        return klass.model_validate(value)
    except Exception:
        return None


ELEMENT_CACHE = _ElementCache(ELEMENT_CACHE_ENTRIES)


def _valid_by_elements(model: Any, resource: Mapping[str, Any]) -> bool:
    """True only if ``resource`` is valid: its complex elements (each validated on its own, or
    remembered) given to the model as instances. False means "not shown": validate whole.

    A list is given as instances only when every item is an object, so the model's own
    checks on raw lists (a null item is refused) still see the raw value otherwise.
    """
    fields = _complex_fields(model)
    prepared: dict[str, Any] = {}
    for key, value in resource.items():
        if key == "resourceType" and value == model.__resource_type__:
            continue  # what the model's own __init__ takes away; the one-pass model has none
        klass = fields.get(key)
        if klass is not None and value.__class__ is dict:
            value = ELEMENT_CACHE.instance(klass, value)
            if value is None:
                return False
        elif (
            klass is not None
            and value.__class__ is list
            and value
            and all(item.__class__ is dict for item in value)
        ):
            items = [ELEMENT_CACHE.instance(klass, item) for item in value]
            if any(item is None for item in items):
                return False
            value = items
        prepared[key] = value
    try:
        _checked_once(model).model_validate(prepared)
    except Exception:
        return False
    return True


def shown_valid(resource_type: str, resource: Mapping[str, Any]) -> bool:
    """True only if ``resource`` is a valid ``resource_type`` (:func:`_valid_by_elements`, the
    one-pass path); False means "not shown": ask the model itself, which also says where."""
    return _valid_by_elements(_model(resource_type), resource)


def validation_problem(resource: Mapping[str, Any]) -> str | None:
    """None when valid; else a description of *where* it is invalid, never of its values.

    A resource shown valid through its remembered elements (:func:`_valid_by_elements`) is
    valid; anything else is validated whole, which decides and describes the problem.
    """
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not supported(resource_type):
        return "unsupported resourceType"
    if _valid_by_elements(_model(resource_type), resource):
        return None
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

    def problem(self, resource: Mapping[str, Any], key: bytes) -> str | None:
        """The verdict on ``resource``, whose :func:`content_digest` is ``key``."""
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
