"""Collect the FHIR data of one hook call: prefetch, draft orders, and fetches for gaps.

Contract section 2: every resource found in prefetch (whatever key holds it) and in the
draft orders is pooled; a declared key that is *absent* is fetched from ``fhirServer`` when
that server is allow-listed; ``null`` means "the EHR has no such data" and is not fetched.
The pooling is structural only: resources stay raw JSON and the record layer validates
each one leniently, so one bad resource cannot sink the call.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

from cds_service.config import Settings
from cds_service.protocol.allowlist import is_allowed_fhir_server
from cds_service.protocol.errors import PREFETCH_UNAVAILABLE, ProtocolError
from cds_service.protocol.fhir_client import FetchError, FhirFetcher, timed_fetch
from cds_service.protocol.models import (
    DraftBundle,
    HookContext,
    HookRequest,
    OrderSelectContext,
    OrderSignContext,
)
from cds_service.protocol.services import PATIENT_TOKEN, PREFETCH, REQUIRED_PREFETCH

Resource = dict[str, Any]

_FHIR_ID: Final = re.compile(r"[A-Za-z0-9\-.]{1,64}")

FetchObserver = Callable[[str, float, str | None], None]
"""Called once per fetched key with (key, seconds, failure reason or None), for metrics."""


@dataclass(frozen=True)
class GatheredData:
    """What the web layer hands to the engine, plus counters for logs and metrics."""

    resources: tuple[Resource, ...]
    trigger_orders: tuple[Resource, ...]
    draft_orders: tuple[Resource, ...]
    unavailable: frozenset[str]
    patient_id: str
    skipped_entries: int = 0
    fetched_keys: tuple[str, ...] = ()
    fetch_failures: Mapping[str, str] = field(default_factory=dict)
    fetch_seconds: Mapping[str, float] = field(default_factory=dict)


class ResourcePool:
    """Flat, de-duplicated list of raw resources, with a count of unusable entries.

    Duplicates (same ``resourceType`` and ``id``) keep the first copy seen; draft orders are
    added first so that the order being written wins over a stored copy of it.
    """

    def __init__(self) -> None:
        self.resources: list[Resource] = []
        self.skipped = 0
        self._seen: set[tuple[str, str]] = set()

    def add_resource(self, resource: Resource) -> None:
        kind, ident = resource.get("resourceType"), resource.get("id")
        if isinstance(kind, str) and isinstance(ident, str):
            if (kind, ident) in self._seen:
                return
            self._seen.add((kind, ident))
        self.resources.append(resource)

    def add_value(self, value: Any) -> None:
        """Pool a prefetch value or fetched page: a resource, a Bundle, a list, or null."""
        if value is None:
            return
        if isinstance(value, list):
            for item in value:
                self._add_item(item)
        elif isinstance(value, dict):
            if value.get("resourceType") == "Bundle":
                for resource in bundle_resources(value, self):
                    self.add_resource(resource)
            else:
                self.add_resource(value)
        else:
            self.skipped += 1

    def _add_item(self, item: Any) -> None:
        resource = _entry_resource(item)
        if resource is None:
            self.skipped += 1
        else:
            self.add_resource(resource)


def _entry_resource(item: Any) -> Resource | None:
    """A bare resource, or the ``resource`` of a Bundle entry; ``None`` if neither."""
    if not isinstance(item, dict):
        return None
    if "resourceType" in item:
        return item
    resource = item.get("resource")
    return resource if isinstance(resource, dict) else None


def bundle_resources(bundle: Mapping[str, Any], pool: ResourcePool) -> list[Resource]:
    """The resources of a Bundle's entries; unusable entries are counted on ``pool``."""
    entries = bundle.get("entry")
    if entries is None:
        return []
    if not isinstance(entries, list):
        pool.skipped += 1
        return []
    found: list[Resource] = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict):
            found.append(resource)
        else:
            pool.skipped += 1
    return found


def draft_resources(context: HookContext, pool: ResourcePool) -> list[Resource]:
    """The orders in ``draftOrders`` (or ``medications``), in the order the EHR sent them."""
    if isinstance(context, OrderSignContext):  # also OrderSelectContext
        container: DraftBundle | list[Any] = context.draft_orders
    else:
        container = context.medications
    if isinstance(container, DraftBundle):
        items: Iterable[Any] = container.entry or []
    else:
        items = container
    drafts: list[Resource] = []
    for item in items:
        resource = _entry_resource(item)
        if resource is None:
            pool.skipped += 1
        else:
            drafts.append(resource)
    return drafts


