"""FastAPI application factory: routes, error mapping and middleware; nothing clinical.

Routes stay thin: each checks the service id, applies the request limits
(:mod:`cds_service.protocol.limits`), and delegates to :mod:`cds_service.hook_call` (service
calls) or :mod:`cds_service.feedback.store`. Every failure leaves as a JSON error body
(contract section 1) through the handlers installed in :func:`_install_error_handlers`.
"""

from __future__ import annotations

import gc
import logging
import math
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any, Final

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds_service import __version__
from cds_service.analytics.routes import install_analytics
from cds_service.audit.setup import create_recorder
from cds_service.cards.remembered import RENDERED_CACHE, RENDERED_CACHE_ENTRIES
from cds_service.config import Settings, check_startable, get_settings
from cds_service.demo import install_demo
from cds_service.feedback.store import FeedbackStore
from cds_service.hook_call import answer_hook_call
from cds_service.observability.logging import configure_logging, log_access
from cds_service.observability.metrics import Metrics
from cds_service.pipeline import warm_up
from cds_service.protocol import errors
from cds_service.protocol.access import verify_request_auth
from cds_service.protocol.errors import ProtocolError, unknown_service
from cds_service.protocol.fhir_client import FhirFetcher, build_http_client
from cds_service.protocol.limits import read_hook_json, read_json
from cds_service.protocol.models import FeedbackRequest, HookRequest, parse_feedback
from cds_service.protocol.prefetch_split import PARSED_PREFETCH_ENTRIES, PARSED_PREFETCHES
from cds_service.protocol.services import SERVICES, ServiceDefinition, discovery_document
from cds_service.record.memo import FACTS_MEMO
from cds_service.record.record_cache import RECORD_CACHE, RECORD_CACHE_ENTRIES
from cds_service.record.validate import ELEMENT_CACHE, ELEMENT_CACHE_ENTRIES
from cds_service.security_headers import SecurityHeadersMiddleware
from cds_service.slow_uploads import SlowUploadMiddleware

logger = logging.getLogger(__name__)

_CODESYSTEM_ID: Final = re.compile(r"[a-z0-9-]+")
_CALL_STATE: Final = "cds_call"
SERVICE_PATH: Final = "/cds-services/{service_id}"
#: Status recorded for a request whose client disconnected before it was read (as nginx).
CLIENT_CLOSED_REQUEST: Final = 499
#: The collector's thresholds once start-up is frozen. A call's garbage is acyclic (JSON,
#: frozen dataclasses) and freed by reference counting, and the youngest generation counts
#: objects allocated less those freed: with its threshold above what one large call holds at
#: once (its parsed body: ~58,000 containers at 5,000 resources, ~100,000 in a body of the
#: 5 MiB limit), an ordinary call ends before any collection starts. At 5,000 (the second
#: session's choice) a 5,000-resource call ran ~16 young and one middle collection, 11 ms of
#: its 62 (bench/README.md, eighth session). After ``gc.freeze()`` the oldest generation holds
#: little; what cycles there are wait longer for a full collection.
GC_THRESHOLDS: Final = (200_000, 20, 100)


class JSONBytesResponse(Response):
    """JSON rendered by orjson: faster than the standard library and strict about types."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(error: ProtocolError) -> JSONBytesResponse:
    """The contract's error body for ``error``."""
    return JSONBytesResponse(error.body(), status_code=error.status_code, headers=error.headers)


def _route_label(path: str) -> tuple[str, str]:
    """(route, service) labels from a path, from bounded sets so metrics cannot explode."""
    parts = [part for part in path.split("/") if part]
    service = parts[1] if len(parts) >= 2 and parts[0] == "cds-services" else ""
    service = service if service in SERVICES else "none"
    if parts == ["cds-services"]:
        return "discovery", "none"
    if len(parts) == 2 and parts[0] == "cds-services":
        return "service", service
    if len(parts) == 3 and parts[0] == "cds-services" and parts[2] == "feedback":
        return "feedback", service
    if len(parts) == 1 and parts[0] in {"healthz", "readyz", "metrics"}:
        return parts[0], "none"
    if len(parts) == 3 and parts[:2] == ["fhir", "CodeSystem"]:
        return "codesystem", "none"
    if parts == ["analytics", "cards"]:
        return "analytics-api", "none"
    if parts[:1] in (["analytics"], ["demo"]):  # the pages and their static assets
        return f"{parts[0]}-page", "none"
    return "other", "none"


