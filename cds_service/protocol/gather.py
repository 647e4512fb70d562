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
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, TypeVar
from urllib.parse import quote

from cds_service.config import Settings
from cds_service.protocol.allowlist import is_allowed_fhir_server
from cds_service.protocol.budget import ResourceBudget
from cds_service.protocol.errors import PREFETCH_UNAVAILABLE, ProtocolError
from cds_service.protocol.fhir_client import FetchError, FhirFetcher, next_link, timed_fetch
from cds_service.protocol.models import (
    DraftBundle,
    HookContext,
    HookRequest,
    OrderSelectContext,
    OrderSignContext,
)
from cds_service.protocol.services import PATIENT_TOKEN, PREFETCH, REQUIRED_PREFETCH

Resource = dict[str, Any]
T = TypeVar("T")

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
    incomplete: Mapping[str, str] = field(default_factory=dict)
    """Prefetch keys read only in part -> why (a ``next`` page unreadable, a page/byte cap)."""
    sent_only: bool = False
    """True when every resource came from the request itself (prefetch and draft orders):
    nothing was fetched or asked for, so the same request pools the same resources."""


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
        self.add_resources((resource,))

    def add_resources(self, resources: Iterable[Resource]) -> None:
        """Pool resources in order; one loop for a whole Bundle (every resource of a call)."""
        seen, pooled = self._seen, self.resources
        for resource in resources:
            kind, ident = resource.get("resourceType"), resource.get("id")
            if isinstance(kind, str) and isinstance(ident, str):
                key = (kind, ident)
                if key in seen:
                    continue
                seen.add(key)
            pooled.append(resource)

    def add_value(self, value: Any) -> None:
        """Pool a prefetch value or fetched page: a resource, a Bundle, a list, or null."""
        if value is None:
            return
        if isinstance(value, list):
            for item in value:
                self._add_item(item)
        elif isinstance(value, dict):
            if value.get("resourceType") == "Bundle":
                self.add_resources(bundle_resources(value, self))
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
    return fhir_server_allowed(request, settings) and is_fhir_id(patient_id)


def fhir_server_allowed(request: HookRequest, settings: Settings) -> bool:
    server = request.fhir_server
    return server is not None and is_allowed_fhir_server(server, settings.allowed_fhir_servers)


def is_fhir_id(value: str) -> bool:
    """A FHIR ``id`` (1-64 of ``A-Za-z0-9-.``), and never a dot segment."""
    return _FHIR_ID.fullmatch(value) is not None and value not in {".", ".."}


def access_token(request: HookRequest) -> str | None:
    authorization = request.fhir_authorization
    if authorization is None or authorization.access_token is None:
        return None
    return authorization.access_token.get_secret_value()


