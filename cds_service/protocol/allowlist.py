"""Which ``fhirServer`` URLs the service may call (contract section 0).

The service sends the EHR's bearer token to ``fhirServer``; a request could name any URL,
so fetching is allowed only to servers the operator listed in ``CDS_ALLOWED_FHIR_SERVERS``.
This is a pure function so that every edge case can be unit-tested: same scheme, host and
port as an entry, path equal to the entry's or below it at a ``/`` boundary, no userinfo.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: str
    port: int
    segments: tuple[str, ...]


def _segments(path: str) -> tuple[str, ...] | None:
    """Non-empty path segments; ``None`` for dot segments or encoded separators.

    ``/fhir/../admin`` or ``/fhir/%2e%2e/admin`` would be "below" ``/fhir`` textually but not
    after normalisation by a server, so such paths are refused outright.
    """
    parts = tuple(part for part in path.split("/") if part)
    for part in parts:
        decoded = unquote(part)
        if decoded in {".", ".."} or "/" in decoded or "\\" in decoded:
            return None
    return parts


def _parse(url: str, *, allow_query: bool = False) -> _Origin | None:
    """Split a URL into comparable parts, or ``None`` when it must never be fetched."""
    if not isinstance(url, str) or any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        return None
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return None
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        return None
    host = (parts.hostname or "").lower()
    if not host or (parts.query and not allow_query) or parts.fragment:
        return None
    segments = _segments(parts.path)
    if segments is None:
        return None
    return _Origin(scheme, host, port or _DEFAULT_PORTS[scheme], segments)


def _within(target: _Origin, base: _Origin) -> bool:
    return (base.scheme, base.host, base.port) == (target.scheme, target.host, target.port) and (
        target.segments[: len(base.segments)] == base.segments
    )


def is_within_server(url: str, base_url: str) -> bool:
    """True when ``url`` (which may carry a query) is ``base_url`` itself or lies below it.

    Used for Bundle ``next`` links: the EHR's FHIR server chooses them, and following one
    off the server would send the bearer token elsewhere.
    """
    target = _parse(url, allow_query=True)
    base = _parse(base_url)
    return target is not None and base is not None and _within(target, base)


def is_allowed_fhir_server(url: str, allowed: Iterable[str]) -> bool:
    """True when ``url`` lies within one of the ``allowed`` base URLs.

    Scheme and host compare case-insensitively, the default port is made explicit, trailing
    slashes do not matter, and the path must equal the entry's path or continue it after a
    ``/`` (``/fhir`` allows ``/fhir/r4`` but not ``/fhir2``). URLs with userinfo, a query, a
    fragment, dot segments or a scheme other than http(s) are never allowed, nor are
    malformed entries.
    """
    target = _parse(url)
    if target is None:
        return False
    for entry in allowed:
        base = _parse(entry)
        if base is not None and _within(target, base):
            return True
    return False
