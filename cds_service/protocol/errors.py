"""Protocol errors: one exception type that carries the HTTP status and the JSON error body.

Every failure a client can cause is raised as :class:`ProtocolError` and rendered as
``{"error": code, "message": sentence}`` (contract section 1), so no handler ever has to
build an error body itself and no stack trace can leak to the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final


class ProtocolError(Exception):
    """A client-visible failure with its HTTP status, machine code and one human sentence.

    The message must never contain data from the request (it could be PHI); it names the
    field or rule at fault instead.
    """

    def __init__(
        self,
        status_code: int,
        error: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, str]:
        """The JSON error body of contract section 1."""
        return {"error": self.error, "message": self.message}


UNKNOWN_SERVICE: Final = "unknown_service"
INVALID_JSON: Final = "invalid_json"
INVALID_REQUEST: Final = "invalid_request"
HOOK_MISMATCH: Final = "hook_mismatch"
PAYLOAD_TOO_LARGE: Final = "payload_too_large"
UNSUPPORTED_MEDIA_TYPE: Final = "unsupported_media_type"
PREFETCH_UNAVAILABLE: Final = "prefetch_unavailable"
UNAUTHORIZED: Final = "unauthorized"
NOT_FOUND: Final = "not_found"
METHOD_NOT_ALLOWED: Final = "method_not_allowed"
INTERNAL_ERROR: Final = "internal_error"
NOT_READY: Final = "not_ready"


def unknown_service() -> ProtocolError:
    """404 for a service id that discovery does not list."""
    return ProtocolError(404, UNKNOWN_SERVICE, "No CDS service with this id exists.")


def invalid_request(message: str) -> ProtocolError:
    """400 for a request whose JSON is well-formed but does not follow CDS Hooks."""
    return ProtocolError(400, INVALID_REQUEST, message)
