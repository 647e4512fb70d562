"""Test-side CDS Client: key pairs per algorithm, a JWK Set, and token minting.

Keys are generated at test time (``cryptography``); nothing secret is checked in.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ALGORITHMS = ("ES384", "ES256", "RS384", "RS256")
ISSUER = "https://ehr.test.example/"

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def generate_key(alg: str) -> SigningKey:
    if alg.startswith("RS"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    curve = ec.SECP256R1() if alg == "ES256" else ec.SECP384R1()
    return ec.generate_private_key(curve)


def public_jwk(private_key: SigningKey, kid: str, alg: str | None) -> dict[str, Any]:
    jwk: dict[str, Any]
    if isinstance(private_key, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    jwk.update(kid=kid, use="sig")
    if alg:
        jwk["alg"] = alg
    return jwk


@dataclass
class EhrIssuer:
    """A CDS Client with one key per algorithm, kid = ``<alg>-key``."""

    iss: str = ISSUER
    keys: dict[str, SigningKey] = field(default_factory=dict)

    @classmethod
    def create(cls, iss: str = ISSUER) -> EhrIssuer:
        return cls(iss=iss, keys={alg: generate_key(alg) for alg in ALGORITHMS})

    @staticmethod
    def kid(alg: str) -> str:
        return f"{alg}-key"

    def jwks(self, with_alg: bool = True) -> dict[str, Any]:
        return {
            "keys": [
                public_jwk(key, self.kid(alg), alg if with_alg else None)
                for alg, key in self.keys.items()
            ]
        }

    def write_jwks(self, path: Path) -> str:
        path.write_text(json.dumps(self.jwks()))
        return path.as_uri()

    def token(
        self,
        aud: str | list[str],
        alg: str = "ES384",
        *,
        claims: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
        header: dict[str, Any] | None = None,
        key: Any = None,
        now: float | None = None,
    ) -> str:
        now = time.time() if now is None else now
        payload: dict[str, Any] = {
            "iss": self.iss,
            "sub": "ehr-client-1",
            "aud": aud,
            "iat": int(now),
            "exp": int(now) + 300,
            "jti": str(uuid.uuid4()),
            "tenant": "tenant-1",
        }
        payload.update(claims or {})
        for name in drop:
            payload.pop(name, None)
        headers: dict[str, Any] = {"kid": self.kid(alg), "typ": "JWT"}
        headers.update(header or {})
        return jwt.encode(
            payload, key if key is not None else self.keys[alg], algorithm=alg, headers=headers
        )


class _JwksHandler(BaseHTTPRequestHandler):
    server: JwksStubServer

    def do_GET(self) -> None:
        self.server.hits += 1
        body = json.dumps(self.server.document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class JwksStubServer(ThreadingHTTPServer):
    """Serves one JWK Set on 127.0.0.1 and counts the requests it got."""

    daemon_threads = True

    def __init__(self, document: dict[str, Any]) -> None:
        super().__init__(("127.0.0.1", 0), _JwksHandler)
        self.document = document
        self.hits = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/jwks.json"


@contextmanager
def serve_jwks(document: dict[str, Any]) -> Iterator[JwksStubServer]:
    server = JwksStubServer(document)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
