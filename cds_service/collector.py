"""The cyclic garbage collector, tuned for a service whose calls parse large JSON bodies.

Why: a hook call's data (the parsed body, the record, the cards) is acyclic and freed by
reference counting when the call ends, yet while it lives the collector rescans it each time
the allocations of parsing and reading pass its thresholds: 13-20 % of a call's CPU
(bench/README.md). So start-up objects are frozen out of its view (``gc.freeze``), its full
collections made rarer, and it is paused while hook calls run and resumed as soon as none
does. Cycles made meanwhile wait for the next collection; a pause never outlasts
:data:`MAX_PAUSE_S`, so under a load that never lets the process go idle the collector runs
as usual once that time has passed.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

#: Thresholds once start-up is frozen. After ``gc.freeze()`` the oldest generation holds little
#: but the current call's data, so Python's default (a full collection every 10th middle one)
#: rescans a large body several times per call; a call's garbage is acyclic.
THRESHOLDS: Final = (5000, 20, 100)
#: Longest the collector stays paused while calls keep overlapping, seconds.
MAX_PAUSE_S: Final = 1.0


def tune_after_start_up() -> None:
    """Freeze what start-up loaded (it lives as long as the process) and set the thresholds."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


class CollectorPause:
    """Pauses the collector while at least one call runs; shared by all calls of a process."""

    def __init__(
        self, max_pause_s: float = MAX_PAUSE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_pause_s = max_pause_s
        self._clock = clock
        self._lock = threading.Lock()
        self._running = 0
        self._paused_at: float | None = None  # set while this object holds the collector off

    @contextmanager
    def during_call(self) -> Iterator[None]:
        self._enter()
        try:
            yield
        finally:
            self._exit()

    def _enter(self) -> None:
        with self._lock:
            self._running += 1
            if self._paused_at is not None:
                self._resume_if_overdue()
            # Only a collector that is on is paused: one turned off elsewhere stays off.
            elif self._running == 1 and gc.isenabled():
                gc.disable()
                self._paused_at = self._clock()

    def _exit(self) -> None:
        with self._lock:
            self._running -= 1
            if self._paused_at is None:
                return
            if self._running == 0:
                gc.enable()
                self._paused_at = None
            else:
                self._resume_if_overdue()

    def _resume_if_overdue(self) -> None:
        if self._paused_at is not None and self._clock() - self._paused_at > self._max_pause_s:
            gc.enable()
            self._paused_at = None

    @property
    def paused(self) -> bool:
        return self._paused_at is not None


COLLECTOR_PAUSE = CollectorPause()
