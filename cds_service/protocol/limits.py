"""Request-level limits: content type, body size, JSON parsing.

Kept apart from the routes so that limits can be tightened in one place (the security work
adds depth and resource-count limits here) and so that every POST route applies the same
checks in the same order: 415 before 413 before 400.
"""

from __future__ import annotations

import hashlib
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import orjson
from starlette.requests import Request

from cds_service.bounded import BoundedMap
from cds_service.protocol.errors import (
    INVALID_JSON,
    PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    ProtocolError,
)
from cds_service.protocol.prefetch_split import PARSED_PREFETCHES
from cds_service.protocol.raw_bounds import depth_within, within_limits


def is_json_media_type(content_type: str | None) -> bool:
    """``application/json`` or a ``+json`` type such as ``application/fhir+json``."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def check_content_type(request: Request) -> None:
    """Raise 415 unless the body is declared as JSON."""
    if not is_json_media_type(request.headers.get("content-type")):
        raise ProtocolError(
            415, UNSUPPORTED_MEDIA_TYPE, "The request body must be sent as application/json."
        )


_BODY_BYTES: ContextVar[int] = ContextVar("cds_body_bytes", default=0)


def body_bytes_read() -> int:
    """Size of the body :func:`read_body` last read in this request's context (0: none).

    How heavy a call is to evaluate follows its size (:mod:`cds_service.offload`); the count
    is kept here, where the bytes are counted, so no signature has to carry it.
    """
    return _BODY_BYTES.get()


def _too_large(max_bytes: int) -> ProtocolError:
    return ProtocolError(
        413, PAYLOAD_TOO_LARGE, f"The request body is larger than the limit of {max_bytes} bytes."
    )


async def read_body(request: Request, max_bytes: int) -> bytes:
    """Read the body, refusing (413) as soon as it exceeds ``max_bytes``.

    ``Content-Length`` is checked first so an honest oversized upload is refused before it
    is read; the streamed count catches chunked bodies and lying headers.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise ProtocolError(
                400, INVALID_JSON, "The Content-Length header is not a number."
            ) from None
        if length > max_bytes:
            raise _too_large(max_bytes)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    _BODY_BYTES.set(total)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """Parse with orjson; anything that is not one valid UTF-8 JSON document is a 400."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ProtocolError(400, INVALID_JSON, "The request body is not valid JSON.") from None


#: No field of a CDS Hooks call or FHIR resource needs a megabyte-long string.
MAX_STRING_CHARS: Final = 1_000_000
#: No array of a CDS Hooks call needs more items than this (bounds FHIR validation work).
MAX_ARRAY_ITEMS: Final = 100_000
TOO_DEEP: Final = "too_deep"
TOO_MANY_RESOURCES: Final = "too_many_resources"
VALUE_TOO_LARGE: Final = "value_too_large"


def check_json_limits(
    document: Any,
    *,
    max_depth: int,
    max_resources: int,
    max_string_chars: int = MAX_STRING_CHARS,
    max_array_items: int = MAX_ARRAY_ITEMS,
    body_bytes: int | None = None,
) -> int:
    """Refuse absurd JSON before any model or FHIR validation sees it (issue 5).

    Nesting deeper than ``max_depth`` containers is a 400 ``too_deep``; more than
    ``max_resources`` objects with a ``resourceType`` is a 413 ``too_many_resources``; a
    string or key longer than ``max_string_chars`` or an array longer than
    ``max_array_items`` is a 413 ``value_too_large``. The walk is iterative (no recursion
    limit can be hit) and touches each value once: linear in the body size, which
    :func:`read_body` has already capped. Returns the number of resources found, which the
    call-wide budget (:mod:`cds_service.protocol.budget`) starts from.
    """
    # Level by level, with exact-type checks: this walk sees every value of a body of up to
    # 5 MiB, so it is written for speed (bench/README.md) as well as for bounded memory.
    # A JSON string takes at least one byte per character: a body no longer than the string
    # limit cannot hold a string over it, and the (costly) per-string checks are skipped.
    check_strings = body_bytes is None or body_bytes > max_string_chars
    if document.__class__ is str and len(document) > max_string_chars:
        raise _value_too_large()
    resources = 0
    level: list[Any] = [document] if document.__class__ in (dict, list) else []
    depth = 1
    while level:
        if depth > max_depth:
            raise ProtocolError(
                400, TOO_DEEP, f"The JSON body is nested deeper than {max_depth} levels."
            )
        deeper: list[Any] = []
        push, extend = deeper.append, deeper.extend
        for value in level:
            if value.__class__ is dict:
                if value.get("resourceType").__class__ is str:
                    resources += 1
                    if resources > max_resources:
                        raise ProtocolError(
                            413,
                            TOO_MANY_RESOURCES,
                            f"The request holds more than {max_resources} FHIR resources.",
                        )
                if check_strings and any(len(key) > max_string_chars for key in value):
                    raise _value_too_large()
                children: Any = value.values()
            else:
                if len(value) > max_array_items:
                    raise _value_too_large()
                children = value
            if check_strings:
                for child in children:
                    kind = child.__class__
                    if kind is str:
                        if len(child) > max_string_chars:
                            raise _value_too_large()
                    elif kind is dict or kind is list:
                        push(child)
            else:
                extend([c for c in children if c.__class__ is dict or c.__class__ is list])
        level = deeper
        depth += 1
    return resources


def _value_too_large() -> ProtocolError:
    return ProtocolError(
        413, VALUE_TOO_LARGE, "The request holds a string or array larger than the service accepts."
    )


async def read_json(
    request: Request,
    max_bytes: int,
    *,
    max_depth: int | None = None,
    max_resources: int | None = None,
) -> Any:
    """Content type, size and syntax checks of one JSON POST body, in contract order.

    With ``max_depth``/``max_resources`` (the app passes its settings) the parsed document
    is held to :func:`check_json_limits`: proven within them from its bytes when possible
    (:mod:`cds_service.protocol.raw_bounds`, a fraction of the walk's cost), else walked.
    """
    check_content_type(request)
    body = await read_body(request, max_bytes)
    document = parse_json(body)
    if max_depth is not None or max_resources is not None:
        depth = max_depth if max_depth is not None else 1024
        resources = max_resources if max_resources is not None else MAX_ARRAY_ITEMS
        _hold_limits(body, document, max_depth=depth, max_resources=resources)
    return document


#: Which limits :func:`_hold_limits` proves from the bytes: all of them, all but the depth
#: (held later, :class:`PrefetchDepth`), or the depth alone (the others proven already).
_Proof = Literal["all", "all but depth", "depth"]


def _hold_limits(
    body: bytes, document: Any, *, max_depth: int, max_resources: int, prove: _Proof = "all"
) -> bool:
    """Hold the parsed ``body`` to the limits: the ``prove`` ones proven from its bytes, else
    all of them walked exactly, depth included, which raises the error.

    True when the bytes proved it (nothing was walked).
    """
    if prove == "depth":
        proven = depth_within(body, max_depth)
    else:
        proven = within_limits(
            body,
            max_depth=None if prove == "all but depth" else max_depth,
            max_resources=max_resources,
            max_string_chars=MAX_STRING_CHARS,
            max_array_items=MAX_ARRAY_ITEMS,
        )
    if proven:
        return True
    check_json_limits(
        document, max_depth=max_depth, max_resources=max_resources, body_bytes=len(body)
    )
    return False


#: Prefetches whose depth was held, by (depth limit, :func:`prefetch_digest`): at most so many.
PROVEN_PREFETCH_ENTRIES: Final = 4096
PROVEN_PREFETCH: Final[BoundedMap[tuple[int, bytes], bool]] = BoundedMap(PROVEN_PREFETCH_ENTRIES)


def prefetch_digest(prefetch: Any) -> bytes | None:
    """SHA-256 of ``prefetch`` as orjson writes it back, or ``None`` when orjson cannot
    (nesting beyond its own limit, an integer beyond 64 bits). For a prefetch whose bytes
    cannot be named in place (:class:`~cds_service.protocol.prefetch_split.PrefetchSplit`)."""
    try:
        return hashlib.sha256(orjson.dumps(prefetch)).digest()
    except (TypeError, orjson.JSONEncodeError):
        return None


@dataclass
class PrefetchDepth:
    """The depth limit over a hook call's ``prefetch``, held when the call first reads it.

    Why deferred: a call without a natalizumab order never reads prefetch (contract
    section 1 answers it at once, "whatever prefetch holds"), and proving the depth of a
    large prefetch from its bytes is most of what that everyday call would cost beyond
    parsing (bench/README.md). Every other limit, and the depth of everything but
    ``prefetch``, is held before the call is read; whatever walks prefetch (the trigger's
    Medication lookup, gathering, record building) calls :meth:`hold` first, and then the
    answer is the one the whole-body check gives: the same 400 ``too_deep``.

    With ``remember`` (the app's record caches are on) the prefetch is also named by its
    digest, which :meth:`hold` returns: an EHR sends the same prefetch again (order-select,
    then order-sign), and a prefetch already held to this depth limit is not proven again
    (the same JSON nests the same; the rest of the body was walked exactly). The digest also
    lets the record cache name the call's resources without serialising them a second time
    (:mod:`cds_service.record.record_cache`). Two prefetches with the same digest are the
    same JSON. ``digest`` is that of the prefetch's own bytes when they name it (it is the
    body's last member, as EHRs and the CDS Hooks examples write it:
    :mod:`~cds_service.protocol.prefetch_split`); otherwise prefetch is written back by
    orjson to be digested, which costs a serialisation.
    """

    body: bytes
    document: Any
    max_depth: int
    max_resources: int
    remember: bool = False
    digest: bytes | None = None
    _held: bool = field(default=False, repr=False)
    _digest: bytes | None = field(default=None, repr=False)

    def hold(self) -> bytes | None:
        """Raise the limits' error if prefetch nests too deep; a no-op once it has passed.

        Returns the prefetch's digest when remembered, else ``None``.
        """
        if not self._held:
            digest = None
            if self.remember:
                digest = self.digest or prefetch_digest(self.document["prefetch"])
            proven = (self.max_depth, digest) if digest is not None else None
            if proven is None or not PROVEN_PREFETCH.get(proven):
                # The other limits were proven at parsing: only the depth is left to prove.
                _hold_limits(
                    self.body,
                    self.document,
                    max_depth=self.max_depth,
                    max_resources=self.max_resources,
                    prove="depth",
                )
                if proven is not None:
                    PROVEN_PREFETCH.put(proven, True)
            self._digest = digest
            self._held = True
        return self._digest


async def read_hook_json(
    request: Request,
    max_bytes: int,
    *,
    max_depth: int,
    max_resources: int,
    remember_prefetch: bool = False,
) -> tuple[Any, PrefetchDepth | None]:
    """:func:`read_json` for a hook call, with the depth of ``prefetch`` left to be held.

    Returns the document and the check still owed on its prefetch (``None`` when nothing is
    owed: no prefetch object, or a body that the exact walk has checked whole);
    ``remember_prefetch`` is :class:`PrefetchDepth`'s ``remember``.
    """
    check_content_type(request)
    body = await read_body(request, max_bytes)
    if remember_prefetch:
        document, split = PARSED_PREFETCHES.document(body, parse_json)
    else:
        document, split = parse_json(body), None
    prefetch = document.get("prefetch") if document.__class__ is dict else None
    deferred = prefetch.__class__ is dict
    proven = _hold_limits(
        body,
        document,
        max_depth=max_depth,
        max_resources=max_resources,
        prove="all but depth" if deferred else "all",
    )
    if not (proven and deferred):
        return document, None  # held whole: by the bytes, or by the exact walk
    # The envelope and context (with draftOrders) are small: walked exactly, prefetch left out.
    rest = {key: value for key, value in document.items() if key != "prefetch"}
    check_json_limits(rest, max_depth=max_depth, max_resources=max_resources, body_bytes=0)
    # A split's digest names the prefetch (its bytes make it); taken when prefetch is the
    # document's last key, so that a later member (a hookInstance) cannot make it new.
    named = split is not None and next(reversed(document)) == "prefetch"
    digest = split.digest if split is not None and named else None
    return document, PrefetchDepth(
        body, document, max_depth, max_resources, remember_prefetch, digest
    )
