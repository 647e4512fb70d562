"""Command line: ``cds-service serve | evaluate REQUEST.json | discovery | report``.

``evaluate`` runs the same code path as ``POST /cds-services/{id}`` without a server, so a
request file from ``fhir_examples/`` (rendered) or from an EHR log can be checked offline.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from cds_service.config import ConfigurationError, Settings, check_startable, get_settings
from cds_service.protocol.errors import ProtocolError, invalid_request, unknown_service
from cds_service.protocol.services import SERVICE_BY_HOOK, SERVICES, discovery_document

cli = typer.Typer(help="Natalizumab CDS Hooks service.", no_args_is_help=True, add_completion=False)


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Start the HTTP service (settings from CDS_* environment variables)."""
    import uvicorn

    try:
        check_startable(get_settings())
    except ConfigurationError as error:
        typer.echo(f"cds-service: {error}", err=True)
        raise typer.Exit(2) from None

    if workers == 1:
        from cds_service.app import create_app

        uvicorn.run(create_app(get_settings()), host=host, port=port, access_log=False)
    else:
        # Several processes need an import string; each worker builds its own app.
        uvicorn.run(
            "cds_service.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=False,
        )


async def _evaluate(body: Any, service_id: str | None, settings: Settings) -> dict[str, Any]:
    from cds_service.hook_call import answer_hook_call
    from cds_service.protocol.fhir_client import FhirFetcher, build_http_client

    if service_id is None:
        hook = body.get("hook") if isinstance(body, dict) else None
        service = SERVICE_BY_HOOK.get(hook) if isinstance(hook, str) else None
        if service is None:
            raise invalid_request("The request's hook is not one this service answers.")
    else:
        service = SERVICES.get(service_id)
        if service is None:
            raise unknown_service()
    async with build_http_client(settings) as client:
        result = await answer_hook_call(service, body, settings, FhirFetcher(client, settings))
    return result.body


@cli.command()
def evaluate(
    request_file: Annotated[Path, typer.Argument(help="A CDS Hooks request as JSON.")],
    service: Annotated[
        str | None, typer.Option(help="Service id; default: inferred from the hook.")
    ] = None,
) -> None:
    """Print the JSON response the service would give to REQUEST_FILE (exit 1 on an error)."""
    from cds_service.protocol.limits import parse_json

    settings = get_settings()
    try:
        raw = request_file.read_bytes()
    except OSError as error:
        typer.echo(f"cannot read {request_file}: {error.strerror}", err=True)
        raise typer.Exit(2) from None
    try:
        if len(raw) > settings.max_body_bytes:
            raise ProtocolError(413, "payload_too_large", "The request is over the size limit.")
        _print_json(asyncio.run(_evaluate(parse_json(raw), service, settings)))
    except ProtocolError as error:
        _print_json(error.body())
        raise typer.Exit(1) from None


@cli.command()
def report(
    since: Annotated[
        str | None, typer.Option(help="First UTC day, YYYY-MM-DD; default 89 days before --until.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Last UTC day (included), YYYY-MM-DD; default today.")
    ] = None,
    output: Annotated[str, typer.Option("--format", help="json, csv or html.")] = "json",
) -> None:
    """Print the card analytics (GET /analytics/cards) from the database, without a server."""
    from datetime import UTC, datetime

    from sqlalchemy.exc import SQLAlchemyError

    from cds_service.analytics.report import FORMATS, as_csv, as_html_document, as_json
    from cds_service.audit.summary import PeriodError, parse_period, summarize
    from cds_service.feedback.store import FeedbackStore

    if output not in FORMATS:
        typer.echo("--format must be json, csv or html", err=True)
        raise typer.Exit(2)
    try:
        first, last = parse_period(since, until, datetime.now(UTC).date())
    except PeriodError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    store = FeedbackStore(get_settings().database_url)
    try:
        store.ensure_schema()
        with store.engine.connect() as connection:
            summary = summarize(connection, first, last)
    except SQLAlchemyError as error:
        typer.echo(f"cannot read the audit database ({type(error).__name__})", err=True)
        raise typer.Exit(1) from None
    finally:
        store.dispose()
    if output == "json":
        _print_json(as_json(summary))
    elif output == "csv":
        sys.stdout.write(as_csv(summary))
    else:
        sys.stdout.write(as_html_document(summary))


@cli.command()
def discovery() -> None:
    """Print the discovery document (GET /cds-services)."""
    _print_json(discovery_document())


def main() -> None:
    """Console-script entry point (``cds-service``)."""
    cli()
