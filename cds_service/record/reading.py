"""What one call's record building could not read: state shared by the matchers of one call.

The value-set matchers are compiled once per process and shared by every call (and thread),
so what belongs to one call lives here, in a context variable set by
:func:`cds_service.record.build.build_record` for the duration of that call:

* the **text budget**: the total characters of not-yet-seen text the call may search
  (matching is linear; the budget makes the bound explicit whatever the body-size settings),
* the count of **ill-typed codings** met (a ``system``, ``code`` or ``display`` that is not a
  string): the resource holding one cannot be read, and the cards say so.

Outside such a block (unit tests of the matchers, the warm-up call) nothing is limited or
counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final

#: Characters of not-yet-seen text one call may search (about 4x the default 5 MiB body).
MAX_TEXT_CHARS_PER_CALL: Final = 20_000_000


@dataclass
class CallReading:
    """One call's reading state."""

    text_chars_left: int
    text_exhausted: bool = False
    ill_typed: int = 0


_CURRENT: ContextVar[CallReading | None] = ContextVar("cds_call_reading", default=None)


@contextmanager
def call_reading(text_chars: int = MAX_TEXT_CHARS_PER_CALL) -> Iterator[CallReading]:
    """Limit and count what the matchers read inside this block (one call)."""
    state = CallReading(text_chars)
    token = _CURRENT.set(state)
    try:
        yield state
    finally:
        _CURRENT.reset(token)


def spend_text_budget(chars: int) -> bool:
    """Take ``chars`` from the call's text budget; False (and marked) when it lacks them."""
    state = _CURRENT.get()
    if state is None:
        return True
    if chars > state.text_chars_left:
        state.text_exhausted = True
        return False
    state.text_chars_left -= chars
    return True


def text_budget_exhausted() -> bool:
    """Whether this call has run out of text budget (an answer may be "no" only for that)."""
    state = _CURRENT.get()
    return state is not None and state.text_exhausted


def note_ill_typed() -> None:
    """Count a coding whose ``system``, ``code`` or ``display`` is not a string."""
    state = _CURRENT.get()
    if state is not None:
        state.ill_typed += 1
