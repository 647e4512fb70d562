"""JWK Set loading and caching for the CDS Hooks JWT check (issue 5).

Why a module of its own: the JWK Set of each trusted issuer is configured out of band
(``CDS_TRUSTED_ISSUERS``: ``iss`` -> ``https://`` URL or ``file://`` path). A remote set is
fetched with a short timeout, kept for ``jwks_cache_seconds`` and refetched when a token names
a ``kid`` the cached set does not have (key rotation) -- but at most once a minute per issuer,
so a flood of tokens with random ``kid`` values cannot turn the service into a traffic
amplifier against the issuer. Only keys usable for the allowed signature algorithms are kept.

Plain ``http://`` is accepted only for loopback hosts (local test stubs); every real issuer
must publish its JWK Set over HTTPS.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import httpx
from cryptography.hazmat.primitives.asymmetric.ec import (
    SECP256R1,
    SECP384R1,
    EllipticCurvePublicKey,
)
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt import PyJWK
from jwt.exceptions import PyJWTError

logger = logging.getLogger("cds_service.auth")

#: The only signature algorithms the service accepts (CDS Hooks 2.0: never ``none``, never HMAC).
ALLOWED_ALGORITHMS: frozenset[str] = frozenset({"ES384", "ES256", "RS384", "RS256"})

#: A JWK Set is a few kilobytes; anything far bigger is not one.
MAX_JWKS_BYTES = 256 * 1024
#: Refetch an issuer's set for an unknown ``kid`` no more often than this.
MIN_REFRESH_INTERVAL_S = 60.0
#: RSA keys below this size are refused (NIST SP 800-57: 2048 bits minimum).
MIN_RSA_BITS = 2048

PublicKey = RSAPublicKey | EllipticCurvePublicKey


class JwksError(Exception):
    """The key for a token could not be found or its JWK Set could not be loaded.

    The message is a short reason for the log; it never contains key material or tokens.
    """


@dataclass(frozen=True)
class VerificationKey:
    """One usable public key from an issuer's JWK Set."""

    kid: str
    key: PublicKey
    alg: str | None  # the JWK's own ``alg`` member, when it states one

    def supports(self, alg: str) -> bool:
        """Whether this key may verify a signature made with ``alg``.

        Why: binding the header ``alg`` to the key type prevents algorithm-confusion attacks
        (e.g. an EC key used with an RSA algorithm or a P-256 key with ES384).
        """
        if alg not in ALLOWED_ALGORITHMS or (self.alg is not None and self.alg != alg):
            return False
        if alg in ("RS256", "RS384"):
            return isinstance(self.key, RSAPublicKey)
        if not isinstance(self.key, EllipticCurvePublicKey):
            return False
        expected = SECP256R1 if alg == "ES256" else SECP384R1
        return isinstance(self.key.curve, expected)


@dataclass
class _Entry:
    keys: dict[str, VerificationKey] = field(default_factory=dict)
    loaded_at: float = float("-inf")
    last_attempt: float = float("-inf")


