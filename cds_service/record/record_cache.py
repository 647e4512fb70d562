"""Whole built records, remembered by a digest of the call data they were built from.

Why: an EHR sends the same patient's data again within minutes: order-select as the
clinician picks natalizumab, then order-sign with the same prefetch, then a retry or the next
order. The facts memo (:mod:`.memo`) already spares re-reading each relevant resource, but a
call still tests every resource against the value sets, serialises and digests the relevant
ones and replays their facts: with the facts remembered, that is most of what building a
200-resource record costs (bench/README.md). When everything the builder reads is the same as
in an earlier call, the record it built then is the record it would build now.

"Everything the builder reads" is: the pooled resources, the trigger and draft orders, and the
trigger's verdict, all as JSON in their order; which pooled objects are the trigger's own (the
builder tells them apart by identity, not content); the unavailable and incomplete prefetch
keys; the patient id; the day (exposure and therapy are counted to today); and the knowledge
data (an entry is only found under the data it was built with). The key is a SHA-256 digest
of all of that, so a call gets an entry back only if it sends that very data. A record whose
building ran out of text budget is not remembered (what was read then depended on what the
process had read before).

Callers must treat a returned result as read-only: it is shared by every call that sends the
same data (the test suite checks that assessing and rendering leave it unchanged).

What is kept is patient data (the record's facts), in this process's memory only, at most
``max_entries`` records (``CDS_RECORD_MEMO_ENTRIES`` bounds it too; 0 turns it off), forgotten
oldest-first, never logged and never written anywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Final

import orjson

from cds_service.bounded import KnowledgeScopedMap

if TYPE_CHECKING:
    from cds_service.record.build import BuildResult

#: Default bound: the calls of the last few hundred patients (a record's facts are mostly
#: shared with the facts memo; an entry adds its lists and the orders).
RECORD_CACHE_ENTRIES: Final = 256


@dataclass(frozen=True)
class RememberedRecord:
    """A built record and the resources it skipped as invalid: (type, problem) per resource,
    logged again by every call that gets the record back, as building it would have."""

    result: BuildResult
    skipped_problems: tuple[tuple[str, str], ...]


def record_key(
    *,
    resources: Sequence[Any],
    trigger_orders: Sequence[Any],
    draft_orders: Sequence[Any],
    natalizumab_orders: Sequence[Any] | None,
    unavailable: frozenset[str],
    incomplete: Mapping[str, str] | None,
    patient_id: str | None,
    today: date,
    prefetch_digest: bytes | None = None,
) -> bytes | None:
    """The digest of everything :func:`~cds_service.record.build.build_record` reads.

    ``None`` when the data cannot be serialised exactly (an integer beyond 64 bits, nesting
    orjson refuses): such a call is built afresh, as every call would be without the cache.

    With ``prefetch_digest`` (the caller's promise: ``resources`` are what a request with
    that prefetch and these draft orders pools, nothing fetched) the digest stands for the
    resources, which are then not serialised again: the same prefetch and drafts pool the
    same resources, in the same order. Calls named either way never share an entry.
    """
    own = {id(order) for order in (*trigger_orders, *(natalizumab_orders or ()))}
    positions = [index for index, item in enumerate((*resources, *draft_orders)) if id(item) in own]
    try:
        canonical = orjson.dumps(
            [
                today.isoformat(),
                patient_id,
                sorted(unavailable),
                dict(incomplete or {}),
                positions,
                natalizumab_orders,
                trigger_orders,
                draft_orders,
                ["prefetch", prefetch_digest.hex(), len(resources)]
                if prefetch_digest is not None
                else ["resources", resources],
            ]
        )
    except (TypeError, orjson.JSONEncodeError):
        return None
    return hashlib.sha256(canonical).digest()


class RecordCache(KnowledgeScopedMap[bytes, RememberedRecord]):
    """Built records by :func:`record_key`, for one version of the knowledge data at a time."""

    def __init__(self, max_entries: int = RECORD_CACHE_ENTRIES) -> None:
        super().__init__(max_entries)


RECORD_CACHE = RecordCache()
