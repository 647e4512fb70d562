"""Shared fixtures: the real service over HTTP on a loopback port, and in-process clients.

``live_server`` starts uvicorn in a background thread on a free 127.0.0.1 port with the app
from ``cds_service.app.create_app(settings)``; tests talk to it with httpx like an EHR would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cds_service.cards.remembered import RENDERED_CACHE
from cds_service.config import Settings
from cds_service.protocol.limits import PROVEN_PREFETCH
from cds_service.protocol.prefetch_split import PARSED_PREFETCHES
from cds_service.record.record_cache import RECORD_CACHE
from tests.support.server import LiveServer, start_live_server


@pytest.fixture(autouse=True)
def no_remembered_answers() -> None:
    """Each test starts with no remembered record, cards, proven or parsed prefetch, so what
    it patches (a rule's data, a card text, a proof, the parser) holds from its first call; a
    second call with the same data within the test is answered from memory, as in the
    service."""
    RECORD_CACHE.clear()
    RENDERED_CACHE.clear()
    PROVEN_PREFETCH.clear()
    PARSED_PREFETCHES.clear()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings with the feedback store in a per-test SQLite file."""
    return Settings(database_url=f"sqlite:///{tmp_path / 'feedback.db'}")


@pytest.fixture
def live_server_factory() -> Iterator[Callable[..., LiveServer]]:
    """Start any number of real servers with chosen settings; all are stopped after the test.

    ``port`` (optional) lets a test know the URL before the start, e.g. for
    ``CDS_PUBLIC_BASE_URL``, which auth-on settings require.
    """
    started: list[LiveServer] = []

    def start(settings: Settings, port: int | None = None) -> LiveServer:
        server = start_live_server(settings, port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def live_server(
    settings: Settings, live_server_factory: Callable[[Settings], LiveServer]
) -> LiveServer:
    """The real service with default settings, on a loopback port."""
    return live_server_factory(settings)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``slow`` tests run only when asked for (``-m slow``): the default suite stays short."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow (see README, Security)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
