"""Fuzzing: no input makes the service answer 5xx, and every 4xx is the JSON error body.

Two generators, both in-process (httpx ``ASGITransport``, no network):

* schemathesis over the service's own OpenAPI document (every operation), check
  ``not_a_server_error``;
* Hypothesis-generated hostile, FHIR-ish hook calls and feedback posts
  (:mod:`tests.security.fuzz_strategies`).

The default run executes a small sample (200 hook calls; a few dozen cases per OpenAPI
operation). The big run is one command (about 10,000 requests)::

    FUZZ_EXAMPLES=10000 pytest tests/security/test_fuzz.py -m slow
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from cds_service.app import create_app
from cds_service.config import Settings
from tests.security.fuzz_strategies import SERVICES, calls, mostly

SMALL_EXAMPLES = 200
BIG_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))
FUZZ_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


def assert_no_server_error(status: int, content: bytes, path: str) -> None:
    """The contract's rule for any answer: no 5xx; a 4xx carries ``{"error", "message"}``."""
    assert status < 500, f"{status} for {path}: {content[:300]!r}"
    if status >= 400:
        body = json.loads(content)
        assert isinstance(body, dict), content[:200]
        assert isinstance(body.get("error"), str), content[:200]
        assert isinstance(body.get("message"), str), content[:200]


def assert_well_formed(status: int, content: bytes, path: str) -> None:
    """A POST answer: no 5xx, JSON errors, and a 200 carries cards (or the feedback receipt)."""
    assert_no_server_error(status, content, path)
    if status >= 400:
        return
    body = json.loads(content)
    if path.endswith("/feedback"):
        assert isinstance(body, dict)
    else:
        assert isinstance(body.get("cards"), list), content[:200]


class InProcessClient:
    """One app and one event loop for a whole fuzz run (fast: no sockets, no threads)."""

    def __init__(self, database: Path) -> None:
        self.app = create_app(Settings(database_url=f"sqlite:///{database}", log_level="WARNING"))
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://cds.test"
        )
        self.requests = 0
        self.statuses: dict[int, int] = {}

    def post(self, path: str, content: bytes) -> httpx.Response:
        response = self.loop.run_until_complete(
            self.client.post(path, content=content, headers={"Content-Type": "application/json"})
        )
        self.requests += 1
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        return response

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessClient]:
    client = InProcessClient(tmp_path_factory.mktemp("fuzz") / "feedback.db")
    yield client
    print(f"\nfuzz: {client.requests} requests, statuses {sorted(client.statuses.items())}")
    client.close()


def run_call(client: InProcessClient, path: str, content: bytes) -> None:
    response = client.post(path, content)
    assert_well_formed(response.status_code, response.content, path)


@settings(max_examples=SMALL_EXAMPLES, **FUZZ_SETTINGS)
@given(call=calls())
def test_fuzz_hook_calls_small(fuzz_client: InProcessClient, call: tuple[str, bytes]) -> None:
    run_call(fuzz_client, *call)


@pytest.mark.slow
def test_fuzz_hook_calls_big(fuzz_client: InProcessClient) -> None:
    if BIG_EXAMPLES < 1:
        pytest.skip("set FUZZ_EXAMPLES (e.g. 10000) for the big fuzz run")
    started = time.monotonic()

    # No shrinking phase: a failure is reported at once with its seed and example.
    @settings(
        max_examples=BIG_EXAMPLES,
        phases=[Phase.explicit, Phase.generate],
        **FUZZ_SETTINGS,
    )
    @given(call=calls())
    def run(call: tuple[str, bytes]) -> None:
        run_call(fuzz_client, *call)

    run()
    print(f"\nbig fuzz: {BIG_EXAMPLES} examples in {time.monotonic() - started:.1f} s")


# --- schemathesis over the OpenAPI document ------------------------------------------------

_schema_db = Path(tempfile.mkdtemp(prefix="cds-schemathesis-")) / "feedback.db"
_schema_app = create_app(Settings(database_url=f"sqlite:///{_schema_db}", log_level="WARNING"))
schema = schemathesis.openapi.from_asgi("/openapi.json", _schema_app)
SCHEMA_EXAMPLES = max(25, BIG_EXAMPLES // 20)
SCHEMA_STATUSES: Counter[tuple[str, str, int]] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_schema_statuses() -> Iterator[None]:
    yield
    if SCHEMA_STATUSES:
        print(f"\nschemathesis: {sorted(SCHEMA_STATUSES.items())}")


_SERVICE_IDS = mostly(st.sampled_from(list(SERVICES)), st.text(max_size=30))
_CODESYSTEM_IDS = mostly(st.sampled_from(["card-topic", "ms-findings"]), st.text(max_size=30))


@schema.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """Real service and CodeSystem ids most of the time, so bodies get past the 404."""
    if not path_parameters:
        return st.just(path_parameters)
    fixed: dict[str, Any] = {}
    if "service_id" in path_parameters:
        fixed["service_id"] = _SERVICE_IDS
    if "codesystem_id" in path_parameters:
        fixed["codesystem_id"] = _CODESYSTEM_IDS
    return st.fixed_dictionaries(fixed).map(lambda chosen: {**path_parameters, **chosen})


@schema.parametrize()
@settings(max_examples=SCHEMA_EXAMPLES, **FUZZ_SETTINGS)
def test_openapi_operations_never_fail(case: schemathesis.Case[Any]) -> None:
    response = case.call_and_validate(checks=[not_a_server_error])
    SCHEMA_STATUSES[(case.method, case.path, response.status_code)] += 1
    assert_no_server_error(response.status_code, response.content, case.path)
