"""One CDS Hooks service call from parsed JSON to response body, without HTTP.

Shared by the web app and ``cds-service evaluate`` so that the CLI prints exactly what the
service would answer. This is the only module above ``protocol`` that calls the engine
(:mod:`cds_service.pipeline`), keeping ``protocol`` free of clinical imports. The order is
contract section 1's: envelope, context (lenient), the trigger on the raw JSON, and only for
a natalizumab order the gathering (412s, fetches) and the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cds_service.config import Settings
from cds_service.offload import run_sized
from cds_service.pipeline import Evaluation, HookData, evaluate
from cds_service.protocol.budget import ResourceBudget
from cds_service.protocol.errors import HOOK_MISMATCH, ProtocolError
from cds_service.protocol.fhir_client import FhirFetcher
from cds_service.protocol.gather import (
    FetchObserver,
    GatheredData,
    ResourcePool,
    draft_resources,
    fetch_medications,
    gather,
    select_triggers,
)
from cds_service.protocol.models import HookContext, HookRequest, parse_context, parse_hook_request
from cds_service.protocol.services import ServiceDefinition
from cds_service.record.trigger import TriggerScan, pooled_medications, scan_orders

JSON = Mapping[str, Any]


@dataclass
class CallResult:
    """The response body plus operational facts for logs and metrics (never patient data)."""

    body: dict[str, Any]
    hook_instance: str
    topics: list[str] = field(default_factory=list)
    indicators: list[str] = field(default_factory=list)
    skipped_resources: int = 0
    card_fallbacks: list[str] = field(default_factory=list)
    rules_failed: list[str] = field(default_factory=list)
    assessment_failed: bool = False


def _evaluate(
    data: GatheredData,
    natalizumab_orders: Sequence[JSON],
    now: datetime,
    prefetch_digest: bytes | None = None,
) -> Evaluation:
    """Run the engine on gathered data; ``prefetch_digest`` names the prefetch as sent."""
    return evaluate(
        HookData(
            resources=data.resources,
            trigger_orders=data.trigger_orders,
            draft_orders=data.draft_orders,
            unavailable=data.unavailable,
            patient_id=data.patient_id,
            natalizumab_orders=tuple(natalizumab_orders),
            incomplete=dict(data.incomplete),
            # Only when the resources are the prefetch's and the drafts' alone.
            prefetch_digest=prefetch_digest if data.sent_only else None,
        ),
        now=now,
    )


def _nothing() -> bytes | None:
    """No limit owed on prefetch (the caller has held the whole body to them)."""
    return None


async def _find_trigger(
    request: HookRequest,
    context: HookContext,
    settings: Settings,
    fetcher: FhirFetcher | None,
    budget: ResourceBudget,
    before_prefetch: Callable[[], bytes | None],
) -> tuple[TriggerScan, list[dict[str, Any]]]:
    """The natalizumab orders of the call, judged on the raw JSON (contract section 2).

    A Medication that an order names only by reference, and that neither the order nor the
    prefetch holds, is read from ``fhirServer`` (allow-listed) before deciding. Returns the
    scan and the fetched Medications, which are pooled with the rest of the data.
    """
    drafts = draft_resources(context, ResourcePool())
    triggers = select_triggers(context, drafts)
    scan = scan_orders(triggers, {})
    if not scan.unresolved:
        return scan, []
    # Only an order naming a Medication by reference needs the pooled Medications: the common
    # call (inline codes) never walks the prefetch here.
    before_prefetch()
    prefetch = request.prefetch or {}
    medications = pooled_medications([*prefetch.values(), drafts])
    scan = scan_orders(triggers, medications)
    if not scan.unresolved:
        return scan, []
    # Other draft orders' Medications matter too (concomitant immunotherapy), but only when
    # there is something to answer; the triggers' own are needed to decide that.
    chosen = {id(order) for order in triggers}
    others = scan_orders([d for d in drafts if id(d) not in chosen], medications).unresolved
    wanted = [*scan.unresolved, *(i for i in others if i not in scan.unresolved)]
    fetched = await fetch_medications(request, wanted, settings, fetcher, budget)
    if not fetched:
        return scan, []
    medications.update(pooled_medications([fetched]))
    return scan_orders(triggers, medications), fetched


async def answer_hook_call(
    service: ServiceDefinition,
    body: object,
    settings: Settings,
    fetcher: FhirFetcher | None,
    *,
    now: datetime | None = None,
    on_fetch: FetchObserver | None = None,
    before_prefetch: Callable[[], bytes | None] | None = None,
) -> CallResult:
    """Validate, find the trigger, gather and evaluate one call.

    Raises :class:`ProtocolError` for 4xx answers. Without a natalizumab order the answer is
    ``{"cards": []}`` at once: no 412, no gathering, no fetch beyond the Medications the
    orders name (contract section 1). ``before_prefetch`` runs before anything reads
    ``prefetch`` (the web layer holds its depth limit there,
    :class:`cds_service.protocol.limits.PrefetchDepth`); what it returns, a digest of the
    prefetch as sent, lets the record cache name the call's data without serialising it.
    """
    before_prefetch = before_prefetch or _nothing
    request = parse_hook_request(body)
    if request.hook != service.hook:
        raise ProtocolError(
            400, HOOK_MISMATCH, f"This service answers the '{service.hook}' hook only."
        )
    context = parse_context(service.hook, request.context)
    budget = ResourceBudget.for_body(body, settings.max_resources)
    scan, medications = await _find_trigger(
        request, context, settings, fetcher, budget, before_prefetch
    )
    if not scan.orders:
        return CallResult(body={"cards": []}, hook_instance=request.hook_instance)
    prefetch_digest = before_prefetch()
    data = await gather(
        request,
        context,
        settings,
        fetcher,
        on_fetch=on_fetch,
        extra_resources=medications,
        budget=budget,
    )
    moment = now or datetime.now(UTC)
    # Inline for a typical call (the hand-off would cost more than the work, bench/README.md);
    # a heavy one leaves the event loop so health checks keep answering (cds_service.offload).
    result = await run_sized(
        lambda: _evaluate(data, scan.orders, moment, prefetch_digest),
        resources=len(data.resources),
    )
    response: dict[str, Any] = {"cards": result.cards}
    return CallResult(
        body=response,
        hook_instance=request.hook_instance,
        topics=result.topics,
        indicators=[str(card.get("indicator", "")) for card in result.cards],
        skipped_resources=result.skipped_resources + data.skipped_entries,
        card_fallbacks=result.card_fallbacks,
        rules_failed=result.rules_failed,
        assessment_failed=result.failed,
    )
