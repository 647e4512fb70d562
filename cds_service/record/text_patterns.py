"""Free-text patterns of the value sets, matched in time linear in the text.

Why not Python's ``re`` alone: it backtracks. ``(\\bms\\b|multiple sclerosis).*\\b(relapse)\\b``
on a display of "ms ms ms ..." retries the ``.*`` from every "ms", so 2,400 such Conditions
took 71 s in one call (issue 11). The patterns are data that informaticists edit, so the
guarantee must come from the engine, not from each pattern being written carefully:

* every pattern RE2 accepts (all but those with lookaround) runs on RE2 (``google-re2``),
  whose automata match in time linear in the text whatever the pattern; it is also about
  twenty times faster than ``re`` on these alternations of drug and disease names;
* a pattern that needs lookaround (RE2 has none; the HIV pattern uses it to tell a test or a
  screening from an infection) runs on ``re`` and must then use **bounded repetition only**
  (``{0,40}``, never ``*``, ``+`` or ``{n,}``): the work at each position is then bounded by
  the pattern alone and the search is linear. A pattern that breaks this rule fails at
  start-up (:class:`UnsafePattern`), not in a call.

RE2's ``\\b`` is ASCII-only: it sees a word boundary next to a non-ASCII letter where ``re``
does not (``ñms``), so for patterns made of ``\\b``-delimited words it recognises the same
texts as ``re`` and, in such mixed-alphabet words, a few more; it never recognises fewer.

The total text searched in one call is bounded too (:mod:`cds_service.record.reading`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator, Sequence
from typing import Any, Final

import re2  # google-re2

_sre_parser: Any = importlib.import_module("re._parser")  # the parser ``re`` itself uses


class UnsafePattern(ValueError):
    """A pattern that would need backtracking over unbounded repetition."""


def _re2_options() -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.never_capture = True  # only "does it match" is asked
    options.log_errors = False  # a pattern RE2 cannot parse goes to ``re``, quietly
    return options


_RE2_OPTIONS: Final = _re2_options()


def _re2_compile(pattern: str) -> Any | None:
    """The RE2 program of ``pattern``, or None when RE2 cannot parse it (lookaround)."""
    try:
        return re2.compile(pattern.encode("utf-8"), _RE2_OPTIONS)
    except re2.error:
        return None


def _unbounded_repeats(parsed: Any) -> Iterator[str]:
    """Each ``*``, ``+`` or ``{n,}`` anywhere in a parsed ``re`` pattern (lookarounds too)."""
    for op, argument in parsed:
        name = str(op)
        if name in {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}:
            low, high, inner = argument
            if high == _sre_parser.MAXREPEAT:
                yield f"repetition {{{low},}}"
            yield from _unbounded_repeats(inner)
        elif name == "SUBPATTERN":
            yield from _unbounded_repeats(argument[-1])
        elif name == "BRANCH":
            for alternative in argument[1]:
                yield from _unbounded_repeats(alternative)
        elif name == "ATOMIC_GROUP":
            yield from _unbounded_repeats(argument)
        elif name in {"ASSERT", "ASSERT_NOT"}:
            yield from _unbounded_repeats(argument[1])
        elif name == "GROUPREF_EXISTS":
            for branch in argument[1:]:
                if branch is not None:
                    yield from _unbounded_repeats(branch)


def check_backtracking_safe(pattern: str) -> None:
    """Raise :class:`UnsafePattern` unless every repetition in ``pattern`` is bounded."""
    found = sorted(set(_unbounded_repeats(_sre_parser.parse(pattern, re.IGNORECASE))))
    if found:
        raise UnsafePattern(
            f"pattern {pattern!r} needs Python's backtracking engine (RE2 cannot parse it) and "
            f"has unbounded {', '.join(found)}: use a bounded repetition such as {{0,40}}"
        )


def _union(patterns: Sequence[str]) -> str:
    return "|".join(f"(?:{pattern})" for pattern in patterns)


class TextPattern:
    """The text-pattern extensions of one value set (or of a union of sets), compiled once."""

    def __init__(self, sources: Sequence[str], *, name: str = "") -> None:
        self.name = name
        self.sources: tuple[str, ...] = tuple(sources)
        linear: list[str] = []
        backtracking: list[str] = []
        for source in self.sources:
            if _re2_compile(source) is not None:
                linear.append(source)
            else:
                re.compile(source)  # a syntax error names itself here
                check_backtracking_safe(source)
                backtracking.append(source)
        self.linear_sources = tuple(linear)
        self.backtracking_sources = tuple(backtracking)
        self._linear = _re2_compile(_union(linear)) if linear else None
        self._backtracking = (
            re.compile(_union(backtracking), re.IGNORECASE) if backtracking else None
        )

    def search(self, text: str) -> bool:
        """True when any of the patterns occurs in ``text`` (case-insensitive)."""
        # Bytes in: RE2 works on UTF-8, and its str wrapper would also map offsets back to
        # characters, which a yes/no question never needs.
        if self._linear is not None and self._linear.search(text.encode("utf-8", "replace")):
            return True
        return self._backtracking is not None and self._backtracking.search(text) is not None

    def __repr__(self) -> str:
        return f"TextPattern({self.name!r}, {len(self.sources)} patterns)"