class AccessMiddleware:
    """One JSON log line and the request metrics per HTTP request; last-resort 500 JSON.

    A client that disconnects before its request is read is recorded as status 499 at INFO.

    Route handlers put operational facts (hook, hookInstance, card topics, skipped count) in
    ``request.state.cds_call``; this middleware reads them when the response is sent. Exceptions
    that escape every handler become a JSON 500 here, logged by type only, so neither a
    stack trace nor exception text (which could quote patient data) leaves the process.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False
        recorded = False

        def record() -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                self._record(scope, status, time.perf_counter() - started)

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Recorded just before the last byte leaves, so a client that has its
                # answer can already see it in /metrics and the log.
                record()
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except ClientDisconnect:
            # The client hung up before its body arrived: not a service failure, and nobody
            # is listening for an answer. Counted apart (nginx's 499) and logged at INFO.
            if not response_started:
                status = CLIENT_CLOSED_REQUEST
            logger.info("client disconnected before the request was read")
        except Exception as exc:
            logger.error("unhandled error", extra={"exc_type": type(exc).__name__})
            if not response_started:
                status = 500
                error = ProtocolError(500, errors.INTERNAL_ERROR, "The service failed.")
                await error_response(error)(scope, receive, send_wrapper)
        finally:
            record()

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        route, service = _route_label(str(scope.get("path", "")))
        self.metrics.requests.labels(route, service, str(status)).inc()
        self.metrics.latency.labels(route, service).observe(elapsed)
        call: dict[str, Any] = dict(scope.get("state", {}).get(_CALL_STATE) or {})
        skipped = int(call.get("skipped_resources", 0))
        if skipped:
            self.metrics.skipped_resources.inc(skipped)
        log_access(
            method=str(scope.get("method", "")),
            route=route,
            service_id=service if service != "none" else None,
            hook=call.get("hook"),
            hook_instance=call.get("hook_instance"),
            status=status,
            latency_ms=round(elapsed * 1000, 2),
            card_topics=call.get("topics", []),
            skipped_resources=skipped,
        )


def _install_error_handlers(app: FastAPI) -> None:
    """Map every failure to the contract's JSON error body; never a stack trace."""

    async def on_protocol_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProtocolError)
        return error_response(exc)

    async def on_http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            error = ProtocolError(404, errors.NOT_FOUND, "No such resource.")
        elif exc.status_code == 405:
            error = ProtocolError(405, errors.METHOD_NOT_ALLOWED, "Method not allowed here.")
        else:
            error = ProtocolError(exc.status_code, "http_error", "The request failed.")
        return error_response(error)

    async def on_validation_error(_: Request, exc: Exception) -> Response:
        return error_response(errors.invalid_request("The request is invalid."))

    async def on_unexpected(_: Request, exc: Exception) -> Response:
        logger.error("unhandled error", extra={"exc_type": type(exc).__name__})
        return error_response(ProtocolError(500, errors.INTERNAL_ERROR, "The service failed."))

    app.add_exception_handler(ProtocolError, on_protocol_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)


def _service(service_id: str) -> ServiceDefinition:
    service = SERVICES.get(service_id)
    if service is None:
        raise unknown_service()
    return service


def _call_state(request: Request, **fields: Any) -> dict[str, Any]:
    """The operational facts of this call, read by :class:`AccessMiddleware`."""
    state: dict[str, Any] = getattr(request.state, _CALL_STATE, None) or {}
    state.update(fields)
    setattr(request.state, _CALL_STATE, state)
    return state


