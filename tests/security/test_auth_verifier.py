"""Unit tests of the JWT verifier: every rule of contract section 0, without HTTP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from cds_service.protocol.auth import AuthenticationError, JwtVerifier, VerifiedToken
from cds_service.protocol.jti import DatabaseJtiStore, MemoryJtiStore, jti_key
from cds_service.protocol.jwks import JwksCache, JwksError, parse_jwks, validate_jwks_url
from tests.security.jwt_support import ALGORITHMS, ISSUER, EhrIssuer, generate_key, serve_jwks

AUD = "https://cds.test.example/cds-services/natalizumab-order-sign"


class FakeClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def issuer() -> EhrIssuer:
    return EhrIssuer.create()


@pytest.fixture
def jwks_uri(issuer: EhrIssuer, tmp_path: Path) -> str:
    return issuer.write_jwks(tmp_path / "jwks.json")


def make_verifier(uri: str, iss: str = ISSUER) -> JwtVerifier:
    return JwtVerifier(JwksCache({iss: uri}), MemoryJtiStore())


def verify(verifier: JwtVerifier, token: str, aud: str = AUD) -> VerifiedToken:
    return asyncio.run(verifier.verify(token, aud))


def rejected(verifier: JwtVerifier, token: str, aud: str = AUD) -> str:
    with pytest.raises(AuthenticationError) as info:
        verify(verifier, token, aud)
    return str(info.value)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_parts(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"


def standard_payload(aud: str = AUD) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "sub": "c", "aud": aud, "iat": now, "exp": now + 300, "jti": "n-1"}


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_valid_token_for_each_algorithm(issuer: EhrIssuer, jwks_uri: str, alg: str) -> None:
    verified = verify(make_verifier(jwks_uri), issuer.token(AUD, alg))
    assert verified.iss == ISSUER
    assert verified.sub == "ehr-client-1"
    assert verified.tenant == "tenant-1"


def test_aud_as_list_and_trailing_slash_accepted(issuer: EhrIssuer, jwks_uri: str) -> None:
    verifier = make_verifier(jwks_uri)
    verify(verifier, issuer.token(["https://other.example/x", AUD + "/"]))
    verify(
        verifier, issuer.token("HTTPS://CDS.test.example:443/cds-services/natalizumab-order-sign")
    )


def test_jwk_without_alg_member_still_verifies_rs384(issuer: EhrIssuer, tmp_path: Path) -> None:
    path = tmp_path / "noalg.json"
    path.write_text(json.dumps(issuer.jwks(with_alg=False)))
    verify(make_verifier(path.as_uri()), issuer.token(AUD, "RS384"))


@dataclass(frozen=True)
class FromNow:
    """A claim time relative to the moment the test runs."""

    seconds: int


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": FromNow(-61)}, "expired"),
        ({"iat": FromNow(120), "exp": FromNow(600)}, "iat in the future"),
        ({"nbf": FromNow(120)}, "nbf"),
        ({"aud": "https://cds.test.example/cds-services/other-service"}, "aud"),
        ({"aud": "https://evil.example/cds-services/natalizumab-order-sign"}, "aud"),
        ({"aud": 42}, "aud"),
        ({"exp": "tomorrow"}, "exp"),
        ({"iat": True}, "iat"),
        ({"sub": ""}, "sub"),
        ({"jti": 7}, "jti"),
    ],
)
def test_bad_claims_rejected(
    issuer: EhrIssuer, jwks_uri: str, claims: dict[str, Any], reason: str
) -> None:
    # Times are resolved when the test runs, not when it is collected (a long suite would
    # otherwise carry "120 s in the future" into the leeway).
    now = int(time.time())
    resolved = {k: now + v.seconds if isinstance(v, FromNow) else v for k, v in claims.items()}
    assert reason in rejected(make_verifier(jwks_uri), issuer.token(AUD, claims=resolved))


def test_leeway_of_sixty_seconds(issuer: EhrIssuer, jwks_uri: str) -> None:
    now = int(time.time())
    verifier = make_verifier(jwks_uri)
    verify(verifier, issuer.token(AUD, claims={"exp": now - 30}))
    verify(verifier, issuer.token(AUD, claims={"iat": now + 30}))


@pytest.mark.parametrize("claim", ["exp", "iat", "jti", "iss", "aud"])
def test_required_claims(issuer: EhrIssuer, jwks_uri: str, claim: str) -> None:
    rejected(make_verifier(jwks_uri), issuer.token(AUD, drop=(claim,)))


def test_sub_and_tenant_are_optional(issuer: EhrIssuer, jwks_uri: str) -> None:
    """CDS Hooks 2.0's claim table has no sub; the spec, sandbox and Inferno send none."""
    verified = verify(make_verifier(jwks_uri), issuer.token(AUD, drop=("sub", "tenant")))
    assert verified.sub is None
    assert verified.tenant is None


