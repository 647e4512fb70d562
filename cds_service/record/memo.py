"""The facts read from a resource, remembered by its content for the next call that sends it.

Why: an EHR sends the same patient's record again and again (order-select, then order-sign,
then the next order). Validation verdicts are already cached (:mod:`.validate`); after that,
reading a relevant resource into facts (dates, codes, value sets, evidence) is most of what
building the record costs (bench/README.md). Reading depends only on the resource's content
and the knowledge data, except where the record builder says otherwise: whether an order is
one of this call's drafts (part of the key), a drug named by reference (the Medication comes
from elsewhere in the call: never remembered), and a read that ran out of text budget or met
an ill-typed value (never remembered: it depends on the call).

What is kept is patient data (the facts: references, dates, labels, values), in this
process's memory only, keyed by a digest of the resource's canonical JSON, so only a call that
sends that very resource gets them back. It is bounded by ``CDS_RECORD_MEMO_ENTRIES``
(0 turns it off), forgotten oldest-first, never logged and never written anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from cds_service.bounded import KnowledgeScopedMap

#: Default bound: a few thousand relevant resources (a long record) stay remembered.
DEFAULT_ENTRIES: Final = 8192


@dataclass(frozen=True)
class Facts:
    """What reading one resource added: (position of the record list, items appended)."""

    additions: tuple[tuple[int, tuple[Any, ...]], ...]


class FactsMemo(KnowledgeScopedMap[bytes, Facts]):
    """Facts by resource digest, for one version of the knowledge data at a time."""

    def __init__(self, max_entries: int = DEFAULT_ENTRIES) -> None:
        super().__init__(max_entries)


FACTS_MEMO = FactsMemo()
