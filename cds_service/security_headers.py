"""Response headers that tell browsers and caches how to treat every answer (issue 11).

* ``X-Content-Type-Options: nosniff`` on every answer: a JSON error is never run as script
  or rendered as HTML, whatever a browser guesses from its bytes.
* ``Cache-Control: no-store`` on every answer under ``/cds-services/{id}`` (hook calls and
  feedback): cards and errors may carry patient facts, and no proxy or browser cache may
  keep them.
* A strict Content-Security-Policy (and ``Referrer-Policy: no-referrer``) on every HTML
  answer that does not bring its own: scripts, styles and images only from this origin,
  no inline script, no framing. A page that sets its own policy (``/demo``) keeps it.

A pure ASGI middleware: it only adds headers to ``http.response.start``, so streaming and
error answers get them as well, at the cost of a few header comparisons per request.
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT_PAGE_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""A page may use only its own origin's files and API: card text can never run script."""

_NOSNIFF: Final = (b"x-content-type-options", b"nosniff")
_NO_STORE: Final = (b"cache-control", b"no-store")
_PAGE_HEADERS: Final = (
    (b"content-security-policy", STRICT_PAGE_POLICY.encode()),
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeadersMiddleware:
    """Adds the headers above to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = str(scope.get("path", "")).startswith("/cds-services/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _secured(list(message.get("headers", [])), private)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _secured(headers: list[tuple[bytes, bytes]], private: bool) -> list[tuple[bytes, bytes]]:
    names = {name.lower(): value for name, value in headers}
    if b"x-content-type-options" not in names:
        headers.append(_NOSNIFF)
    if private:
        headers = [(n, v) for n, v in headers if n.lower() != b"cache-control"]
        headers.append(_NO_STORE)
    if names.get(b"content-type", b"").startswith(b"text/html"):
        for name, value in _PAGE_HEADERS:
            if name not in names:
                headers.append((name, value))
    return headers