@pytest.mark.parametrize("aud", [AUD, [AUD], ["https://other.example/cds-services/x", AUD]])
def test_aud_as_a_string_or_an_array(issuer: EhrIssuer, jwks_uri: str, aud: object) -> None:
    verify(make_verifier(jwks_uri), issuer.token(AUD, claims={"aud": aud}))


@pytest.mark.parametrize("aud", [[], ["https://other.example/x"], [AUD, 5], {"aud": AUD}])
def test_aud_array_without_this_endpoint_is_refused(
    issuer: EhrIssuer, jwks_uri: str, aud: object
) -> None:
    assert "aud" in rejected(make_verifier(jwks_uri), issuer.token(AUD, claims={"aud": aud}))


def test_lifetime_is_capped(issuer: EhrIssuer, jwks_uri: str) -> None:
    now = int(time.time())
    verifier = make_verifier(jwks_uri)
    verify(verifier, issuer.token(AUD, claims={"iat": now, "exp": now + 3600}))
    too_long = issuer.token(AUD, claims={"iat": now, "exp": now + 3601})
    assert "lifetime" in rejected(verifier, too_long)
    strict = JwtVerifier(JwksCache({ISSUER: jwks_uri}), MemoryJtiStore(), max_lifetime_s=60)
    assert "lifetime" in rejected(strict, issuer.token(AUD, claims={"exp": now + 300}))


def test_unknown_issuer(jwks_uri: str) -> None:
    stranger = EhrIssuer.create("https://stranger.example/")
    assert "iss not trusted" in rejected(make_verifier(jwks_uri), stranger.token(AUD))


def test_unknown_kid(issuer: EhrIssuer, jwks_uri: str) -> None:
    token = issuer.token(AUD, header={"kid": "no-such-key"})
    assert "kid" in rejected(make_verifier(jwks_uri), token)


def test_missing_kid_and_wrong_typ(issuer: EhrIssuer, jwks_uri: str) -> None:
    verifier = make_verifier(jwks_uri)
    payload = standard_payload()
    no_kid = jwt.encode(payload, issuer.keys["ES384"], algorithm="ES384", headers={"typ": "JWT"})
    assert "kid" in rejected(verifier, no_kid)
    wrong_typ = issuer.token(AUD, header={"typ": "at+jwt"})
    assert "typ" in rejected(verifier, wrong_typ)
    crit = issuer.token(AUD, header={"crit": ["exp"]})
    rejected(verifier, crit)


def test_bad_signature(issuer: EhrIssuer, jwks_uri: str) -> None:
    impostor_key = generate_key("ES384")
    token = issuer.token(AUD, key=impostor_key)
    assert "signature" in rejected(make_verifier(jwks_uri), token)
    head, _body, sig = issuer.token(AUD).split(".")
    tampered_body = b64(json.dumps({**standard_payload(), "sub": "admin"}).encode())
    assert "signature" in rejected(make_verifier(jwks_uri), f"{head}.{tampered_body}.{sig}")


def test_alg_none_rejected(issuer: EhrIssuer, jwks_uri: str) -> None:
    header = {"alg": "none", "typ": "JWT", "kid": "ES384-key"}
    token = unsigned_parts(header, standard_payload()) + "."
    assert "alg not allowed" in rejected(make_verifier(jwks_uri), token)