async def run_all(calls: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
    """Await ``calls`` concurrently; the first :class:`ProtocolError` (the call's 413) cancels
    the others and is raised as itself, not wrapped in an exception group."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(call) for call in calls]
    except BaseExceptionGroup as failure:
        for error in failure.exceptions:
            if isinstance(error, ProtocolError):
                raise error from None
        raise
    return [task.result() for task in tasks]


#: At most this many ``Medication/{id}`` reads per call: an order names one medication.
MAX_MEDICATION_FETCHES: Final = 20


async def fetch_medications(
    request: HookRequest,
    ids: Sequence[str],
    settings: Settings,
    fetcher: FhirFetcher | None,
    budget: ResourceBudget | None = None,
) -> list[Resource]:
    """Read the ``Medication`` resources that draft orders name only by reference.

    Same fences as prefetch fetching: an allow-listed ``fhirServer``, the EHR's token, no
    redirects, the byte and time caps, and the call-wide resource budget; an id that is not a
    FHIR id is never put in a URL. A Medication that cannot be read is left out: the order is
    then not known to be natalizumab unless something else names the drug.
    """
    wanted = [ident for ident in dict.fromkeys(ids) if is_fhir_id(ident)][:MAX_MEDICATION_FETCHES]
    if not wanted or fetcher is None or not fhir_server_allowed(request, settings):
        return []
    assert request.fhir_server is not None
    server, token = request.fhir_server, access_token(request)
    outcomes = await run_all(
        [timed_fetch(fetcher, server, f"Medication/{ident}", token, budget) for ident in wanted]
    )
    found: list[Resource] = []
    for ident, (result, _) in zip(wanted, outcomes, strict=True):
        if isinstance(result, FetchError):
            continue
        document = result.documents[0]
        if (
            isinstance(document, dict)
            and document.get("resourceType") == "Medication"
            and document.get("id") == ident
        ):
            found.append(document)
    return found


def _precondition_failed(keys: Iterable[str]) -> ProtocolError:
    names = ", ".join(sorted(keys))
    return ProtocolError(
        412,
        PREFETCH_UNAVAILABLE,
        f"Required data ({names}) was neither prefetched nor obtainable from fhirServer.",
    )


def _next_links(value: Any) -> list[str]:
    """``next`` links of the searchset Bundles in a prefetch value (a Bundle or a list)."""
    items = value if isinstance(value, list) else [value]
    return [link for link in map(next_link, items) if link is not None]


async def _read_next_pages(
    request: HookRequest,
    prefetch: Mapping[str, Any],
    keys: Iterable[str],
    settings: Settings,
    fetcher: FhirFetcher | None,
    budget: ResourceBudget | None,
    pool: ResourcePool,
) -> tuple[dict[str, str], bool]:
    """Follow the ``next`` links of prefetched searchsets; returns key -> why it is incomplete,
    and whether any page was asked for.

    Without an allow-listed ``fhirServer`` a ``next`` page cannot be read: the key is then
    incomplete (contract section 2), never silently taken as the whole searchset.
    """
    pending = [(key, link) for key in keys for link in _next_links(prefetch[key])]
    if not pending:
        return {}, False
    if fetcher is None or request.fhir_server is None or not fhir_server_allowed(request, settings):
        return {key: "next_page_not_fetchable" for key, _ in pending}, False
    server, token = request.fhir_server, access_token(request)
    incomplete: dict[str, str] = {}
    results = await run_all(
        [fetcher.fetch_more(server, link, token, budget) for _, link in pending]
    )
    for (key, _), result in zip(pending, results, strict=True):
        for document in result.documents:
            pool.add_value(document)
        if result.incomplete is not None:
            incomplete.setdefault(key, result.incomplete)
    return incomplete, True


async def gather(
    request: HookRequest,
    context: HookContext,
    settings: Settings,
    fetcher: FhirFetcher | None,
    on_fetch: FetchObserver | None = None,
    *,
    extra_resources: Sequence[Resource] = (),
    budget: ResourceBudget | None = None,
) -> GatheredData:
    """Pool prefetch and draft orders, fetch absent keys, and pick the trigger orders.

    ``extra_resources`` (Medications the trigger fetched) are pooled too; ``budget`` is the
    call-wide resource budget every fetched page spends from (413 when exhausted).
    Raises a 412 :class:`ProtocolError` when a required key is absent and cannot be fetched
    (no or non-allow-listed ``fhirServer``, unreachable, an error answer, or too large). A
    key read only in part (a ``next`` page that could not be read, a page or byte cap) is
    used and reported in ``incomplete``, required or not.
    """
    pool = ResourcePool()
    drafts = draft_resources(context, pool)
    for draft in drafts:
        pool.add_resource(draft)
    for resource in extra_resources:
        pool.add_resource(resource)

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
    supplied: list[str] = []
    for key, value in prefetch.items():
        if key in PREFETCH and (key in refused or key in absent):
            continue
        pool.add_value(value)
        supplied.append(key)

    patient_id = context.patient_id
    fetchable = fetcher is not None and _can_fetch(request, patient_id, settings)
    required_missing = (set(absent) | refused) & REQUIRED_PREFETCH
    if refused & REQUIRED_PREFETCH or (required_missing and not fetchable):
        raise _precondition_failed(required_missing)

    incomplete, pages_asked = await _read_next_pages(
        request, prefetch, supplied, settings, fetcher, budget, pool
    )

    fetched: list[str] = []
    failures: dict[str, str] = {}
    seconds: dict[str, float] = {}
    if fetchable and absent:
        assert fetcher is not None
        assert request.fhir_server is not None
        token = access_token(request)
        queries = [
            PREFETCH[key].replace(PATIENT_TOKEN, quote(patient_id, safe="")) for key in absent
        ]
        outcomes = await run_all(
            [timed_fetch(fetcher, request.fhir_server, query, token, budget) for query in queries]
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
            if result.incomplete is not None:
                incomplete[key] = result.incomplete
            for document in result.documents:
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
        incomplete=MappingProxyType(incomplete),
        sent_only=not extra_resources and not pages_asked and not (fetchable and absent),
    )