def parse_jwks(document: Any) -> dict[str, VerificationKey]:
    """Turn a JWK Set document into ``kid`` -> key, skipping keys the service cannot use.

    Keys without a ``kid``, with ``use`` other than ``sig``, private keys, symmetric keys,
    unknown curves and short RSA keys are dropped (each one silently: the set as a whole may
    still hold the key a token needs).
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError("jwks document is not a JWK Set")
    keys: dict[str, VerificationKey] = {}
    for raw in document["keys"]:
        key = _parse_key(raw)
        if key is not None and key.kid not in keys:
            keys[key.kid] = key
    return keys


def _parse_key(raw: object) -> VerificationKey | None:
    if not isinstance(raw, dict):
        return None
    kid = raw.get("kid")
    if not isinstance(kid, str) or not kid or raw.get("use", "sig") != "sig":
        return None
    if raw.get("kty") not in ("RSA", "EC") or "d" in raw:
        return None
    alg = raw.get("alg")
    if alg is not None and alg not in ALLOWED_ALGORITHMS:
        return None
    try:
        key = PyJWK(raw).key
    except (PyJWTError, ValueError, TypeError, KeyError):
        return None
    if isinstance(key, RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            return None
    elif not (
        isinstance(key, EllipticCurvePublicKey) and isinstance(key.curve, SECP256R1 | SECP384R1)
    ):
        return None
    return VerificationKey(kid=kid, key=key, alg=alg)


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and addresses in 127.0.0.0/8 or ``::1``."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def validate_jwks_url(url: str) -> None:
    """Refuse JWK Set locations the service must never read from.

    Accepted: ``https://host/...``, ``file:///path`` and ``http://`` to a loopback host.
    """
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise JwksError("file jwks url with a remote host")
        return
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise JwksError("jwks url scheme not allowed")
    if parts.username is not None or parts.password is not None:
        raise JwksError("jwks url with userinfo")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise JwksError("plain http jwks url to a non-loopback host")


class JwksCache:
    """Keys of every trusted issuer, loaded lazily and cached.

    Not thread-shared state in the async sense only: all methods run on the event loop; a
    cold-start race may fetch one set twice, which is harmless.
    """

    def __init__(
        self,
        issuers: Mapping[str, str],
        cache_seconds: float = 3600,
        *,
        timeout_s: float = 3.0,
        min_refresh_interval_s: float = MIN_REFRESH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._issuers = dict(issuers)
        self._cache_seconds = float(cache_seconds)
        self._timeout_s = timeout_s
        self._min_refresh = min_refresh_interval_s
        self._clock = clock
        self._transport = transport
        self._entries: dict[str, _Entry] = {}

    def jwks_url(self, iss: str) -> str | None:
        """The configured JWK Set location of ``iss``, or ``None`` when it is not trusted."""
        return self._issuers.get(iss)

    async def get_key(self, iss: str, kid: str) -> VerificationKey:
        """The key ``kid`` of issuer ``iss``; raises :class:`JwksError` when there is none."""
        url = self._issuers.get(iss)
        if url is None:
            raise JwksError("issuer not trusted")
        entry = self._entries.setdefault(iss, _Entry())
        now = self._clock()
        stale = now - entry.loaded_at >= self._cache_seconds
        # Every attempt, failed ones too, counts for the rate limit: neither random ``kid``
        # values nor an unreachable issuer make the service fetch more than once a minute.
        if (stale or kid not in entry.keys) and now - entry.last_attempt >= self._min_refresh:
            await self._load(entry, url, now)
        key = entry.keys.get(kid)
        if key is None:
            raise JwksError("kid not in issuer jwks")
        return key

    async def _load(self, entry: _Entry, url: str, now: float) -> None:
        entry.last_attempt = now
        try:
            document = await self._read(url)
            entry.keys = parse_jwks(document)
            entry.loaded_at = now
        except JwksError as exc:
            # Keep the keys already known: a transient outage of the issuer's endpoint
            # must not lock every client out; a successful reload replaces them.
            logger.warning("jwks load failed: %s", exc)

    async def _read(self, url: str) -> Any:
        validate_jwks_url(url)
        parts = urlsplit(url)
        if parts.scheme == "file":
            return _read_file(parts.path)
        return await self._fetch(url)

    async def _fetch(self, url: str) -> Any:
        timeout = httpx.Timeout(self._timeout_s)
        try:
            async with (
                httpx.AsyncClient(
                    timeout=timeout, follow_redirects=False, transport=self._transport
                ) as client,
                client.stream("GET", url, headers={"Accept": "application/json"}) as response,
            ):
                if response.status_code != 200:
                    raise JwksError(f"jwks http status {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_JWKS_BYTES:
                        raise JwksError("jwks document too large")
        except httpx.HTTPError as exc:
            raise JwksError(f"jwks fetch failed: {type(exc).__name__}") from None
        return _decode_json(bytes(body))


def _read_file(path: str) -> Any:
    local = Path(url2pathname(unquote(path)))
    try:
        with local.open("rb") as handle:
            data = handle.read(MAX_JWKS_BYTES + 1)
    except OSError as exc:
        raise JwksError(f"jwks file unreadable: {type(exc).__name__}") from None
    if len(data) > MAX_JWKS_BYTES:
        raise JwksError("jwks document too large")
    return _decode_json(data)


def _decode_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise JwksError("jwks document is not JSON") from None