def test_hs256_signed_with_public_key_pem_rejected(issuer: EhrIssuer, jwks_uri: str) -> None:
    pem = (
        issuer.keys["RS256"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": "RS256-key"}
    signing_input = unsigned_parts(header, standard_payload())
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64(signature)}"
    assert "alg not allowed" in rejected(make_verifier(jwks_uri), token)


def test_key_type_must_match_alg(issuer: EhrIssuer, tmp_path: Path) -> None:
    # The ES256 key published without an "alg" member under the kid of an RS256 token.
    es256 = issuer.keys["ES256"]
    doc = issuer.jwks(with_alg=False)
    for jwk in doc["keys"]:
        if jwk["kid"] == "ES256-key":
            jwk["kid"] = "shared"
    path = tmp_path / "confused.json"
    path.write_text(json.dumps(doc))
    token_rs = issuer.token(AUD, "RS256", header={"kid": "shared"})
    assert "key does not match alg" in rejected(make_verifier(path.as_uri()), token_rs)
    # A P-256 key cannot verify ES384 either.
    token_es384 = issuer.token(AUD, "ES384", header={"kid": "shared"})
    assert "key does not match alg" in rejected(make_verifier(path.as_uri()), token_es384)
    assert es256 is issuer.keys["ES256"]


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b.c", "a.b", "...", "eyJhbGciOiJFUzM4NCJ9.e30.", "x" * 20000]
)
def test_malformed_tokens(jwks_uri: str, token: str) -> None:
    rejected(make_verifier(jwks_uri), token)


def test_jku_must_equal_configured_url(issuer: EhrIssuer, jwks_uri: str) -> None:
    verifier = make_verifier(jwks_uri)
    verify(verifier, issuer.token(AUD, header={"jku": jwks_uri}))
    elsewhere = issuer.token(AUD, header={"jku": "https://attacker.example/jwks.json"})
    assert "jku" in rejected(verifier, elsewhere)


def test_replayed_jti_rejected_then_allowed_after_expiry(issuer: EhrIssuer, jwks_uri: str) -> None:
    clock = FakeClock(time.time())
    verifier = JwtVerifier(JwksCache({ISSUER: jwks_uri}), MemoryJtiStore(), clock=clock)
    token = issuer.token(AUD, claims={"jti": "once"}, now=clock.now)
    verify(verifier, token)
    assert "replayed" in rejected(verifier, token)
    # Same jti from another issuer is a different nonce.
    other = EhrIssuer.create("https://second.example/")
    both = JwksCache({ISSUER: jwks_uri, other.iss: jwks_uri})
    mixed = JwtVerifier(both, MemoryJtiStore(), clock=clock)
    verify(mixed, token)
    assert "signature" in rejected(mixed, other.token(AUD, claims={"jti": "once"}))
    # After exp + leeway the first token is rejected as expired, and its jti may be reused.
    clock.now += 300 + 61
    assert "expired" in rejected(verifier, token)
    verify(verifier, issuer.token(AUD, claims={"jti": "once"}, now=clock.now))


def test_memory_store_purges_expired_entries() -> None:
    store = MemoryJtiStore()
    assert asyncio.run(store.remember("a", 100.0, 0.0))
    assert not asyncio.run(store.remember("a", 100.0, 50.0))
    assert asyncio.run(store.remember("b", 1000.0, 200.0))  # purge runs: "a" expired
    assert len(store) == 1


