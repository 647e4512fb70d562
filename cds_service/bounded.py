"""A map of at most so many entries, the oldest forgotten first: the service's in-memory caches.

Why first-in first-out rather than least-recently-used: a hit then costs one dictionary
lookup, with no reordering under a lock, and every cache here is asked far more often than
it is filled. The order of arrival is kept in a queue beside the dictionary: taking a
dictionary's first key instead (``next(iter(d))``) walks past every slot already emptied at
its front, so a full map of 8,192 entries paid ~10 us per new entry, 50,000 entries ~27 us
(the cold call fills dozens, bench/README.md).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedMap(Generic[K, V]):
    """At most ``max_entries`` entries (0: remembers nothing); writes are thread-safe."""

    def __init__(self, max_entries: int) -> None:
        self._entries: dict[K, V] = {}
        self._arrivals: deque[K] = deque()  # the keys of _entries, oldest first
        self._max = max(0, max_entries)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._max > 0

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def put(self, key: K, value: V) -> None:
        if self._max <= 0:
            return
        with self._lock:
            if key not in self._entries:
                if len(self._entries) >= self._max:
                    del self._entries[self._arrivals.popleft()]
                self._arrivals.append(key)
            self._entries[key] = value

    def configure(self, max_entries: int) -> None:
        """Set the bound; forgets everything."""
        with self._lock:
            self._max = max(0, max_entries)
            self._entries.clear()
            self._arrivals.clear()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._arrivals.clear()

    def __len__(self) -> int:
        return len(self._entries)


class KnowledgeScopedMap(Generic[K, V]):
    """A :class:`BoundedMap` whose entries hold for one version of the knowledge data.

    What was read or built under other knowledge data (reloaded, or a test's) may say
    something else now: a write under a new owner forgets every entry first, and a read under
    any owner but the last writer's finds nothing.
    """

    def __init__(self, max_entries: int) -> None:
        self._entries: BoundedMap[K, V] = BoundedMap(max_entries)
        self._owner: object | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._entries.enabled

    def configure(self, max_entries: int) -> None:
        """Set the bound; forgets everything."""
        self._entries.configure(max_entries)

    def get(self, key: K, owner: object) -> V | None:
        """The value remembered for ``key`` under the knowledge data ``owner``."""
        if owner is not self._owner:
            return None
        return self._entries.get(key)

    def put(self, key: K, value: V, owner: object) -> None:
        if owner is not self._owner:
            with self._lock:
                if owner is not self._owner:
                    self._entries.clear()
                    self._owner = owner
        self._entries.put(key, value)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
