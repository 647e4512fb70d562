"""``GET /analytics`` (the committee's page) and ``GET /analytics/cards`` (the numbers).

Installed only when ``CDS_ANALYTICS_TOKEN`` is set; otherwise both paths are the ordinary 404.
The numbers need ``Authorization: Bearer <token>``, compared in constant time; anything else
(no header, two headers, another scheme, a wrong token) is the same 401. The page itself holds
no data: it asks for the token and fetches the report with it, keeping it in memory only.
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from cds_service.analytics.report import FORMATS, as_csv, as_html_fragment, as_json
from cds_service.audit.summary import PeriodError, Summary, parse_period, summarize
from cds_service.feedback.store import FeedbackStore
from cds_service.protocol.errors import ProtocolError

logger = logging.getLogger(__name__)

STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "static" / "analytics"
STATIC_PATH: Final = "/analytics/static"

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_PRIVATE: Final = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_MEDIA_TYPES: Final = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


class Unauthorized(ProtocolError):
    """401 with a ``WWW-Authenticate`` challenge (added by the route's handler)."""

    def __init__(self) -> None:
        super().__init__(401, "unauthorized", "A valid analytics token is required.")


def token_matches(headers: list[str], token: str) -> bool:
    """Exactly one ``Authorization: Bearer <token>`` header with the right token."""
    if len(headers) != 1:
        return False
    scheme, _, given = headers[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _error(error: ProtocolError, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(error.body()),
        status_code=error.status_code,
        media_type="application/json",
        headers={**_PRIVATE, **(headers or {})},
    )


def install_analytics(app: FastAPI, token: str, store: FeedbackStore) -> None:
    """Add the page, its static files and the analytics API to ``app``."""
    if len(token) < 32:
        logger.warning("CDS_ANALYTICS_TOKEN is shorter than 32 characters; use a random one")

    def read(since: str | None, until: str | None) -> Summary:
        first, last = parse_period(since, until, datetime.now(UTC).date())
        store.ensure_schema()
        with store.engine.connect() as connection:
            return summarize(connection, first, last)

    @app.get("/analytics", include_in_schema=False)
    async def analytics_page() -> Response:
        """The committee's page (static; it fetches the numbers with the token)."""
        return FileResponse(
            STATIC_DIR / "index.html",
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, **_PRIVATE},
        )

    @app.get("/analytics/cards")
    async def analytics_cards(request: Request) -> Response:
        """Cards shown, accepted, overridden and override reasons per topic and ISO week."""
        if not token_matches(request.headers.getlist("authorization"), token):
            return _error(Unauthorized(), {"WWW-Authenticate": 'Bearer realm="analytics"'})
        params = request.query_params
        for name in ("since", "until", "format"):
            if len(params.getlist(name)) > 1:
                return _error(ProtocolError(400, "invalid_request", f"'{name}' is repeated."))
        output = params.get("format", "json")
        if output not in FORMATS:
            return _error(
                ProtocolError(400, "invalid_request", "'format' must be json, csv or html.")
            )
        try:
            summary = await run_in_threadpool(read, params.get("since"), params.get("until"))
        except PeriodError as exc:
            return _error(ProtocolError(400, "invalid_period", str(exc)))
        except SQLAlchemyError as exc:
            logger.error("analytics query failed", extra={"exc_type": type(exc).__name__})
            return _error(
                ProtocolError(503, "audit_unavailable", "The audit database is not available.")
            )
        if output == "csv":
            body = as_csv(summary).encode()
        elif output == "html":
            body = as_html_fragment(summary).encode()
        else:
            body = orjson.dumps(as_json(summary))
        return Response(body, media_type=_MEDIA_TYPES[output], headers=_PRIVATE)

    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="analytics-static")