def test_jwks_over_loopback_http_and_refresh_rate_limit(issuer: EhrIssuer) -> None:
    rotated = EhrIssuer.create()
    document = issuer.jwks()
    clock = FakeClock(1000.0)
    with serve_jwks(document) as stub:
        cache = JwksCache({ISSUER: stub.url}, cache_seconds=3600, clock=clock)
        verifier = JwtVerifier(cache, MemoryJtiStore())
        verify(verifier, issuer.token(AUD, "RS384"))
        verify(verifier, issuer.token(AUD, "ES256"))
        assert stub.hits == 1  # cached
        # An unknown kid within a minute of the last fetch does not refetch ...
        rejected(verifier, issuer.token(AUD, header={"kid": "rotated"}))
        assert stub.hits == 1
        # ... after it, it triggers one refetch, and not another within the minute.
        clock.now += 61
        for _ in range(5):
            rejected(verifier, issuer.token(AUD, header={"kid": "rotated"}))
        assert stub.hits == 2
        # Key rotation: the issuer publishes a new key; after a minute it is picked up.
        new_jwk = rotated.jwks()["keys"][0]
        new_jwk["kid"] = "rotated"
        stub.document = {"keys": [*document["keys"], new_jwk]}
        token = rotated.token(AUD, "ES384", header={"kid": "rotated"})
        rejected(verifier, token)
        assert stub.hits == 2
        clock.now += 61
        verify(verifier, rotated.token(AUD, "ES384", header={"kid": "rotated"}))
        assert stub.hits == 3
        # The cache expires after jwks_cache_seconds even for known kids.
        clock.now += 3600
        verify(verifier, issuer.token(AUD, "RS256"))
        assert stub.hits == 4


def test_unreachable_jwks_url_fails_closed_and_is_not_hammered(issuer: EhrIssuer) -> None:
    with serve_jwks(issuer.jwks()) as stub:
        url = stub.url
    # The stub is gone: connection refused on a loopback port.
    cache = JwksCache({ISSUER: url}, timeout_s=1.0)
    verifier = JwtVerifier(cache, MemoryJtiStore())
    started = time.monotonic()
    for _ in range(3):
        rejected(verifier, issuer.token(AUD))
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    "url",
    [
        "http://issuer.example/jwks.json",
        "ftp://issuer.example/jwks.json",
        "https://user:pw@issuer.example/jwks.json",
        "file://remote-host/etc/jwks.json",
        "gopher://127.0.0.1/",
    ],
)
def test_jwks_url_policy(url: str) -> None:
    with pytest.raises(JwksError):
        validate_jwks_url(url)


def test_jwks_url_policy_allows_https_file_and_loopback_http() -> None:
    for url in ("https://issuer.example/jwks", "file:///tmp/jwks.json", "http://127.0.0.1:9/j"):
        validate_jwks_url(url)


def test_parse_jwks_skips_unusable_keys(issuer: EhrIssuer) -> None:
    good = issuer.jwks()["keys"]
    private = {**good[0], "kid": "private", "d": "AAAA"}
    hmac_key = {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}
    enc = {**good[1], "kid": "enc", "use": "enc"}
    rsa_small = {"kty": "RSA", "kid": "small", "n": "AQAB", "e": "AQAB"}
    keys = parse_jwks({"keys": [private, hmac_key, enc, rsa_small, "junk", *good]})
    assert set(keys) == {f"{alg}-key" for alg in ALGORITHMS}
    with pytest.raises(JwksError):
        parse_jwks({"nokeys": []})


def test_database_store_shared_by_two_instances(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = DatabaseJtiStore(url), DatabaseJtiStore(url)
    key = jti_key(ISSUER, "n-1")
    now = time.time()
    assert asyncio.run(first.remember(key, now + 100, now))
    assert not asyncio.run(second.remember(key, now + 100, now))
    assert not asyncio.run(first.remember(key, now + 100, now))
    # Expired entry: the jti may be used again (its old token is rejected as expired anyway).
    assert asyncio.run(second.remember(key, now + 500, now + 200))
    assert not asyncio.run(first.remember(key, now + 500, now + 201))
    first.dispose()
    second.dispose()


def test_oversized_remote_jwks_is_refused(issuer: EhrIssuer) -> None:
    document = {**issuer.jwks(), "padding": "x" * 300_000}
    with serve_jwks(document) as stub:
        verifier = JwtVerifier(JwksCache({ISSUER: stub.url}), MemoryJtiStore())
        assert "kid" in rejected(verifier, issuer.token(AUD))
        assert stub.hits == 1
