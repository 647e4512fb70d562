"""Find natalizumab orders on the raw JSON of a call, before any validation or gathering.

Contract section 2: the trigger is looked for first, so an order this service has nothing to
say about is answered ``{"cards": []}`` at once, and a natalizumab order is found whatever FHIR
version or shape the EHR uses. The reading is deliberately tolerant: real requests carry
ill-typed neighbours (``coding: [5]``, ``code: []``, ``system: {}``, ``coding`` as an object,
numbers where strings belong) and one of them must never hide the order or raise. Only
strings are ever handed to the value-set matcher.

The work is one pass over the draft orders with no validation and no copies: it runs on every
call, most of which (an EHR firing order-sign for every order) end here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cds_service.record.medications import MEDICATION_PREFIX, relative_reference
from cds_service.record.model import Product
from cds_service.record.terminology import ValueSetMatcher, terminology

JSON = Mapping[str, Any]

#: Order resources by FHIR version: MedicationRequest (R4, STU3), MedicationOrder (DSTU2).
ORDER_TYPES: Final = frozenset({"MedicationRequest", "MedicationOrder"})
NATALIZUMAB_VALUESET: Final = "natalizumab"


@dataclass(frozen=True)
class TriggerScan:
    """What the trigger saw in the orders the hook acts on.

    ``orders`` are the natalizumab orders, as sent. ``unresolved`` are the ids of Medications
    that orders name by reference but that neither the order (``contained``), the pooled data
    nor a ``display`` resolve: they can only be told apart by fetching ``Medication/{id}``.
    """

    orders: tuple[JSON, ...] = ()
    unresolved: tuple[str, ...] = ()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value


def _codings(concept: JSON) -> Iterator[JSON]:
    """The codings of a concept: a list of objects (or, tolerated, a single object)."""
    codings = concept.get("coding")
    if isinstance(codings, dict):
        yield codings
    elif isinstance(codings, list):
        for coding in codings:
            if isinstance(coding, dict):
                yield coding


def concept_matches(concept: Any, matcher: ValueSetMatcher) -> bool:
    """True when a CodeableConcept names a member of ``matcher``, read tolerantly.

    A coding counts by (system, code) when both are strings, and by ``display`` when it is a
    string; the concept's ``text`` counts when it is a string. Anything else is skipped.
    """
    if isinstance(concept, list):  # tolerated: a list of concepts where one belongs
        return any(concept_matches(item, matcher) for item in concept if isinstance(item, dict))
    if not isinstance(concept, dict):
        return False
    for coding in _codings(concept):
        system, code = coding.get("system"), coding.get("code")
        if isinstance(system, str) and isinstance(code, str) and matcher.match_coding(system, code):
            return True
        display = coding.get("display")
        if isinstance(display, str) and matcher.match_text(display):
            return True
    text = concept.get("text")
    return isinstance(text, str) and matcher.match_text(text)


def medication_concepts(medication: JSON) -> Iterator[Any]:
    """The concepts that say what a Medication resource is: its code, then its ingredients."""
    yield medication.get("code")
    ingredients = medication.get("ingredient")
    if isinstance(ingredients, list):
        for ingredient in ingredients:
            if isinstance(ingredient, dict):
                yield ingredient.get("itemCodeableConcept")
                item = ingredient.get("item")  # R5 CodeableReference
                if isinstance(item, dict):
                    yield item.get("concept")


def pooled_medications(values: Iterable[Any]) -> dict[str, JSON]:
    """``Medication/{id}`` -> Medication, from prefetch values and draft orders, read tolerantly.

    A value may be a resource, a Bundle (its entries' resources) or a list of either; the
    first copy of an id wins. Nothing else is walked: a Medication deeper than that is not
    where any EHR puts one.
    """
    found: dict[str, JSON] = {}

    def add(resource: Any) -> None:
        if (
            isinstance(resource, dict)
            and resource.get("resourceType") == "Medication"
            and isinstance(resource.get("id"), str)
        ):
            found.setdefault(MEDICATION_PREFIX + resource["id"], resource)

    def add_entries(bundle: JSON) -> None:
        entries = bundle.get("entry")
        if isinstance(entries, list):
            for entry in entries:
                if isinstance(entry, dict):
                    add(entry.get("resource"))

    for value in values:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if not isinstance(item, dict):
                continue
            if item.get("resourceType") == "Bundle":
                add_entries(item)
            elif "resourceType" in item:
                add(item)
            else:
                add(item.get("resource"))
    return found


def _contained(order: JSON, local_id: str) -> JSON | None:
    contained = order.get("contained")
    if not isinstance(contained, list):
        return None
    for resource in contained:
        if isinstance(resource, dict) and resource.get("id") == local_id:
            return resource
    return None


def _reference_parts(order: JSON) -> Iterator[JSON]:
    """``medicationReference`` (R4, STU3, DSTU2) and R5's ``medication.reference``."""
    reference = order.get("medicationReference")
    if isinstance(reference, dict):
        yield reference
    medication = order.get("medication")
    if isinstance(medication, dict) and isinstance(medication.get("reference"), dict):
        yield medication["reference"]


class _Judge:
    """Decides, per order, natalizumab / not natalizumab / unknown until a Medication is read."""

    def __init__(self, medications: Mapping[str, JSON]) -> None:
        self.matcher = terminology()[NATALIZUMAB_VALUESET]
        self.medications = medications

    def medication_is_natalizumab(self, medication: JSON) -> bool:
        return any(concept_matches(c, self.matcher) for c in medication_concepts(medication))

    def judge(self, order: JSON) -> tuple[bool, list[str]]:
        """(is natalizumab, ids of referenced Medications that could not be resolved)."""
        if concept_matches(order.get("medicationCodeableConcept"), self.matcher):
            return True, []
        medication = order.get("medication")  # R5 CodeableReference
        if isinstance(medication, dict) and concept_matches(
            medication.get("concept"), self.matcher
        ):
            return True, []
        unresolved: list[str] = []
        for reference in _reference_parts(order):
            display = reference.get("display")
            if isinstance(display, str) and self.matcher.match_text(display):
                return True, []
            target = reference.get("reference")
            if not isinstance(target, str) or not target:
                continue
            if target.startswith("#"):
                resolved = _contained(order, target[1:])
            else:
                key = relative_reference(target)
                resolved = self.medications.get(key)
                if resolved is None and key.startswith(MEDICATION_PREFIX):
                    unresolved.append(key.removeprefix(MEDICATION_PREFIX))
            if resolved is not None and self.medication_is_natalizumab(resolved):
                return True, []
        return False, unresolved


def is_order(resource: Any) -> bool:
    if not isinstance(resource, dict):
        return False
    resource_type = resource.get("resourceType")  # may be a list: unhashable, never an order
    return isinstance(resource_type, str) and resource_type in ORDER_TYPES


def _entered_in_error(order: JSON) -> bool:
    return order.get("status") == "entered-in-error"


def scan_orders(orders: Sequence[Any], medications: Mapping[str, JSON]) -> TriggerScan:
    """Natalizumab orders among ``orders`` (raw JSON), and Medications still to be read.

    An order entered in error is ignored (contract section 2). Anything that is not an order
    resource of a known type is not a trigger.
    """
    judge = _Judge(medications)
    found: list[JSON] = []
    unresolved: list[str] = []
    for order in orders:
        if not is_order(order) or _entered_in_error(order):
            continue
        natalizumab, pending = judge.judge(order)
        if natalizumab:
            found.append(order)
        else:
            unresolved.extend(item for item in pending if item not in unresolved)
    return TriggerScan(tuple(found), tuple(unresolved))


def _collect_names(concept: Any, texts: list[str]) -> None:
    """Append the texts and displays of a concept (or a list of them) to ``texts``.

    A module function, not a closure: a nested function that calls itself is a reference
    cycle, left for the collector after every natalizumab call.
    """
    if isinstance(concept, list):
        for item in concept:
            _collect_names(item, texts)
        return
    if not isinstance(concept, dict):
        return
    texts.extend(_strings(concept.get("text")))
    for coding in _codings(concept):
        texts.extend(_strings(coding.get("display")))


def product_name(order: JSON, medications: Mapping[str, JSON]) -> Product:
    """What a card should call the drug: Tyruko, Tysabri, else natalizumab.

    Every string naming the medication (concept texts and displays, reference display, the
    resolved Medication's code) is looked at; the products are told apart by brand name only.
    """
    texts: list[str] = []
    _collect_names(order.get("medicationCodeableConcept"), texts)
    medication = order.get("medication")
    if isinstance(medication, dict):
        _collect_names(medication.get("concept"), texts)
    for reference in _reference_parts(order):
        texts.extend(_strings(reference.get("display")))
        target = reference.get("reference")
        if isinstance(target, str) and target:
            resolved = (
                _contained(order, target[1:])
                if target.startswith("#")
                else medications.get(relative_reference(target))
            )
            if resolved is not None:
                for concept in medication_concepts(resolved):
                    _collect_names(concept, texts)
    joined = " ".join(texts).lower()
    if "tyruko" in joined:
        return Product.TYRUKO
    if "tysabri" in joined:
        return Product.TYSABRI
    return Product.NATALIZUMAB