def _reference(resource: Resource) -> str | None:
    kind, ident = resource.get("resourceType"), resource.get("id")
    if isinstance(kind, str) and isinstance(ident, str):
        return f"{kind}/{ident}"
    return None


def select_triggers(context: HookContext, drafts: Sequence[Resource]) -> list[Resource]:
    """The orders the hook acts on: the selected ones for order-select, else all of them.

    ``selections`` hold relative references (``MedicationRequest/103``); an absolute URL
    ending in the same ``Type/id`` is accepted too.
    """
    if not isinstance(context, OrderSelectContext):
        return list(drafts)
    wanted = set(context.selections)
    chosen: list[Resource] = []
    for resource in drafts:
        reference = _reference(resource)
        if reference is None:
            continue
        if reference in wanted or any(item.endswith(f"/{reference}") for item in wanted):
            chosen.append(resource)
    return chosen


def _is_operation_outcome(value: Any) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"


def _can_fetch(request: HookRequest, patient_id: str, settings: Settings) -> bool:
    """Fetching needs an allow-listed ``fhirServer`` and a patient id that is a FHIR id."""
    server = request.fhir_server
    return (
        server is not None
        and is_allowed_fhir_server(server, settings.allowed_fhir_servers)
        and _FHIR_ID.fullmatch(patient_id) is not None
        and patient_id not in {".", ".."}
    )


def _precondition_failed(keys: Iterable[str]) -> ProtocolError:
    names = ", ".join(sorted(keys))
    return ProtocolError(
        412,
        PREFETCH_UNAVAILABLE,
        f"Required data ({names}) was neither prefetched nor obtainable from fhirServer.",
    )


async def gather(
    request: HookRequest,
    context: HookContext,
    settings: Settings,
    fetcher: FhirFetcher | None,
    on_fetch: FetchObserver | None = None,
) -> GatheredData:
    """Pool prefetch and draft orders, fetch absent keys, and pick the trigger orders.

    Raises a 412 :class:`ProtocolError` when a required key is absent and cannot be fetched
    (no or non-allow-listed ``fhirServer``, unreachable, an error answer, or too large).
    """
    pool = ResourcePool()
    drafts = draft_resources(context, pool)
    for draft in drafts:
        pool.add_resource(draft)

    prefetch = request.prefetch or {}
    absent: list[str] = []
    refused: set[str] = set()  # the EHR reported (OperationOutcome) that it could not prefetch
    for key in PREFETCH:
        if key not in prefetch:
            absent.append(key)
        elif _is_operation_outcome(prefetch[key]):
            refused.add(key)
        elif not isinstance(prefetch[key], dict | list) and prefetch[key] is not None:
            pool.skipped += 1
            absent.append(key)
    for key, value in prefetch.items():
        if key in PREFETCH and (key in refused or key in absent):
            continue
        pool.add_value(value)

    patient_id = context.patient_id
    fetchable = fetcher is not None and _can_fetch(request, patient_id, settings)
    required_missing = (set(absent) | refused) & REQUIRED_PREFETCH
    if refused & REQUIRED_PREFETCH or (required_missing and not fetchable):
        raise _precondition_failed(required_missing)

    fetched: list[str] = []
    failures: dict[str, str] = {}
    seconds: dict[str, float] = {}
    if fetchable and absent:
        assert fetcher is not None
        assert request.fhir_server is not None
        token = (
            request.fhir_authorization.access_token.get_secret_value()
            if request.fhir_authorization is not None
            else None
        )
        queries = [
            PREFETCH[key].replace(PATIENT_TOKEN, quote(patient_id, safe="")) for key in absent
        ]
        outcomes = await asyncio.gather(
            *(timed_fetch(fetcher, request.fhir_server, query, token) for query in queries)
        )
        for key, (result, elapsed) in zip(absent, outcomes, strict=True):
            seconds[key] = elapsed
            failure = result.reason if isinstance(result, FetchError) else None
            if on_fetch is not None:
                on_fetch(key, elapsed, failure)
            if isinstance(result, FetchError):
                failures[key] = result.reason
                continue
            fetched.append(key)
            for document in result:
                pool.add_value(document)

    not_obtained = set(absent) - set(fetched)
    if not_obtained & REQUIRED_PREFETCH:
        raise _precondition_failed(not_obtained & REQUIRED_PREFETCH)

    return GatheredData(
        resources=tuple(pool.resources),
        trigger_orders=tuple(select_triggers(context, drafts)),
        draft_orders=tuple(drafts),
        unavailable=frozenset(not_obtained | refused),
        patient_id=patient_id,
        skipped_entries=pool.skipped,
        fetched_keys=tuple(fetched),
        fetch_failures=failures,
        fetch_seconds=seconds,
    )
