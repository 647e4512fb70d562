"""The one seam between the wire protocol and the clinical engine.

The web layer (and ``cds-service evaluate``) turns a hook request into :class:`HookData`;
everything below is pure: ``(HookData, now) -> Evaluation``. Keeping this seam narrow lets the
protocol and the clinical rules evolve and be tested independently.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cds_service.cards.registry import registered_texts
from cds_service.cards.render import render_cards, whole_assessment_failed_card
from cds_service.clinical.engine import assess, whole_assessment_not_assessed
from cds_service.clinical.registry import check_topic_data, registered_rules
from cds_service.knowledge.loader import knowledge
from cds_service.record.build import build_record
from cds_service.record.validate import preload_models

JSON = Mapping[str, Any]

logger = logging.getLogger("cds_service.pipeline")


@dataclass(frozen=True)
class HookData:
    """Everything the engine may use from one hook call, as raw FHIR JSON.

    ``resources`` pools prefetch values, fetched data and every draft order, whatever key held
    them (contract section 2). ``trigger_orders`` are the draft orders this hook acts on:
    the selected ones for order-select, all for order-sign and medication-prescribe.
    ``unavailable`` names optional prefetch keys that could be neither read nor fetched, and
    ``incomplete`` the keys read only in part (key -> why). ``natalizumab_orders`` is the
    trigger's verdict on the raw JSON (:mod:`cds_service.record.trigger`); when ``None`` the
    record layer judges ``trigger_orders`` itself, the same way.
    """

    resources: Sequence[JSON]
    trigger_orders: Sequence[JSON]
    draft_orders: Sequence[JSON] = ()
    unavailable: frozenset[str] = frozenset()
    patient_id: str | None = None
    natalizumab_orders: Sequence[JSON] | None = None
    incomplete: Mapping[str, str] = field(default_factory=dict)
    #: SHA-256 of the prefetch as sent, given only when ``resources`` are what the call itself
    #: sent (prefetch and draft orders, nothing fetched): the record cache then names them by
    #: it (:func:`cds_service.record.record_cache.record_key`).
    prefetch_digest: bytes | None = None


@dataclass
class Evaluation:
    """The cards to answer, plus what operations need to know (never patient data)."""

    cards: list[dict[str, Any]]
    topics: list[str] = field(default_factory=list)
    skipped_resources: int = 0
    #: Topics whose card was replaced by its minimal fallback (a defect; see ``cards.render``).
    card_fallbacks: list[str] = field(default_factory=list)
    #: Topics answered as "not assessed" because their rule raised (a defect; ``clinical.engine``).
    rules_failed: list[str] = field(default_factory=list)
    #: The whole assessment raised and was answered by one "not assessed" card (a defect).
    failed: bool = False


def evaluate(data: HookData, now: datetime) -> Evaluation:
    """Run record building, clinical assessment and card rendering for one call.

    The last line of defence for "never silent, never a 5xx": a single rule that raises is
    handled by the engine, but a defect in record building would fail the whole call. Then a
    natalizumab order (or an unjudged one) still gets one card saying the checks did not run.
    """
    try:
        return _evaluate_unguarded(data, now)
    except Exception as error:
        if data.natalizumab_orders is not None and not data.natalizumab_orders:
            raise  # no natalizumab order: nothing would have been said
        logger.error(
            "assessment failed; answered with one not-assessed card",
            extra={"error": type(error).__name__},  # never the message: it may quote data
        )
        finding = whole_assessment_not_assessed()
        return Evaluation(
            cards=[whole_assessment_failed_card(finding)], topics=[finding.topic], failed=True
        )


def _evaluate_unguarded(data: HookData, now: datetime) -> Evaluation:
    built = build_record(
        resources=data.resources,
        trigger_orders=data.trigger_orders,
        draft_orders=data.draft_orders,
        unavailable=data.unavailable,
        patient_id=data.patient_id,
        now=now,
        natalizumab_orders=data.natalizumab_orders,
        incomplete=data.incomplete,
        prefetch_digest=data.prefetch_digest,
    )
    findings = assess(built.record, built.orders, now)
    rendered = render_cards(findings, built.record, built.orders, built.notes)
    return Evaluation(
        cards=rendered.cards,
        topics=[card["source"]["topic"]["code"] for card in rendered.cards],
        skipped_resources=len(built.skipped),
        card_fallbacks=rendered.fallbacks,
        rules_failed=rendered.not_assessed,
    )


_WARM_UP_ORDER: dict[str, Any] = {
    "resourceType": "MedicationRequest",
    "id": "warm-up",
    "status": "draft",
    "intent": "proposal",
    "subject": {"reference": "Patient/warm-up"},
    "medicationCodeableConcept": {"text": "natalizumab"},
}


def warm_up() -> None:
    """Load the knowledge, compile the value sets and import the FHIR models at start-up.

    Without it the first prescriber after a deploy waits ~0.3 s for lazy imports; it also makes
    broken knowledge data fail the start, not a call (every topic's typed rules.json data is
    parsed here).
    """
    preload_models()
    check_topic_data(knowledge().rules, registered_rules())
    registered_texts()
    _evaluate_unguarded(  # a defect here must fail the start, not be answered as a card
        HookData(
            resources=[
                {"resourceType": "Patient", "id": "warm-up", "birthDate": "1980-01-01"},
                {
                    "resourceType": "Observation",
                    "id": "warm-up",
                    "status": "final",
                    "code": {"text": "JC virus antibody"},
                    "valueQuantity": {"value": 0.1},
                },
            ],
            trigger_orders=[_WARM_UP_ORDER],
            draft_orders=[_WARM_UP_ORDER],
            patient_id="warm-up",
        ),
        datetime(2000, 1, 1, tzinfo=UTC),
    )
