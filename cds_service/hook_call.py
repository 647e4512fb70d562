"""One CDS Hooks service call from parsed JSON to response body, without HTTP.

Shared by the web app and ``cds-service evaluate`` so that the CLI prints exactly what the
service would answer. This is the only module above ``protocol`` that calls the engine
(:mod:`cds_service.pipeline`), keeping ``protocol`` free of clinical imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cds_service.config import Settings
from cds_service.offload import run_sized
from cds_service.pipeline import HookData, evaluate
from cds_service.protocol.errors import HOOK_MISMATCH, ProtocolError
from cds_service.protocol.fhir_client import FhirFetcher
from cds_service.protocol.gather import FetchObserver, GatheredData, gather
from cds_service.protocol.models import parse_context, parse_hook_request
from cds_service.protocol.services import ServiceDefinition


@dataclass
class CallResult:
    """The response body plus operational facts for logs and metrics (never patient data)."""

    body: dict[str, Any]
    hook_instance: str
    topics: list[str] = field(default_factory=list)
    indicators: list[str] = field(default_factory=list)
    skipped_resources: int = 0


def _evaluate(data: GatheredData, now: datetime) -> tuple[list[dict[str, Any]], list[str], int]:
    """Run the engine on gathered data; returns (cards, topics, skipped resource count)."""
    result = evaluate(
        HookData(
            resources=data.resources,
            trigger_orders=data.trigger_orders,
            draft_orders=data.draft_orders,
            unavailable=data.unavailable,
            patient_id=data.patient_id,
        ),
        now=now,
    )
    return result.cards, result.topics, result.skipped_resources


async def answer_hook_call(
    service: ServiceDefinition,
    body: object,
    settings: Settings,
    fetcher: FhirFetcher | None,
    *,
    now: datetime | None = None,
    on_fetch: FetchObserver | None = None,
) -> CallResult:
    """Validate, gather and evaluate one call; raises :class:`ProtocolError` for 4xx answers."""
    request = parse_hook_request(body)
    if request.hook != service.hook:
        raise ProtocolError(
            400, HOOK_MISMATCH, f"This service answers the '{service.hook}' hook only."
        )
    context = parse_context(service.hook, request.context)
    data = await gather(request, context, settings, fetcher, on_fetch=on_fetch)
    moment = now or datetime.now(UTC)
    # Inline for a typical call (the hand-off would cost more than the work, bench/README.md);
    # a heavy one leaves the event loop so health checks keep answering (cds_service.offload).
    cards, topics, skipped = await run_sized(
        lambda: _evaluate(data, moment), resources=len(data.resources)
    )
    response: dict[str, Any] = {"cards": cards}
    return CallResult(
        body=response,
        hook_instance=request.hook_instance,
        topics=topics,
        indicators=[str(card.get("indicator", "")) for card in cards],
        skipped_resources=skipped + data.skipped_entries,
    )
