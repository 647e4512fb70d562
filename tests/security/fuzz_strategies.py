"""Hypothesis strategies for hostile, FHIR-ish CDS Hooks calls.

The shapes are close enough to real calls to get past the envelope checks and reach the
record and clinical layers, and wrong in the ways real integrations and attackers are wrong:
wrong types, nulls, huge numbers, odd unicode, deep nesting, duplicated ids, references to
nothing, huge strings and arrays.

Every strategy is built once at import time: building strategies inside ``@composite``
functions on each draw costs more than the requests themselves.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

SERVICES = {
    "natalizumab-order-select": "order-select",
    "natalizumab-order-sign": "order-sign",
    "natalizumab-medication-prescribe": "medication-prescribe",
}
RESOURCE_TYPES = [
    "Patient",
    "Condition",
    "Observation",
    "MedicationRequest",
    "MedicationStatement",
    "MedicationAdministration",
    "AllergyIntolerance",
    "DiagnosticReport",
    "Procedure",
    "ImagingStudy",
    "Medication",
    "Bundle",
    "OperationOutcome",
    "NotAResource",
]
SYSTEMS = [
    "http://snomed.info/sct",
    "http://hl7.org/fhir/sid/icd-10-cm",
    "http://www.nlm.nih.gov/research/umls/rxnorm",
    "http://loinc.org",
    "http://www.ama-assn.org/go/cpt",
    "https://natalizumab-cds.example/fhir/CodeSystem/ms-findings",
    "urn:nonsense",
]
CODES = [
    "354770",
    "24700007",
    "426373005",
    "425500002",
    "428700003",
    "22255007",
    "86406008",
    "G35",
    "G35.C1",
    "K50.90",
    "A81.2",
    "70553",
    "anti-jcv-antibody",
    "ms-relapse",
    "mri-gd-enhancing-lesions",
    "brain-mri",
    "",
]
TEXTS = ["natalizumab", "TYSABRI", "tyruko", "multiple sclerosis", "relapsing remitting", "PML"]
NATALIZUMAB_CONCEPT = {
    "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "354770"}],
    "text": "natalizumab 300 mg",
}


def mostly(
    valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """``valid`` nine times in ten: enough wrong values without starving the deeper layers."""
    return st.sampled_from((True,) * 9 + (False,)).flatmap(lambda ok: valid if ok else invalid)


def sometimes(strategy: st.SearchStrategy[Any], one_in: int) -> st.SearchStrategy[Any]:
    """A value once in ``one_in`` draws, else the marker ``ABSENT`` (the field is left out)."""
    return st.sampled_from((False,) * (one_in - 1) + (True,)).flatmap(
        lambda present: strategy if present else st.just(ABSENT)
    )


ABSENT = object()

huge_ints = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([2**64, -(2**70), 10**30, 0, -1]),
)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
odd_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\u0000", "\u202e", "😀" * 5, "null", "../../etc/passwd", "{{x}}"]),
    st.sampled_from(TEXTS),
)
huge_text = st.integers(min_value=10_000, max_value=1_200_000).map(lambda n: "x" * n)
scalars = st.one_of(st.none(), st.booleans(), huge_ints, finite_floats, odd_text)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(odd_text, children, max_size=4)
    ),
    max_leaves=10,
)


def _nest(depth: int, as_object: bool) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"a": value} if as_object else [value]
    return value


# Python-level nesting stays below 200 so the test side can still encode it; deeper documents
# (up to 3,000 levels) are built as raw text by ``raw_deep_bodies``.
deep_nesting = st.builds(_nest, st.integers(min_value=1, max_value=190), st.booleans())

dates = st.one_of(
    st.sampled_from(
        ["2025-01-01", "2026-11-01T10:00:00Z", "1900-02-30", "9999-12-31", "yesterday"]
    ),
    st.dates().map(str),
    st.datetimes().map(lambda d: d.isoformat()),
    scalars,
)
ids = st.one_of(st.sampled_from(["dup", "dup", "p1", "1", "", "a" * 100]), odd_text, scalars)

codings = st.fixed_dictionaries(
    {},
    optional={
        "system": mostly(st.sampled_from(SYSTEMS), scalars),
        "code": mostly(st.sampled_from(CODES), scalars),
        "display": mostly(st.sampled_from(TEXTS), scalars),
    },
)
codeable_concepts = mostly(
    st.fixed_dictionaries(
        {"coding": st.lists(codings, max_size=3)},
        optional={"text": mostly(st.sampled_from(TEXTS), scalars)},
    ),
    json_values,
)
references = st.one_of(
    st.fixed_dictionaries(
        {"reference": st.sampled_from(["Patient/p1", "Patient/missing", "Medication/nothing"])}
    ),
    st.fixed_dictionaries({"reference": scalars}),
    scalars,
)
statuses = mostly(
    st.sampled_from(["active", "completed", "final", "entered-in-error", "draft"]), scalars
)
_child_resources = st.deferred(lambda: resources)
RESOURCE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "id": mostly(st.sampled_from(["dup", "1", "2", "p1"]), ids),
    "status": statuses,
    "code": codeable_concepts,
    "medicationCodeableConcept": codeable_concepts,
    "medicationReference": references,
    "subject": references,
    "patient": references,
    "clinicalStatus": codeable_concepts,
    "verificationStatus": codeable_concepts,
    "birthDate": dates,
    "recordedDate": dates,
    "onsetDateTime": dates,
    "effectiveDateTime": dates,
    "issued": dates,
    "authoredOn": dates,
    "valueQuantity": st.fixed_dictionaries(
        {"value": st.one_of(huge_ints, finite_floats, scalars)}, optional={"unit": odd_text}
    ),
    "valueInteger": st.one_of(huge_ints, scalars),
    "valueString": st.one_of(odd_text, huge_text),
    "valueCodeableConcept": codeable_concepts,
    "interpretation": st.lists(codeable_concepts, max_size=2),
    "contained": st.lists(_child_resources, max_size=2),
    "note": st.lists(st.fixed_dictionaries({"text": odd_text}), max_size=2),
    "extension": json_values,
    "entry": st.lists(st.fixed_dictionaries({"resource": _child_resources}), max_size=2),
}
_field_draws = {name: sometimes(strategy, 6) for name, strategy in RESOURCE_FIELDS.items()}


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not ABSENT}


well_formed_resources = st.builds(
    lambda kind, fields: {"resourceType": kind, **_present(fields)},
    mostly(st.sampled_from(RESOURCE_TYPES), scalars),
    st.fixed_dictionaries(_field_draws),
)
resources: st.SearchStrategy[Any] = st.sampled_from(
    ("ok",) * 46 + ("json",) * 3 + ("deep",)
).flatmap(
    lambda kind: {"ok": well_formed_resources, "json": json_values, "deep": deep_nesting}[kind]
)

natalizumab_orders = st.builds(
    lambda base, order_id, status, concept: {
        **base,
        "resourceType": "MedicationRequest",
        "id": order_id,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": concept,
    },
    well_formed_resources,
    mostly(st.sampled_from(["dup", "1", "2"]), ids),
    mostly(st.just("draft"), scalars),
    mostly(st.just(NATALIZUMAB_CONCEPT), codeable_concepts),
)
draft_bundles = st.builds(
    lambda orders: {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": order} for order in orders],
    },
    st.lists(mostly(natalizumab_orders, resources), min_size=1, max_size=4),
)
bundle_oddities = st.one_of(
    st.builds(
        lambda n: {
            "resourceType": "Bundle",
            "entry": [{"resource": {"resourceType": "Basic"}}] * n,
        },
        st.sampled_from([0, 1, 50_001]),
    ),
    resources,
    st.lists(resources, max_size=4),
    st.none(),
    scalars,
)
bundles = mostly(
    st.builds(
        lambda entries: {"resourceType": "Bundle", "type": "searchset", "entry": entries},
        st.lists(mostly(st.fixed_dictionaries({"resource": resources}), scalars), max_size=6),
    ),
    bundle_oddities,
)
selections = mostly(
    st.lists(
        mostly(st.sampled_from(["MedicationRequest/dup", "MedicationRequest/1"]), scalars),
        max_size=3,
    ),
    scalars,
)
PREFETCH_KEYS = ("patient", "conditions", "observations", "medicationRequests", "allergies")
prefetches = st.fixed_dictionaries(
    {
        "patient": mostly(
            st.just({"resourceType": "Patient", "id": "p1", "birthDate": "1990-01-01"}),
            resources,
        ),
        "conditions": bundles,
        "observations": bundles,
        "medicationRequests": bundles,
    },
    optional={"allergies": bundles, "procedures": bundles, "junk-key": json_values},
)
ENVELOPE_EXTRAS: dict[str, st.SearchStrategy[Any]] = {
    "fhirServer": sometimes(st.one_of(st.just("http://127.0.0.1:9/fhir"), scalars), 7),
    "fhirAuthorization": sometimes(
        mostly(st.fixed_dictionaries({"access_token": st.text(min_size=1, max_size=30)}), scalars),
        7,
    ),
    "extension": sometimes(json_values, 7),
}


def _hook_body(hook: str) -> st.SearchStrategy[Any]:
    context_fields: dict[str, st.SearchStrategy[Any]] = {
        "userId": mostly(st.just("Practitioner/1"), scalars),
        "patientId": mostly(st.sampled_from(["p1", "missing"]), ids),
    }
    drafts = mostly(draft_bundles, bundles)
    if hook == "medication-prescribe":
        context_fields["medications"] = drafts
        context_fields["user"] = sometimes(scalars, 2)
    else:
        context_fields["draftOrders"] = drafts
        context_fields["selections"] = (
            selections if hook == "order-select" else sometimes(selections, 5)
        )
    context_fields["extra"] = sometimes(json_values, 7)
    contexts = st.fixed_dictionaries(context_fields).map(_present)
    body = st.builds(
        lambda hook_name, instance, context, prefetch, extras: _present(
            {
                "hook": hook_name,
                "hookInstance": instance,
                "context": context,
                "prefetch": prefetch,
                **extras,
            }
        ),
        mostly(st.just(hook), st.one_of(st.sampled_from(list(SERVICES.values())), scalars)),
        mostly(st.uuids().map(str), scalars),
        mostly(contexts, scalars),
        mostly(prefetches, st.one_of(st.just(ABSENT), scalars)),
        st.fixed_dictionaries(ENVELOPE_EXTRAS),
    )
    return mostly(body, st.one_of(json_values, deep_nesting, huge_text))


HOOK_BODIES = {hook: _hook_body(hook) for hook in SERVICES.values()}

feedback_items = st.fixed_dictionaries(
    {
        "card": mostly(st.uuids().map(str), scalars),
        "outcome": mostly(st.sampled_from(["accepted", "overridden"]), scalars),
        "outcomeTimestamp": mostly(st.just("2026-11-26T01:02:03Z"), dates),
    },
    optional={
        "acceptedSuggestions": mostly(
            st.lists(st.fixed_dictionaries({"id": mostly(st.uuids().map(str), scalars)})),
            scalars,
        ),
        "overrideReason": mostly(
            st.fixed_dictionaries(
                {},
                optional={
                    "reason": mostly(codings, scalars),
                    "userComment": st.one_of(odd_text, huge_text),
                },
            ),
            scalars,
        ),
    },
)
feedback_bodies = mostly(
    st.builds(
        lambda items: {"feedback": items}, mostly(st.lists(feedback_items, max_size=5), scalars)
    ),
    st.one_of(json_values, deep_nesting),
)


def _raw_deep(depth: int, opener: str, where: str) -> bytes:
    if opener == "[":
        inner = "[" * depth + "1" + "]" * depth
    else:
        inner = '{"a":' * depth + "1" + "}" * depth
    if where == "context":
        return f'{{"hook":"order-sign","hookInstance":"x","context":{inner}}}'.encode()
    return (
        '{"hook":"order-sign","hookInstance":"x","context":{"userId":"u","patientId":"p",'
        f'"draftOrders":{{"resourceType":"Bundle","entry":[]}}}},"prefetch":{{"patient":{inner}}}}}'
    ).encode()


#: A call whose ``context`` (or a prefetch value) nests up to 3,000 levels, as raw JSON.
raw_deep_bodies = st.builds(
    _raw_deep,
    st.integers(min_value=60, max_value=3000),
    st.sampled_from(["[", "{"]),
    st.sampled_from(["context", "prefetch"]),
)


def encode(body: Any) -> bytes:
    """Standard-library JSON: unlike orjson it encodes integers beyond 64 bits."""
    return json.dumps(body, allow_nan=False).encode()


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, bytes]:
    """(path, JSON body) of one POST: a service call (mostly) or a feedback post."""
    service_id = draw(mostly(st.sampled_from(list(SERVICES)), st.just("no-such-service")))
    hook = SERVICES.get(service_id, "order-sign")
    choice = draw(st.integers(0, 19))
    if choice == 0:
        return f"/cds-services/{service_id}", draw(raw_deep_bodies)
    if choice <= 4:
        return f"/cds-services/{service_id}/feedback", encode(draw(feedback_bodies))
    return f"/cds-services/{service_id}", encode(draw(HOOK_BODIES[hook]))
