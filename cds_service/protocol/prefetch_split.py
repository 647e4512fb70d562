"""A hook call's body split where its top-level prefetch begins, and prefetches parsed before.

Why: parsing the body is the largest part of a call whose record is remembered (a quarter of
the server's CPU at N = 200, half at N = 5,000 with the freeing of what was parsed;
bench/README.md), and an EHR sends the same prefetch again and again: order-select, then
order-sign, then the next order signed in the same visit. The bytes of a top-level prefetch
object, from its brace to the end of the body, make the same prefetch in whatever call they
are sent, because a JSON parser reads the top level from there on without regard to what
came before. So a call whose bytes from there on are those of a prefetch parsed before
(named by a SHA-256 of them) parses only the bytes before them, its envelope (hook, context
with the draft orders: about a kilobyte), and takes the prefetch parsed then.

Exactness: the document answered equals, key order included, what orjson makes of the whole
body (the tests hold it so). The envelope is parsed with ``"prefetch":0}`` in place of the
rest; that parse succeeds only when the token found is a key of the top-level object
(:func:`~cds_service.protocol.raw_bounds.prefetch_key_at`), and with the rest known to be a
valid remainder (it parsed before) the whole body is valid JSON. A prefetch is remembered only
when its bytes hold nothing but it and the closing brace (no later member, such as a
``hookInstance`` that would differ in every call), and only when seen a second time, so a
record sent once (every new patient) costs no memory. The second call that sends it parses
its rest apart from its envelope, which makes the same document, so remembering costs no
second parse.

The prefetches are patient data, held in this process's memory only, shared read-only by the
calls that send them, at most :data:`PARSED_PREFETCH_ENTRIES` of them and
:data:`PARSED_PREFETCH_BYTES` of their bytes, forgotten oldest first.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson

from cds_service.bounded import BoundedMap
from cds_service.protocol.raw_bounds import prefetch_key_at

#: Begins what is digested of a prefetch's bytes, so that no such digest equals the digest of
#: a prefetch written back by orjson (which begins with its brace).
_TAG: Final = b"prefetch bytes:"
#: Completes the envelope: a last member named so (the first key of that name in the body,
#: so it comes last in the parsed envelope, where the prefetch goes) and the closing brace.
_IN_PLACE_OF_PREFETCH: Final = b'"prefetch":0}'
#: Most prefetches remembered, and most of their bytes. Parsed, they take about five times as
#: much memory (~15 MB for the bench's 5,000 resources), so at most ~20 MB here: the bench's
#: peak RSS was 174 MiB without them, against a target of 200 per worker.
PARSED_PREFETCH_ENTRIES: Final = 64
PARSED_PREFETCH_BYTES: Final = 4 * 1024 * 1024
#: Digests of prefetches seen once, so that the second sighting is the one remembered.
_SEEN_ENTRIES: Final = 4096


@dataclass(frozen=True)
class PrefetchSplit:
    """A body whose top-level prefetch object begins at ``start`` (shown from the bytes)."""

    #: The members before prefetch, parsed, with ``"prefetch": 0`` last (a new dict per call).
    envelope: dict[str, Any]
    start: int
    #: SHA-256 of the bytes from ``start`` to the end of the body.
    digest: bytes


def split_at_prefetch(body: bytes) -> PrefetchSplit | None:
    """The body split where its top-level prefetch object begins, or None when the bytes do
    not show it (no such token, an escape that could hide the key, the token not a key of the
    top-level object, the bytes before it not valid JSON)."""
    found = prefetch_key_at(body)
    if found is None:
        return None
    at, start = found
    try:
        envelope = orjson.loads(body[:at] + _IN_PLACE_OF_PREFETCH)
    except orjson.JSONDecodeError:
        return None
    if envelope.__class__ is not dict:
        return None
    digest = hashlib.sha256(_TAG)
    digest.update(memoryview(body)[start:])
    return PrefetchSplit(envelope, start, digest.digest())


class ParsedPrefetches:
    """Prefetch objects parsed before, by the digest of their bytes (first in, first out)."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self._entries: dict[bytes, tuple[dict[str, Any], int]] = {}
        self._arrivals: deque[bytes] = deque()
        self._seen: BoundedMap[bytes, bool] = BoundedMap(_SEEN_ENTRIES)
        self._max_entries = max(0, max_entries)
        self._max_bytes = max_bytes
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._max_entries > 0

    def document(
        self, body: bytes, parse: Callable[[bytes], Any]
    ) -> tuple[Any, PrefetchSplit | None]:
        """What ``parse`` (orjson, its errors the caller's) makes of ``body``, and the split of
        the body at its prefetch when the bytes show one (None when not, or when remembering
        is off). Only what the split leaves unknown is parsed."""
        split = split_at_prefetch(body) if self.enabled else None
        if split is None:
            return parse(body), None
        known = self._entries.get(split.digest)
        if known is not None:
            document = split.envelope
            document["prefetch"] = known[0]
            return document, split
        size = len(body) - split.start
        if size > self._max_bytes or self._seen.get(split.digest) is None:
            self._seen.put(split.digest, True)
            return parse(body), split
        # Seen before: the envelope is parsed already, so parsing the rest on its own makes
        # the document, and its prefetch is the one to remember (no second parse, and no
        # second copy of a large prefetch in memory at once).
        try:
            rest = orjson.loads(b'{"prefetch":' + body[split.start :])
        except orjson.JSONDecodeError:
            return parse(body), split  # not JSON: the whole-body parse refuses it, as ever
        document = split.envelope
        document.update(rest)
        if list(rest) == ["prefetch"] and rest["prefetch"].__class__ is dict:
            self._remember(split.digest, rest["prefetch"], size)
        # else a member after prefetch: its bytes are not the prefetch's alone
        return document, split

    def _remember(self, digest: bytes, prefetch: dict[str, Any], size: int) -> None:
        with self._lock:
            if digest in self._entries:
                return
            while self._arrivals and (
                len(self._entries) >= self._max_entries or self._bytes + size > self._max_bytes
            ):
                self._bytes -= self._entries.pop(self._arrivals.popleft())[1]
            self._entries[digest] = (prefetch, size)
            self._arrivals.append(digest)
            self._bytes += size

    def configure(self, max_entries: int) -> None:
        """Set the bound on entries; forgets everything (0: parse every body whole)."""
        with self._lock:
            self._max_entries = max(0, max_entries)
            self._forget()

    def clear(self) -> None:
        with self._lock:
            self._forget()

    def _forget(self) -> None:
        self._entries.clear()
        self._arrivals.clear()
        self._bytes = 0
        self._seen.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, digest: object) -> bool:
        """Whether the prefetch named by ``digest`` (:attr:`PrefetchSplit.digest`) is held."""
        return digest in self._entries


PARSED_PREFETCHES: Final = ParsedPrefetches(PARSED_PREFETCH_ENTRIES, PARSED_PREFETCH_BYTES)