def _request_body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for ``model`` with its ``$defs`` inlined.

    Pydantic puts nested models under ``$defs`` with ``#/$defs/...`` references, which in an
    OpenAPI document would point at the document root and not resolve (schemathesis and
    client generators would see broken references).
    """
    schema = model.model_json_schema(by_alias=True)
    defs: dict[str, Any] = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline(schema)}},
        }
    }


_SERVICE_REQUEST_SCHEMA: Final = _request_body_schema(HookRequest)
_FEEDBACK_REQUEST_SCHEMA: Final = _request_body_schema(FeedbackRequest)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service; ``settings`` default to the environment (``CDS_*``).

    Raises :class:`cds_service.config.ConfigurationError` for settings it must not run with
    (auth on without ``CDS_PUBLIC_BASE_URL``), so no server ever starts with them.
    """
    settings = settings or get_settings()
    check_startable(settings)
    configure_logging(settings.log_level)
    FACTS_MEMO.configure(settings.record_memo_entries)
    ELEMENT_CACHE.configure(min(settings.record_memo_entries, ELEMENT_CACHE_ENTRIES))
    RECORD_CACHE.configure(min(settings.record_memo_entries, RECORD_CACHE_ENTRIES))
    RENDERED_CACHE.configure(min(settings.record_memo_entries, RENDERED_CACHE_ENTRIES))
    PARSED_PREFETCHES.configure(min(settings.record_memo_entries, PARSED_PREFETCH_ENTRIES))
    metrics = Metrics()
    store = FeedbackStore(settings.database_url, settings.database_timeouts())
    audit = create_recorder(settings, store, metrics.registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(warm_up)
        # Everything loaded so far lives as long as the process: move it out of the collector's
        # view, so parsing a large body does not rescan it (halves the parse time of 3 MB).
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        client = build_http_client(settings)
        app.state.fetcher = FhirFetcher(client, settings)
        try:
            await store.deadline.run(store.ensure_schema)
        except SQLAlchemyError:
            # The database may start after the service (docker compose); /readyz reports it
            # and the schema is created on first use.
            logger.warning("feedback store not reachable at startup")
        audit.start()
        try:
            yield
        finally:
            await client.aclose()
            await run_in_threadpool(audit.close)  # writes what is still queued
            store.dispose()

    app = FastAPI(
        title="Natalizumab CDS Hooks service",
        version=__version__,
        lifespan=lifespan,
        default_response_class=JSONBytesResponse,
        # Swagger UI and ReDoc load their scripts from a CDN into this origin: not served.
        # The OpenAPI document itself stays at /openapi.json for tools (README, Security).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.feedback_store = store
    app.state.audit = audit
    app.state.fetcher = None  # set at startup; None means "never fetch"
    _install_error_handlers(app)
    app.add_middleware(
        SlowUploadMiddleware,
        timeout_s=settings.body_read_timeout_s,
        max_concurrent=settings.max_concurrent_uploads,
        gauge=metrics.uploads,
    )
    app.add_middleware(AccessMiddleware, metrics=metrics)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["*"],
    )
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: every answer gets them
    protected = [Depends(verify_request_auth)]

    @app.get("/cds-services", dependencies=protected)
    async def discovery() -> Response:
        """CDS Hooks discovery: the three natalizumab services."""
        return JSONBytesResponse(discovery_document())

    async def answer_call(request: Request) -> Response:
        """Answer one hook call with cards (the caller has checked auth)."""
        service = _service(request.path_params["service_id"])
        call = _call_state(request, hook=service.hook)
        body, prefetch_depth = await read_hook_json(
            request,
            settings.max_body_bytes,
            max_depth=settings.max_json_depth,
            max_resources=settings.max_resources,
            remember_prefetch=RECORD_CACHE.enabled,
        )
        if isinstance(body, dict) and isinstance(body.get("hookInstance"), str):
            call["hook_instance"] = body["hookInstance"][:128]

        def on_fetch(key: str, seconds: float, failure: str | None) -> None:
            metrics.fhir_fetch_latency.labels(key).observe(seconds)
            if failure is not None:
                metrics.fhir_fetch_failures.labels(key, failure).inc()

        result = await answer_hook_call(
            service,
            body,
            settings,
            request.app.state.fetcher,
            on_fetch=on_fetch,
            before_prefetch=prefetch_depth.hold if prefetch_depth else None,
        )
        call.update(topics=result.topics, skipped_resources=result.skipped_resources)
        for topic, indicator in zip(result.topics, result.indicators, strict=False):
            metrics.cards.labels(topic, indicator).inc()
        for topic in result.card_fallbacks:
            metrics.card_fallbacks.labels(topic).inc()
        for topic in result.rules_failed:
            metrics.rule_failures.labels(topic).inc()
        if result.assessment_failed:
            metrics.assessment_failures.inc()
        audit.record(service.id, result.hook_instance, result.body["cards"])
        return JSONBytesResponse(result.body)

    async def call_service(request: Request) -> Response:
        """Answer one hook call with cards.

        Served by a plain Starlette route (below): FastAPI's dependency and parameter
        machinery cost about a fifth of the everyday call, which only needs the path's
        service id and the auth check, both done here in FastAPI's order (auth first).
        """
        await verify_request_auth(request)
        return await answer_call(request)

    # The lean route comes first, so it serves every POST; the FastAPI route behind it only
    # documents the operation in /openapi.json. Were it reached, its dependency checks auth
    # once (a second check would refuse the token's jti as a replay), then the same answer.
    app.router.routes.insert(
        0, Route(SERVICE_PATH, call_service, methods=["POST"], include_in_schema=False)
    )

    @app.post(SERVICE_PATH, dependencies=protected, openapi_extra=_SERVICE_REQUEST_SCHEMA)
    async def service_call(service_id: str, request: Request) -> Response:
        """Answer one hook call with cards."""
        return await answer_call(request)

    @app.post(
        "/cds-services/{service_id}/feedback",
        dependencies=protected,
        openapi_extra=_FEEDBACK_REQUEST_SCHEMA,
    )
    async def feedback(service_id: str, request: Request) -> Response:
        """Store CDS Hooks feedback; answers only after the transaction has committed."""
        service = _service(service_id)
        _call_state(request, hook=service.hook)
        items = parse_feedback(
            await read_json(
                request,
                settings.max_body_bytes,
                max_depth=settings.max_json_depth,
                max_resources=settings.max_resources,
            )
        ).feedback
        received_at = datetime.now(UTC)
        try:
            result = await store.write(service.id, items, received_at)
        except SQLAlchemyError as exc:
            logger.error("feedback store failed", extra={"exc_type": type(exc).__name__})
            raise ProtocolError(
                503,
                "feedback_store_unavailable",
                "The feedback store is not available.",
                # Storing is idempotent: a resend after a 503 is never counted twice.
                headers={"Retry-After": str(max(1, math.ceil(store.timeouts.statement_s)))},
            ) from None
        for item in items:
            metrics.feedback.labels(item.outcome, "received").inc()
        audit.feedback_stored(item.card for item in items)
        return JSONBytesResponse({"stored": result.stored, "duplicates": result.duplicates})

    @app.get("/healthz")
    async def healthz() -> Response:
        """Liveness: the process answers."""
        return JSONBytesResponse({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> Response:
        """Readiness: the feedback store answers."""
        try:
            ready = await store.probe.run(store.ping)
        except SQLAlchemyError:
            ready = False
        if ready:
            return JSONBytesResponse({"status": "ready"})
        return error_response(
            ProtocolError(503, errors.NOT_READY, "The feedback store is not reachable.")
        )

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        """Prometheus text exposition of this app's registry."""
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.get("/fhir/CodeSystem/{codesystem_id}")
    async def codesystem(codesystem_id: str) -> Response:
        """The project's CodeSystems (card topics, MS findings) as FHIR JSON."""
        not_found = ProtocolError(404, errors.NOT_FOUND, "No such CodeSystem.")
        if _CODESYSTEM_ID.fullmatch(codesystem_id) is None:
            raise not_found
        resource = files("cds_service").joinpath(
            "knowledge", "codesystems", f"{codesystem_id}.json"
        )
        if not resource.is_file():
            raise not_found
        return Response(resource.read_bytes(), media_type="application/fhir+json")

    if settings.analytics_token is not None:
        install_analytics(app, settings.analytics_token.get_secret_value(), store)
    if settings.demo_served:
        install_demo(app)  # GET /demo: a browser page playing the EHR (issue 7)

    return app
