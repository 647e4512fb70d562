"""The interop corpus as test cases: published requests, their natalizumab variants, and the
requests the CDS Hooks sandbox builds.

Rules (tests/interop/README.md):

* an original is sent exactly as published; a hook page's example, which is a ``context``
  only, is sent in the smallest envelope that makes it a call (``hook``, ``hookInstance``);
* a natalizumab **variant** differs from its original only in the medication of the first
  order the hook acts on (the selected ones for order-select, all for the others): its
  ``medicationCodeableConcept`` becomes natalizumab (RxNorm 354770), or, for an order that
  names a Medication by reference, that reference's ``display``. An original whose orders
  name no medication has no variant;
* the "with data" run of a variant points ``fhirServer`` at a loopback FHIR stand-in that
  holds the patient of the request (an adult with relapsing-remitting MS, no anti-JCV result
  and no brain MRI), the published servers being unreachable from here.
"""

from __future__ import annotations

import copy
import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.interop.stage_corpus import CORPUS, corpus_file, load_sources, problem_with

REPO_ROOT = Path(__file__).resolve().parents[2]
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SERVICE_BY_HOOK = {
    "order-select": "natalizumab-order-select",
    "order-sign": "natalizumab-order-sign",
    "medication-prescribe": "natalizumab-medication-prescribe",
}
ORDER_TYPES = ("MedicationRequest", "MedicationOrder")
NATALIZUMAB = {
    "coding": [{"system": RXNORM, "code": "354770", "display": "natalizumab"}],
    "text": "natalizumab 300 MG in 15 ML Injection",
}


def corpus_dir() -> Path:
    """The committed corpus, or ``$CDS_INTEROP_CORPUS`` (a refreshed or larger local corpus;
    a ``sources.json`` inside it replaces the committed index)."""
    configured = os.environ.get("CDS_INTEROP_CORPUS")
    return Path(configured) if configured else CORPUS


def corpus_sources(directory: Path) -> list[dict[str, Any]]:
    own_index = directory / "sources.json"
    if directory != CORPUS and own_index.is_file():
        return load_sources(own_index)
    return load_sources()


def corpus_text(directory: Path, source_id: str) -> str:
    return corpus_file(directory, source_id).read_text(encoding="utf-8")


def parse_published(text: str) -> Any:
    """JSON as published. A hook page's block may be a member (``"context": {...}``) rather
    than a document, and the spec's JWT block holds two objects after ``//`` comments."""
    stripped = "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))
    stripped = stripped.strip()
    if stripped.startswith('"'):
        return json.loads("{" + stripped + "}")
    decoder = json.JSONDecoder()
    documents, index = [], 0
    while index < len(stripped):
        document, end = decoder.raw_decode(stripped, index)
        documents.append(document)
        index = end
        while index < len(stripped) and stripped[index].isspace():
            index += 1
    return documents[0] if len(documents) == 1 else documents


def envelope(context_document: dict[str, Any], hook: str) -> dict[str, Any]:
    """A published context as a call: only ``hook`` and ``hookInstance`` added. Hook pages
    publish ``{"context": ...}``; a bare context object (Inferno's fixture) is put under
    ``context``."""
    if "context" not in context_document:
        context_document = {"context": context_document}
    return {"hook": hook, "hookInstance": str(uuid.uuid4()), **context_document}


def _orders_acted_on(context: dict[str, Any], hook: str) -> list[dict[str, Any]]:
    container = context.get("medications") if hook == "medication-prescribe" else None
    if container is None:
        container = context.get("draftOrders")
    entries = container.get("entry", []) if isinstance(container, dict) else container or []
    resources = [e.get("resource", e) if isinstance(e, dict) else None for e in entries]
    orders = [r for r in resources if isinstance(r, dict) and r.get("resourceType") in ORDER_TYPES]
    if hook == "order-select":
        selections = context.get("selections") or []
        orders = [
            o
            for o in orders
            if any(str(s).endswith(f"{o.get('resourceType')}/{o.get('id')}") for s in selections)
        ]
    return orders


def natalizumab_variant(request: dict[str, Any]) -> dict[str, Any] | None:
    """The request with only the first acted-on order's medication swapped to natalizumab."""
    variant = copy.deepcopy(request)
    context = variant.get("context")
    if not isinstance(context, dict):
        return None
    for order in _orders_acted_on(context, str(variant.get("hook"))):
        if "medicationCodeableConcept" in order:
            order["medicationCodeableConcept"] = copy.deepcopy(NATALIZUMAB)
            return variant
        if isinstance(order.get("medicationReference"), dict):
            order["medicationReference"]["display"] = "natalizumab (Tysabri)"
            return variant
    return None


def patient_id_of(request: dict[str, Any]) -> str:
    patient = str(request.get("context", {}).get("patientId", ""))
    return patient.removeprefix("Patient/")


