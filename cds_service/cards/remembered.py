"""Rendered cards, remembered by a digest of everything their words come from.

Why: the same patient's findings come back call after call (order-select, then order-sign),
and wording a card (escaping record text, listing the facts, validating the card model) was
the largest part of a warm call after the record itself (bench/README.md). A card is a
function of its finding, the natalizumab orders, the call's data notes, the record's patient
reference and its missing or incomplete prefetch keys, and the knowledge data, plus fresh
uuids: given the same of all of them, the same cards come out, with new uuids.

The key is a SHA-256 of the ``repr`` of those inputs, which names every field with its type
(``1`` and ``1.0``, a date and a datetime, read differently), so only a call whose findings
are the same in every field gets the cards back. Cards replaced by their fallback or saying a
rule could not run are never remembered: those paths log a defect every time.

What is kept is patient data (the card text: references, dates, values), in this process's
memory only, at most ``max_entries`` renderings (``CDS_RECORD_MEMO_ENTRIES`` bounds it too; 0
turns it off), forgotten oldest-first, never logged and never written anywhere.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any, Final

import orjson

from cds_service.bounded import KnowledgeScopedMap
from cds_service.clinical.findings import Finding, TopicValues
from cds_service.record.model import DataNote, NatalizumabOrder, PatientRecord

#: Default bound, as the record cache's: the renderings of the last few hundred patients.
RENDERED_CACHE_ENTRIES: Final = 256


def rendering_key(
    findings: Sequence[Finding[TopicValues]],
    record: PatientRecord,
    orders: Sequence[NatalizumabOrder],
    notes: Sequence[DataNote],
) -> bytes:
    """The digest of everything :func:`~cds_service.cards.render.render_cards` reads."""
    inputs = (
        tuple(findings),
        tuple(orders),
        tuple(notes),
        record.patient_reference,
        sorted(record.unavailable),
        sorted(record.incomplete.items()),
    )
    return hashlib.sha256(repr(inputs).encode()).digest()


class RenderedCache(KnowledgeScopedMap[bytes, bytes]):
    """Cards (as JSON, uuids to be replaced) by :func:`rendering_key`, for one version of the
    knowledge data at a time. Kept serialised: a call gets its own copy to hand out."""

    def __init__(self, max_entries: int = RENDERED_CACHE_ENTRIES) -> None:
        super().__init__(max_entries)

    def remember(self, key: bytes, cards: list[dict[str, Any]], owner: object) -> None:
        self.put(key, orjson.dumps(cards), owner)

    def cards(self, key: bytes, owner: object) -> list[dict[str, Any]] | None:
        """A fresh copy of the remembered cards with new uuids (card and suggestion)."""
        remembered = self.get(key, owner)
        if remembered is None:
            return None
        cards: list[dict[str, Any]] = orjson.loads(remembered)
        for card in cards:
            card["uuid"] = str(uuid.uuid4())
            for suggestion in card.get("suggestions", ()):
                suggestion["uuid"] = str(uuid.uuid4())
        return cards


RENDERED_CACHE = RenderedCache()
