"""``cds-service report`` prints what GET /analytics/cards answers, from the database alone."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from cds_service.cli import cli
from cds_service.config import Settings, get_settings
from cds_service.feedback.store import FeedbackStore
from tests.analytics.fixtures import SINCE, UNTIL, seed
from tests.support.server import LiveServer

TOKEN = "committee-token-0123456789abcdef0123456789"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def seeded_url(audit_store: FeedbackStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    seed(audit_store)
    url = audit_store.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("CDS_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["report", *args])
    return result.exit_code, result.output


def test_json_report_equals_the_api(
    seeded_url: str, live_server_factory: Callable[[Settings], LiveServer]
) -> None:
    code, output = _run("--since", SINCE, "--until", UNTIL, "--format", "json")
    assert code == 0
    server = live_server_factory(Settings(database_url=seeded_url, analytics_token=TOKEN))
    api = httpx.get(
        f"{server.url}/analytics/cards?since={SINCE}&until={UNTIL}",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).json()
    assert orjson.loads(output) == api
    assert api["total"]["shown"] == 7


def test_csv_and_html_reports(seeded_url: str) -> None:
    code, output = _run("--since", SINCE, "--until", UNTIL, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(output)))
    assert {(r["period"], r["topic"], r["shown"]) for r in rows if r["topic"] == "*"} == {
        ("total", "*", "7"),
        ("2025-W52", "*", "4"),
        ("2026-W01", "*", "3"),
    }
    code, output = _run("--since", SINCE, "--until", UNTIL, "--format", "html")
    assert code == 0
    assert output.startswith("<!doctype html>")
    assert '<span class="figure" id="total-override-rate">57.1 %</span>' in output
    assert output.count('role="img"') == 3


@pytest.mark.parametrize(
    "args",
    [
        ["--since", "2026-01-40"],
        ["--since", "2026-01-02", "--until", "2026-01-01"],
        ["--format", "xml"],
    ],
)
def test_bad_arguments_exit_2(seeded_url: str, args: list[str]) -> None:
    code, _ = _run(*args)
    assert code == 2


def test_the_console_script_runs(seeded_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cds_service", "report", "--since", SINCE, "--until", UNTIL],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert orjson.loads(result.stdout)["total"]["overridden"] == 4