def stand_in_resources(patient_id: str) -> list[dict[str, Any]]:
    """What the loopback FHIR stand-in holds for the request's patient."""
    subject = {"reference": f"Patient/{patient_id}"}
    return [
        {"resourceType": "Patient", "id": patient_id, "birthDate": "1983-06-14"},
        {
            "resourceType": "Condition",
            "id": f"rrms-{abs(hash(patient_id)) % 10_000}",
            "subject": subject,
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "active",
                    }
                ]
            },
            "code": {
                "coding": [
                    {
                        "system": "http://snomed.info/sct",
                        "code": "426373005",
                        "display": "Relapsing remitting multiple sclerosis",
                    }
                ]
            },
            "recordedDate": "2019-02-01",
        },
    ]


@dataclass(frozen=True)
class Case:
    """One request to send and what the contract demands for it."""

    id: str
    source: str  # the repository the request comes from
    body: Any  # the JSON to send, or bytes when the published text is not JSON
    service: str
    expect_status: int
    natalizumab: bool = False
    with_data: bool = False
    client: str = "sandbox"  # whose token construction the call uses: sandbox | inferno | spec
    provenance: dict[str, Any] = field(default_factory=dict)
    # For a natalizumab case: the one indication card the data implies, and the cards that
    # must (and must not) come with it.
    indication: str = "natalizumab-indicated"
    with_topics: frozenset[str] = frozenset({"jcv-test-due", "mri-due"})
    without_topics: frozenset[str] = frozenset()
    # (topic, text) pairs: the detail of that card must contain the text.
    notes: tuple[tuple[str, str], ...] = ()


def _service_for(request: Any, item: dict[str, Any]) -> str:
    """The service of the request's hook; a hook that is not ours goes to order-sign."""
    hook = request.get("hook") if isinstance(request, dict) else item.get("hook")
    default = SERVICE_BY_HOOK["order-sign"]
    return SERVICE_BY_HOOK.get(hook, default) if isinstance(hook, str) else default


def _client_for(repo: str) -> str:
    return "inferno" if repo.startswith(("inferno-framework/", "HL7-DaVinci/")) else "sandbox"


def published_requests(corpus: Path) -> Iterator[tuple[dict[str, Any], Any]]:
    """(source item, request) for every request or context in ``sources.json``.

    A published text that is not JSON at all is yielded as the bytes to send (for a
    context: inside the same minimal envelope, as text).
    """
    for item in corpus_sources(corpus):
        if item["role"] not in ("request", "context") or problem_with(corpus, item) is not None:
            continue  # a missing or changed file fails test_corpus_file_is_as_published
        text = corpus_text(corpus, item["id"])
        try:
            document = parse_published(text)
        except json.JSONDecodeError:
            if item["role"] == "context":
                head = json.dumps({"hook": item["hook"], "hookInstance": str(uuid.uuid4())})
                yield item, (head[:-1] + ", " + text + "}").encode()
            else:
                yield item, text.encode()
            continue
        request = envelope(document, item["hook"]) if item["role"] == "context" else document
        yield item, request


def fragment(corpus: Path, source_id: str) -> Any:
    return parse_published(corpus_text(corpus, source_id))


def cases(corpus: Path, stand_in_url: str) -> list[Case]:
    """Every original (as published and without prefetch), and every natalizumab variant
    (as published: its data unobtainable -> 412; and with the stand-in -> cards)."""
    found: list[Case] = []
    for item, request in published_requests(corpus):
        service, client = _service_for(request, item), _client_for(item["repo"])
        provenance: dict[str, Any] = {k: item[k] for k in ("repo", "path", "commit") if k in item}
        if "block" in item:
            provenance["block"] = item["block"]
        common: dict[str, Any] = {"service": service, "client": client, "provenance": provenance}
        found.append(
            Case(item["id"], item["repo"], request, expect_status=item["expect"], **common)
        )
        if not isinstance(request, dict):
            continue
        if isinstance(request.get("prefetch"), dict):
            stripped = {k: v for k, v in request.items() if k != "prefetch"}
            found.append(
                Case(
                    f"{item['id']}~no-prefetch",
                    item["repo"],
                    stripped,
                    expect_status=item["expect"],
                    **common,
                )
            )
        variant = natalizumab_variant(request) if item["expect"] == 200 else None
        if variant is None:
            continue
        found.append(
            Case(
                f"{item['id']}~natalizumab",
                item["repo"],
                variant,
                expect_status=412,
                natalizumab=True,
                **common,
            )
        )
        with_data = copy.deepcopy(variant) | {"fhirServer": stand_in_url}
        found.append(
            Case(
                f"{item['id']}~natalizumab~with-data",
                item["repo"],
                with_data,
                expect_status=200,
                natalizumab=True,
                with_data=True,
                **common,
            )
        )
    return found


def sanitise_id(case_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.~-]", "_", case_id)


# --- Oracle Health (Cerner) resources in the request shapes of a CDS Client ---------------

