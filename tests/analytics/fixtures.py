"""A small, hand-countable audit: known cards and feedback, seeded through the real writers.

Days straddle an ISO-year boundary: Sunday 2025-12-28 is in 2025-W52, Monday 2025-12-29 in
2026-W01. One card shown on 2025-12-20 lies outside the period the tests ask for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cds_service.feedback.store import FeedbackStore
from cds_service.protocol.models import parse_feedback
from tests.audit.conftest import Clock, make_recorder

SIGN = "natalizumab-order-sign"
REASONS = "https://natalizumab-cds.example/fhir/CodeSystem/override-reason"
SINCE, UNTIL = "2025-12-22", "2026-01-04"

# (day, hookInstance, [(uuid, topic, indicator)])
CALLS: list[tuple[datetime, str, list[tuple[str, str, str]]]] = [
    (datetime(2025, 12, 20, 9, tzinfo=UTC), "outside", [("c0", "pml-risk", "warning")]),
    (
        datetime(2025, 12, 28, 9, tzinfo=UTC),
        "w52-a",
        [("c1", "pml-risk", "warning"), ("c2", "mri-due", "warning")],
    ),
    (
        datetime(2025, 12, 28, 15, tzinfo=UTC),
        "w52-b",
        [("c3", "pml-risk", "warning"), ("c4", "natalizumab-indicated", "info")],
    ),
    (
        datetime(2025, 12, 29, 9, tzinfo=UTC),
        "w01-a",
        [("c5", "pml-risk", "warning"), ("c6", "pml-risk", "critical")],
    ),
    (datetime(2025, 12, 30, 9, tzinfo=UTC), "w01-b", [("c7", "pml-risk", "warning")]),
]


def _override(card: str, code: str | None, when: str, display: str = "") -> dict[str, Any]:
    item: dict[str, Any] = {"card": card, "outcome": "overridden", "outcomeTimestamp": when}
    if code is not None:
        item["overrideReason"] = {"reason": {"system": REASONS, "code": code, "display": display}}
    return item


def _accept(card: str, when: str) -> dict[str, Any]:
    return {
        "card": card,
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": "s"}],
        "outcomeTimestamp": when,
    }


FEEDBACK: list[dict[str, Any]] = [
    _override("c0", "patient-declined", "2025-12-20T10:00:00Z"),  # outside the period
    _override("c1", "benefit-outweighs-risk", "2025-12-28T10:00:00Z"),
    # c1 overridden again later: still one overridden card, reason of the first override.
    _override("c1", "specialist-decision", "2025-12-28T11:00:00Z"),
    _accept("c2", "2025-12-28T10:00:00Z"),
    _override("c3", None, "2025-12-28T16:00:00Z"),  # no reason given
    _accept("c5", "2025-12-29T10:00:00Z"),
    _override("c6", "benefit-outweighs-risk", "2025-12-29T10:00:00Z"),
    _override("c7", '=HYPERLINK("x")', "2025-12-30T10:00:00Z", "<script>alert(1)</script>"),
    _accept("c7", "2025-12-30T11:00:00Z"),  # a card can be both accepted and overridden
    _accept("unknown-card", "2025-12-30T11:00:00Z"),  # never audited: counted nowhere
]


def seed(store: FeedbackStore, *, feedback_first: bool = False) -> None:
    """Write the calls and the feedback (feedback before the cards when asked)."""
    clock = Clock(CALLS[0][0])
    recorder, _ = make_recorder(store, clock, retention_days=36500)

    def write_calls() -> None:
        for when, instance, cards in CALLS:
            clock.now = when
            recorder.record(
                SIGN,
                instance,
                [
                    {"uuid": uuid, "indicator": indicator, "source": {"topic": {"code": topic}}}
                    for uuid, topic, indicator in cards
                ],
            )
        assert recorder.flush()

    if not feedback_first:
        write_calls()
    items = parse_feedback({"feedback": FEEDBACK}).feedback
    store.store(SIGN, items, datetime(2026, 1, 5, tzinfo=UTC))
    recorder.feedback_stored(item.card for item in items)
    assert recorder.flush()
    if feedback_first:
        write_calls()


def seed_quarter(store: FeedbackStore, end: datetime, weeks: int = 13) -> None:
    """A deterministic, busier quarter ending at ``end`` (for the page's screenshot)."""
    clock = Clock(end)
    recorder, _ = make_recorder(store, clock, retention_days=36500)
    topics = [
        ("natalizumab-indicated", "info", 0.0),
        ("pml-risk", "warning", 0.45),
        ("pml-risk", "critical", 0.2),
        ("jcv-test-due", "warning", 0.3),
        ("mri-due", "warning", 0.55),
        ("progressive-ms-not-indicated", "warning", 0.7),
    ]
    reasons = [
        "benefit-outweighs-risk",
        "monitoring-arranged-elsewhere",
        "specialist-decision",
        "record-out-of-date",
    ]
    items: list[dict[str, Any]] = []
    serial = 0
    for day in range(weeks * 7):
        clock.now = end - timedelta(days=weeks * 7 - 1 - day)
        for call in range(3 + (day * 7) % 5):
            cards = []
            for index, (topic, indicator, rate) in enumerate(topics):
                if (day + call + index) % 3 == 0 and index:
                    continue
                serial += 1
                uuid = f"q-{serial}"
                cards.append(
                    {"uuid": uuid, "indicator": indicator, "source": {"topic": {"code": topic}}}
                )
                when = clock.now.isoformat()
                if (serial * 37 % 100) / 100 < rate:
                    items.append(_override(uuid, reasons[serial % len(reasons)], when))
                elif indicator != "info" and serial % 4 == 0:
                    items.append(_accept(uuid, when))
            recorder.record(SIGN, f"quarter-{day}-{call}", cards)
    assert recorder.flush()
    parsed = parse_feedback({"feedback": items}).feedback
    store.store(SIGN, parsed, end)
    recorder.feedback_stored(item.card for item in parsed)
    assert recorder.flush()
