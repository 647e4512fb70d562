"""The collector is paused while hook calls compute, resumed when none does, never for long.

Why it matters: the pause saves a hook call the collector's rescans of its own data
(bench/README.md), but a collector left off would let cyclic garbage grow; and one that an
operator or a library turned off must stay off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cds_service import pipeline
from cds_service.app import create_app
from cds_service.collector import COLLECTOR_PAUSE, CollectorPause
from cds_service.config import Settings
from tests.contract.builders import hook_request
from tests.support.asgi import InProcessClient

PATH = "/cds-services/natalizumab-order-sign"


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_paused_during_a_call_and_resumed_after() -> None:
    pause = CollectorPause()
    with pause.during_call():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_resumed_only_when_the_last_overlapping_call_ends() -> None:
    pause = CollectorPause()
    first, second = pause.during_call(), pause.during_call()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_never_paused_longer_than_the_limit_while_calls_keep_overlapping() -> None:
    clock = Clock()
    pause = CollectorPause(max_pause_s=1.0, clock=clock)
    long_call = pause.during_call()
    long_call.__enter__()
    assert not gc.isenabled()
    clock.now = 1.5
    with pause.during_call():  # a call starting after the limit resumes the collector
        assert gc.isenabled()
    assert gc.isenabled()
    long_call.__exit__(None, None, None)
    assert gc.isenabled()
    with pause.during_call():  # the process went idle: the next call pauses again
        assert not gc.isenabled()


def test_a_failing_call_resumes_the_collector() -> None:
    pause = CollectorPause()
    with pytest.raises(RuntimeError), pause.during_call():
        raise RuntimeError("the call failed")
    assert gc.isenabled()


def test_a_collector_turned_off_elsewhere_stays_off() -> None:
    gc.disable()
    pause = CollectorPause()
    with pause.during_call():
        assert not gc.isenabled()
    assert not gc.isenabled()
    assert not pause.paused


def test_the_service_computes_a_hook_call_with_the_collector_paused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    evaluate = pipeline.evaluate

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return evaluate(*args, **kwargs)

    monkeypatch.setattr("cds_service.hook_call.evaluate", recording)
    client = InProcessClient(create_app(Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}")))
    try:
        response = client.post(PATH, json=hook_request("order-sign"))
        assert response.status_code == 200
        assert response.json()["cards"]
        assert seen == [False]
        assert gc.isenabled()
        assert not COLLECTOR_PAUSE.paused
        # A refused call resumes it too.
        assert client.post(PATH, json={}).status_code == 400
        assert gc.isenabled()
    finally:
        client.close()
