"""The single authentication point of every protected route (discovery, service, feedback).

Each protected route depends on :func:`verify_request_auth`, so switching JWT checking on
(``CDS_AUTH_REQUIRED=true``, contract section 0) changes one function, not the routes. With
auth off it does nothing. With auth on it delegates to the JWT verifier in
:mod:`cds_service.protocol.auth` (401 with no detail on any failure).
"""

from __future__ import annotations

from fastapi import Request

from cds_service.config import Settings
from cds_service.protocol.auth import authenticate
from cds_service.protocol.errors import UNAUTHORIZED, ProtocolError


def unauthorized() -> ProtocolError:
    """The one 401 answer: no detail about what was wrong (contract section 0)."""
    return ProtocolError(401, UNAUTHORIZED, "Authentication failed.")


async def verify_request_auth(request: Request) -> None:
    """FastAPI dependency: accept the call, or raise a 401 :class:`ProtocolError`."""
    settings: Settings = request.app.state.settings
    if not settings.auth_required:
        return
    await authenticate(request, settings)
