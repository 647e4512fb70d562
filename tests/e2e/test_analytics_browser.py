"""The committee's page in headless Chromium: token entry, the numbers, accessibility, no leaks.

The service runs under uvicorn on loopback with a seeded audit; the page fetches the report
with the typed token. Every request the page makes must stay on loopback, the token must
never reach the URL, storage or cookies, and every chart must have a text alternative.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from cds_service.config import Settings
from cds_service.feedback.store import FeedbackStore
from tests.analytics.fixtures import SINCE, UNTIL, seed, seed_quarter
from tests.e2e.browser import LOOPBACK
from tests.e2e.test_demo_browser import ARTIFACTS
from tests.support.server import LiveServer

pytestmark = pytest.mark.browser

TOKEN = "committee-token-0123456789abcdef0123456789"


@pytest.fixture
def server(tmp_path: Path, live_server_factory: Callable[[Settings], LiveServer]) -> LiveServer:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = FeedbackStore(url)
    store.ensure_schema()
    seed(store)
    seed_quarter(store, datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0))
    store.dispose()
    return live_server_factory(Settings(database_url=url, analytics_token=TOKEN))


@pytest.fixture
def tab(
    request: pytest.FixtureRequest, server: LiveServer
) -> Iterator[tuple[Any, list[str], list[Any]]]:
    context = request.getfixturevalue("browser").new_context(
        viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    requests: list[Any] = []

    def guard(route: Any) -> None:
        requests.append(route.request)
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            problems.append(f"left loopback: {route.request.url}")
            route.abort()

    page.route("**/*", guard)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    try:
        yield page, problems, requests
    finally:
        context.close()


def _load(page: Any, since: str | None = None, until: str | None = None) -> None:
    """Type the token and the period with the keyboard only, then press Enter."""
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "token"
    page.keyboard.type(TOKEN)
    if since and until:
        page.fill("#since", since)
        page.fill("#until", until)
    page.focus("#token")
    page.keyboard.press("Enter")


def test_token_entry_numbers_and_no_leaks(tab: Any, server: LiveServer) -> None:
    from playwright.sync_api import expect

    page, problems, requests = tab
    response = page.goto(f"{server.url}/analytics")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    expect(page.locator("#status")).to_contain_text("Enter the analytics token")

    _load(page, SINCE, UNTIL)
    expect(page.locator("#status")).to_contain_text(f"Report for {SINCE} to {UNTIL} loaded")
    expect(page.locator("#total-shown")).to_have_text("7")
    expect(page.locator("#total-overridden")).to_have_text("4")
    expect(page.locator("#total-override-rate")).to_have_text("57.1 %")
    row = page.locator("table.by-topic tr", has_text="PML risk").filter(has_text="(warning)")
    expect(row.locator("td").nth(4)).to_have_text("75.0 %")
    # Hostile text from feedback is shown as text, never as markup.
    expect(page.locator("table.reasons")).to_contain_text("<script>alert(1)</script>")
    assert page.evaluate("window.alerted === undefined")

    # The token went in the Authorization header only: not the URL, storage or cookies.
    api = [r for r in requests if "/analytics/cards" in r.url]
    assert api and all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in api)
    assert all(TOKEN not in r.url for r in requests)
    assert TOKEN not in page.url
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert page.context.cookies() == []
    assert page.input_value("#token") == ""
    assert problems == []


def test_charts_and_tables_are_accessible(tab: Any, server: LiveServer) -> None:
    from playwright.sync_api import expect

    page, problems, _ = tab
    page.goto(f"{server.url}/analytics")
    _load(page)
    expect(page.locator("#report-title")).to_be_focused()
    charts = page.eval_on_selector_all(
        "svg",
        """svgs => svgs.map(svg => ({
            role: svg.getAttribute('role'),
            names: (svg.getAttribute('aria-labelledby') || '').split(' ')
                .map(id => (document.getElementById(id) || {}).textContent || ''),
            table: !!svg.closest('figure').nextElementSibling.matches('table'),
        }))""",
    )
    assert len(charts) == 3
    for chart in charts:
        assert chart["role"] == "img"
        assert len(chart["names"]) == 2 and all(name.strip() for name in chart["names"])
        assert chart["table"], "every chart is followed by a table of its numbers"
    tables = page.eval_on_selector_all(
        "table",
        """ts => ts.map(t => ({
            caption: t.caption ? t.caption.textContent.trim() : '',
            cols: t.querySelectorAll('thead th[scope=col]').length,
        }))""",
    )
    assert tables and all(t["caption"] and t["cols"] for t in tables)
    unlabeled = page.eval_on_selector_all(
        "input, button", "els => els.filter(e => !e.labels?.length && !e.textContent.trim())"
    )
    assert unlabeled == []
    page.focus("#show")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 1900})
    page.evaluate("document.activeElement.blur()")
    page.screenshot(path=str(ARTIFACTS / "analytics.png"))
    assert problems == []


def test_a_wrong_token_is_refused_and_forgotten(tab: Any, server: LiveServer) -> None:
    from playwright.sync_api import expect

    page, problems, _ = tab
    page.goto(f"{server.url}/analytics")
    page.fill("#token", "not-the-token")
    page.click("#show")
    expect(page.locator("#status")).to_contain_text("not accepted")
    expect(page.locator("#report")).to_be_empty()
    expect(page.locator("#token")).to_be_focused()
    assert problems == [] or all("401" in p for p in problems)
