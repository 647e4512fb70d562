"""Structured JSON logging: one line per call on ``cds_service.access``.

Only operational fields are logged (hook, service id, hookInstance, status, latency, card
topics, skipped-resource count). Patient data, request bodies and tokens are never passed to
a logger, so they cannot appear in logs whatever the log level.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

ACCESS_LOGGER = "cds_service.access"

_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object; extra fields given via ``extra=`` are included."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        standard = _STANDARD_ATTRS  # one comprehension: this runs for every request
        payload.update(
            {k: v for k, v in record.__dict__.items() if k not in standard and k[:1] != "_"}
        )
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type only: messages and tracebacks may quote patient data.
            payload["exc_type"] = record.exc_info[0].__name__
        return orjson.dumps(payload, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    """Send ``cds_service.*`` logs as JSON lines to stderr (idempotent).

    Records still propagate to the root logger (which has no handler under uvicorn), so
    test log capture and an operator's own root handler keep working.
    """
    logger = logging.getLogger("cds_service")
    logger.setLevel(level.upper())
    if not any(getattr(handler, "_cds_json", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._cds_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    # httpx logs every request URL at INFO, and FHIR search URLs carry the patient id: keep
    # the HTTP client libraries quiet below WARNING even under an operator's root handler.
    for library in ("httpx", "httpcore"):
        logging.getLogger(library).setLevel(logging.WARNING)


def log_access(**fields: Any) -> None:
    """Emit the one access line of a call with the given operational fields."""
    logging.getLogger(ACCESS_LOGGER).info("request", extra=fields)
