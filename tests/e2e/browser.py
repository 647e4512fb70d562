"""Debian Chromium under Playwright, and a demo-page tab that records what went wrong in it.

The fixtures that use these live in ``tests/e2e/conftest.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


@dataclass
class DemoPage:
    """A browser tab plus what went wrong in it (script errors, non-loopback requests)."""

    page: Any
    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert not self.blocked, f"the page tried to leave loopback: {self.blocked}"
        assert not self.errors, f"browser errors: {self.errors}"


def choose_story(page: Any, name: str) -> None:
    """Select a story and wait until the page shows *that* story, not the one loaded first."""
    from playwright.sync_api import expect

    option = page.locator(f"#story option[value='{name}']")
    option.wait_for(state="attached")
    title = option.text_content()
    page.select_option("#story", name)
    expect(page.locator("#status")).to_contain_text(f"Story loaded: {title}.")
