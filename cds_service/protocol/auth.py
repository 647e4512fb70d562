"""CDS Hooks 2.0 client authentication: verify the JWT of every protected call.

Rules (spec "Trusting CDS Clients", best-practices "JWT", contract section 0):

* ``Authorization: Bearer <JWT>``; header ``alg`` one of ES384/ES256/RS384/RS256 (never
  ``none``, never HMAC: the algorithm list is fixed here, never taken from the token), ``kid``
  present, ``typ`` ``JWT``;
* ``iss`` configured in ``CDS_TRUSTED_ISSUERS``; the key ``kid`` from that issuer's JWK Set;
  a ``jku`` header is honoured only when it is exactly the configured JWK Set URL (the token
  can never point the service at a key it chose);
* ``aud`` (a string, or an array holding it) = the URL of the endpoint called, built from
  ``CDS_PUBLIC_BASE_URL``; ``exp`` in the future and ``iat`` not in the future (60 s leeway);
  ``exp - iat`` at most ``CDS_JWT_MAX_LIFETIME_S``; ``iss``/``jti``/``exp``/``iat`` required,
  ``sub`` and ``tenant`` optional (the CDS Hooks 2.0 claim table has no ``sub``; the spec's
  example token, the sandbox and the Inferno CRD test kit send none);
* exactly one ``Authorization`` header (two are refused, never "the first one wins");
* ``jti`` never seen within the token's lifetime (checked last, after the signature, so a
  forger cannot burn the nonces of real clients).

Any failure is one 401 with the same body; the reason goes only to the log, and neither the
token nor anything from the request body is ever logged.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
from fastapi import Request

from cds_service.config import Settings
from cds_service.protocol.errors import UNAUTHORIZED, ProtocolError
from cds_service.protocol.jti import (
    DatabaseJtiStore,
    JtiStore,
    JtiStoreUnavailable,
    MemoryJtiStore,
    jti_key,
)
from cds_service.protocol.jwks import ALLOWED_ALGORITHMS, JwksCache, JwksError

logger = logging.getLogger("cds_service.auth")

#: Clock skew tolerated on ``exp``, ``iat`` and ``nbf`` (contract section 0).
LEEWAY_S = 60
#: Longest accepted ``exp - iat`` unless ``CDS_JWT_MAX_LIFETIME_S`` says otherwise.
DEFAULT_MAX_LIFETIME_S = 3600
#: A CDS Hooks JWT is well under 2 KiB; refuse anything absurd before parsing it.
MAX_TOKEN_CHARS = 16 * 1024
MAX_JTI_CHARS = 256


class AuthenticationError(Exception):
    """Why a token was refused; for the log only, never for the client."""


@dataclass(frozen=True)
class VerifiedToken:
    """What the service may know about an authenticated caller (safe to log)."""

    iss: str
    sub: str | None
    jti: str
    tenant: str | None


def unauthorized() -> ProtocolError:
    """The one 401 answer: no detail about what was wrong (CDS Hooks best practices)."""
    return ProtocolError(401, UNAUTHORIZED, "Authentication failed.")


def credentials_unavailable() -> ProtocolError:
    """503 when the replay store is unreachable: neither accept unchecked nor blame the client."""
    return ProtocolError(
        503, "service_unavailable", "Credentials cannot be verified right now; retry later."
    )


def normalise_url(url: str) -> str:
    """Comparable form of an endpoint URL: lower-case scheme and host, no default port,
    no query or fragment, no trailing slash."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip().rstrip("/")
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path.rstrip("/"), "", ""))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _non_empty_str(value: object, limit: int = 2048) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit


