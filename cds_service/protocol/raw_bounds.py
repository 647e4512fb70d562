"""Prove from the raw bytes of a parsed JSON body that it is within the JSON limits.

Why: :func:`cds_service.protocol.limits.check_json_limits` walks every value of the parsed
document in Python, which cost more than parsing the body itself (1.7 ms for a 200-resource
call, 70 ms for 5,000; bench/README.md), on every call, including the calls that need nothing
else (no natalizumab order). The same limits can almost always be *proven* from the bytes
with a few C-speed passes (``count``, ``translate``, ``replace``, ``find``, one regex):

* **resources**: every object key ``resourceType`` is spelled ``"resourceType"`` in the bytes
  unless its letters are written as ``\\u00XX`` escapes, so counting that token (an
  over-count: it may also be a value) bounds the resource count;
* **arrays**: an array of k items holds k - 1 commas, so fewer commas than the limit in the
  whole body bound every array;
* **strings**: a string of more than M characters takes more than M bytes with no unescaped
  quote among them, and such a run of bytes covers a multiple of M / 2: the runs around those
  few offsets bound every string and key;
* **depth**: with escapes masked, deleting every byte but ``{}[]"``, then the strings (quote
  pairs), leaves the bracket skeleton of the document, objects' braces written as brackets
  (in valid JSON the kinds nest alike, so this changes no depth). One
  ``replace(b"[]", b"")`` removes exactly the empty pairs, the leaves, and so lowers the depth
  by exactly one: the skeleton empties after as many passes as the document is deep.

Every answer is either "proven within the limits" or "not proven": the caller then runs the
exact walk, which decides and names the error as before. So a hostile body is refused exactly
as it was, and only the common case got cheaper. The bytes must be a document that orjson
has parsed (valid JSON), which is what the reasoning above relies on.
"""

from __future__ import annotations

import re
from typing import Final

#: ``translate`` tables: every byte but brackets and quotes deleted, braces read as brackets.
_NOT_STRUCTURE: Final = bytes(b for b in range(256) if b not in b'{}[]"')
_BRACES_AS_BRACKETS: Final = bytes.maketrans(b"{}", b"[]")
_QUOTED: Final = re.compile(rb'"[^"]*"')
#: ``\u0041``-``\u007F``: an ASCII letter (or punctuation) written as an escape.
_ASCII_ESCAPE: Final = re.compile(rb"\\u00[4-7][0-9a-fA-F]")
_RESOURCE_KEY: Final = b'"resourceType"'


def mask_escapes(body: bytes) -> bytes:
    """The body with ``\\\\`` and ``\\"`` escapes replaced by two placeholder bytes.

    Same length, and every remaining quote delimits a string. In valid JSON a backslash only
    occurs in a string, starting an escape; replacing ``\\\\`` pairs left to right pairs them
    as a parser does, so the ``\\"`` left after that are exactly the escaped quotes.
    """
    if b"\\" not in body:
        return body
    return body.replace(b"\\\\", b"__").replace(b'\\"', b"__")


def skeleton(masked: bytes) -> bytes:
    """The structural brackets of the document, in order, with every string removed.

    Removing two adjacent quotes removes an empty string or joins two strings that nothing
    structural separates, so after the ``""`` pairs are gone the remaining quotes still pair
    up as string delimiters, and the regex removes what is left of the strings.
    """
    structure = masked.translate(_BRACES_AS_BRACKETS, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in structure:
        structure = _QUOTED.sub(b"", structure)
    return structure


def depth_at_most(masked: bytes, max_depth: int) -> bool:
    """Whether containers nest at most ``max_depth`` deep (one C-speed pass per level)."""
    structure = skeleton(masked)
    for _ in range(max_depth):
        if not structure:
            return True
        shorter = structure.replace(b"[]", b"")
        if len(shorter) == len(structure):
            return False  # no empty pair: not the skeleton of valid JSON, let the walk decide
        structure = shorter
    return not structure


#: The shortest resource, ``{"resourceType":""}``: a shorter body holds fewer resources.
_MIN_RESOURCE_BYTES: Final = 19


def resources_at_most(masked: bytes, max_resources: int) -> bool:
    if len(masked) < _MIN_RESOURCE_BYTES * (max_resources + 1):
        return True
    if masked.count(_RESOURCE_KEY) <= max_resources:
        return b"\\" not in masked or _ASCII_ESCAPE.search(masked) is None
    return False


def arrays_at_most(masked: bytes, max_items: int) -> bool:
    # More than max_items items take at least 2 * max_items + 3 bytes: "[", values, commas, "]".
    return len(masked) <= 2 * max_items + 2 or masked.count(b",") < max_items


def strings_at_most(masked: bytes, max_chars: int) -> bool:
    if len(masked) <= max_chars:
        return True
    step = max(1, max_chars // 2)
    for offset in range(step, len(masked), step):
        start = masked.rfind(b'"', 0, offset) + 1
        end = masked.find(b'"', offset)
        if (len(masked) if end < 0 else end) - start > max_chars:
            return False
    return True


def depth_within(body: bytes, max_depth: int) -> bool:
    """True only if the document ``body`` parses to nests at most ``max_depth`` deep.

    For a body whose other limits :func:`within_limits` has already proven: the depth alone.
    """
    return depth_at_most(mask_escapes(body), max_depth)


_PREFETCH_KEY: Final = b'"prefetch"'
#: What follows the key ``prefetch`` when its value is an object: a colon, then the brace.
_OPENS_PREFETCH_OBJECT: Final = re.compile(rb"[ \t\n\r]*:[ \t\n\r]*\{")


def prefetch_key_at(body: bytes) -> tuple[int, int] | None:
    """Where the first token ``"prefetch"`` of ``body`` begins, and the brace of the object
    that follows its colon; None when there is no such token, or when a ``\\u00XX`` escape
    anywhere could spell a key ``prefetch`` that the token search would miss.

    With no such escape every key ``prefetch`` is written as that very token, so the first
    one in a valid JSON document is at or after the first token. Whether that token is a key
    of the top-level object is for the caller to show: the bytes before it are the start of
    an object at its top level exactly when a last member and a brace complete them into a
    document (inside a string the quote would close it before a letter, where a value is due
    the colon after the key would be wrong, and one level deeper the brace would leave the
    document open).
    """
    if b"\\" in body and _ASCII_ESCAPE.search(body) is not None:
        return None
    at = body.find(_PREFETCH_KEY)
    if at <= 0:
        return None
    opened = _OPENS_PREFETCH_OBJECT.match(body, at + len(_PREFETCH_KEY))
    return None if opened is None else (at, opened.end() - 1)


def within_limits(
    body: bytes,
    *,
    max_depth: int | None,
    max_resources: int,
    max_string_chars: int,
    max_array_items: int,
) -> bool:
    """True only if the JSON limit walk would accept the document ``body`` parses to.

    False means "not proven" (the exact walk must decide), never "over the limit". With
    ``max_depth=None`` the depth is not proven (the caller holds it to the limit otherwise):
    it is the one costly pass, the others are a few microseconds for any body.
    """
    masked = mask_escapes(body)
    return (
        resources_at_most(masked, max_resources)
        and arrays_at_most(masked, max_array_items)
        and strings_at_most(masked, max_string_chars)
        and (max_depth is None or depth_at_most(masked, max_depth))
    )
