"""Browser fixtures: Debian Chromium (module scope) and a demo-page tab confined to loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, LOOPBACK, DemoPage, in_ci
from tests.support.server import LiveServer


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright; skipped on a developer machine without it."""
    if not CHROMIUM.exists():
        if in_ci():
            pytest.fail(
                "CI is set but /usr/bin/chromium is missing: .ci/run must install Debian's "
                "chromium package (apt-get install -y chromium)"
            )
        pytest.skip(
            "Debian chromium is not installed at /usr/bin/chromium "
            "(apt-get update && apt-get install -y chromium); CI always runs this test"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def demo(browser: Any, live_server: LiveServer) -> Iterator[DemoPage]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    tab = DemoPage(page)

    def guard(route: Any) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            tab.blocked.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    page.on("console", lambda msg: tab.errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{live_server.url}/demo")
    try:
        yield tab
    finally:
        context.close()