class JwtVerifier:
    """Verifies CDS Hooks JWTs against the trusted issuers' keys and the replay store."""

    def __init__(
        self,
        jwks: JwksCache,
        jti_store: JtiStore,
        *,
        clock: Callable[[], float] = time.time,
        leeway_s: float = LEEWAY_S,
        max_lifetime_s: float = DEFAULT_MAX_LIFETIME_S,
    ) -> None:
        self.jwks = jwks
        self.jti_store = jti_store
        self._clock = clock
        self._leeway = leeway_s
        self._max_lifetime = max_lifetime_s

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtVerifier:
        """The verifier an app uses, with the replay store chosen by ``CDS_JTI_STORE``."""
        store: JtiStore
        if settings.jti_store == "database":
            store = DatabaseJtiStore(settings.database_url, timeouts=settings.database_timeouts())
        else:
            store = MemoryJtiStore()
        jwks = JwksCache(settings.trusted_issuers, settings.jwks_cache_seconds)
        return cls(jwks, store, max_lifetime_s=settings.jwt_max_lifetime_s)

    async def verify(self, token: str, audience: str) -> VerifiedToken:
        """Return the caller's identity or raise :class:`AuthenticationError`.

        Raises :class:`JtiStoreUnavailable` when the replay store cannot be consulted.
        """
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise AuthenticationError("token missing or oversized")
        header, unverified = _unverified_parts(token)
        alg = header.get("alg")
        kid = header.get("kid")
        if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
            raise AuthenticationError("alg not allowed")
        if not _non_empty_str(kid, 256):
            raise AuthenticationError("kid missing")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.upper() != "JWT":
            raise AuthenticationError("typ is not JWT")
        if "crit" in header:
            raise AuthenticationError("critical header extensions not supported")
        iss = unverified.get("iss")
        if not isinstance(iss, str):
            raise AuthenticationError("iss missing")
        configured = self.jwks.jwks_url(iss)
        if configured is None:
            raise AuthenticationError("iss not trusted")
        jku = header.get("jku")
        if jku is not None and jku != configured:
            raise AuthenticationError("jku differs from the configured jwks url")
        try:
            key = await self.jwks.get_key(iss, str(kid))
        except JwksError as exc:
            raise AuthenticationError(str(exc)) from None
        if not key.supports(alg):
            raise AuthenticationError("key does not match alg")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_sub": False,
                    "verify_jti": False,
                },
            )
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError(f"signature: {type(exc).__name__}") from None
        token_id = self._check_claims(claims, iss, audience)
        expires_at = float(claims["exp"]) + self._leeway
        if not await self.jti_store.remember(jti_key(iss, token_id.jti), expires_at, self._clock()):
            raise AuthenticationError("jti replayed")
        return token_id

    def _check_claims(self, claims: dict[str, Any], iss: str, audience: str) -> VerifiedToken:
        now = self._clock()
        for name in ("exp", "iat"):
            if not _is_number(claims.get(name)):
                raise AuthenticationError(f"{name} missing or not a number")
        if claims["exp"] <= now - self._leeway:
            raise AuthenticationError("token expired")
        if claims["iat"] > now + self._leeway:
            raise AuthenticationError("iat in the future")
        if claims["exp"] - claims["iat"] > self._max_lifetime:
            # Also bounds how long the replay store must remember the jti.
            raise AuthenticationError("lifetime (exp - iat) over the maximum")
        if "nbf" in claims and not (
            _is_number(claims["nbf"]) and claims["nbf"] <= now + self._leeway
        ):
            raise AuthenticationError("nbf invalid or in the future")
        if claims.get("iss") != iss:
            raise AuthenticationError("iss changed")
        sub, jti = claims.get("sub"), claims.get("jti")
        if sub is not None and not _non_empty_str(sub):
            raise AuthenticationError("sub present but not a non-empty string")
        if not _non_empty_str(jti, MAX_JTI_CHARS):
            raise AuthenticationError("jti missing")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise AuthenticationError("aud missing")
        wanted = normalise_url(audience)
        if wanted not in {normalise_url(a) for a in audiences}:
            raise AuthenticationError("aud is not this endpoint")
        tenant = claims.get("tenant")
        return VerifiedToken(
            iss=iss,
            sub=sub if isinstance(sub, str) else None,
            jti=str(jti),
            tenant=tenant if isinstance(tenant, str) else None,
        )


def _unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload before verification: used only to pick the issuer and key."""
    try:
        header = jwt.get_unverified_header(token)
        payload = jwt.decode(token, options={"verify_signature": False})
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise AuthenticationError("malformed token") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise AuthenticationError("malformed token")
    return header, payload


def bearer_token(request: Request) -> str | None:
    """The token of the one ``Authorization: Bearer`` header, or ``None``.

    Two ``Authorization`` headers are refused: proxies and frameworks disagree on which one
    counts, so "the first one wins" would let a request carry a token the EHR never sent.
    """
    values = request.headers.getlist("authorization")
    if len(values) != 1:
        return None
    value = values[0]
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def endpoint_audience(request: Request, settings: Settings) -> str:
    """The ``aud`` a token for this call must carry: the URL of the endpoint called.

    With ``CDS_PUBLIC_BASE_URL`` the base is the configured one (behind a proxy the Host
    header is not the EHR's view); the path is the part from ``/cds-services`` on. With auth
    on the setting is required (:func:`cds_service.config.check_startable`): an audience taken
    from the ``Host`` header would accept a token minted for another service.
    """
    path = request.url.path
    if settings.public_base_url:
        start = path.find("/cds-services")
        route_path = path[start:] if start >= 0 else path
        return settings.public_base_url.rstrip("/") + route_path
    return str(request.url.replace(query="", fragment=""))


def get_verifier(request: Request) -> JwtVerifier:
    """The app's verifier, built on first use from ``app.state.settings``."""
    state = request.app.state
    verifier: JwtVerifier | None = getattr(state, "jwt_verifier", None)
    if verifier is None:
        verifier = JwtVerifier.from_settings(state.settings)
        state.jwt_verifier = verifier
    return verifier


async def authenticate(request: Request, settings: Settings) -> VerifiedToken:
    """Check the request's JWT; raise the 401 (or 503) :class:`ProtocolError` on failure."""
    verifier = get_verifier(request)
    token = bearer_token(request)
    try:
        if token is None:
            raise AuthenticationError("no bearer token")
        verified = await verifier.verify(token, endpoint_audience(request, settings))
    except AuthenticationError as exc:
        logger.warning("authentication failed: %s", exc)
        raise unauthorized() from None
    except JtiStoreUnavailable as exc:
        logger.error("jti store unavailable: %s", exc)
        raise credentials_unavailable() from None
    logger.debug("authenticated iss=%s", verified.iss)
    request.state.auth = verified
    return verified