CERNER = "cerner/fhir.cerner.com"


def corpus_resource(corpus: Path, source_id: str) -> Any:
    return json.loads(corpus_text(corpus, source_id))


def _cerner_provenance(corpus: Path, *source_ids: str) -> dict[str, Any]:
    by_id = {item["id"]: item for item in corpus_sources(corpus)}
    return {
        source_id: {k: by_id[source_id][k] for k in ("repo", "path", "commit", "convert")}
        for source_id in source_ids
    }


def cerner_cases(corpus: Path, stand_in_url: str) -> list[Case]:
    """Oracle Health's published R4 examples as a CDS Client sends them.

    The draft order is Cerner's MedicationRequest example exactly as published (an active
    acetaminophen order; its ``subject`` gives the patient), in the smallest order-sign and
    order-select requests that carry it. Cerner's Condition, Observation and MedicationRequest
    searchsets are the prefetch, as published, with the stand-in's Patient (Cerner publishes
    no Patient as JSON). The natalizumab variants swap only the order's
    ``medicationCodeableConcept``. Cerner's conditions record no MS (a resolved pregnancy,
    anaemia, a health concern), so with them the indication card is ``no-approved-indication``
    and there is no ``mri-due`` (MS or CIS only); with the stand-in's data (RRMS) it is
    ``natalizumab-indicated``. Cerner's second Observation searchset has a ``next`` link to
    its own server, which cannot be read from here: ``jcv-test-due`` (whose facts come from
    ``observations``) must say that key was read only in part.
    """
    needed = {
        "order": "cerner-r4-medication-request-order",
        "conditions": "cerner-r4-condition-bundle",
        "conditions-bare": "cerner-r4-patient-condition-bundle",
        "observations": "cerner-r4-observation-bundle",
        "observations-paged": "cerner-r4-observation-patient-bundle",
        "medicationRequests": "cerner-r4-medication-request-bundle",
    }
    items = {item["id"]: item for item in corpus_sources(corpus)}
    if any(i not in items or problem_with(corpus, items[i]) is not None for i in needed.values()):
        return []  # test_corpus_file_is_as_published fails for the missing or changed file
    order = corpus_resource(corpus, needed["order"])
    patient_id = str(order["subject"]["reference"]).removeprefix("Patient/")
    patient = stand_in_resources(patient_id)[0]
    paged_note = ("jcv-test-due", "Read only in part for this assessment: observations (")
    prefetch_sets = {  # name: (conditions, observations, notes)
        "cerner-data": ("conditions", "observations", ()),
        "bare-entries": ("conditions-bare", "observations", ()),
        "paged-observations": ("conditions", "observations-paged", (paged_note,)),
    }
    found: list[Case] = []
    for hook in ("order-sign", "order-select"):
        context: dict[str, Any] = {
            "userId": order["requester"]["reference"],
            "patientId": patient_id,
            "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": order}]},
        }
        if hook == "order-select":
            context["selections"] = [f"MedicationRequest/{order['id']}"]
        request = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
        name = f"cerner-{hook}"
        service = SERVICE_BY_HOOK[hook]
        for suffix, (conditions, observations, notes) in prefetch_sets.items():
            prefetch = {
                "patient": patient,
                "conditions": corpus_resource(corpus, needed[conditions]),
                "observations": corpus_resource(corpus, needed[observations]),
                "medicationRequests": corpus_resource(corpus, needed["medicationRequests"]),
            }
            used = (needed["order"], needed[conditions], needed[observations])
            provenance = _cerner_provenance(corpus, *used, needed["medicationRequests"])
            common: dict[str, Any] = {"service": service, "provenance": provenance}
            with_prefetch = request | {"prefetch": prefetch}
            variant = natalizumab_variant(with_prefetch)
            assert variant is not None
            found += [
                Case(f"{name}~{suffix}", CERNER, with_prefetch, expect_status=200, **common),
                Case(
                    f"{name}~{suffix}~natalizumab",
                    CERNER,
                    variant,
                    expect_status=200,
                    natalizumab=True,
                    with_data=True,
                    indication="no-approved-indication",
                    with_topics=frozenset({"jcv-test-due"}),
                    without_topics=frozenset({"mri-due", "pregnancy"}),
                    notes=notes,
                    **common,
                ),
            ]
        common = {"service": service, "provenance": _cerner_provenance(corpus, needed["order"])}
        variant = natalizumab_variant(request)
        assert variant is not None
        found += [
            Case(name, CERNER, request, expect_status=200, **common),
            Case(
                f"{name}~natalizumab",
                CERNER,
                variant,
                expect_status=412,
                natalizumab=True,
                **common,
            ),
            Case(
                f"{name}~natalizumab~with-data",
                CERNER,
                variant | {"fhirServer": stand_in_url},
                expect_status=200,
                natalizumab=True,
                with_data=True,
                **common,
            ),
        ]
    return found
