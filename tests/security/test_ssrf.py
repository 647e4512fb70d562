"""SSRF guard: ``fhirServer`` outside the allow-list is never contacted (contract section 0).

Each case sends a hook call without prefetch, so the service would have to fetch the required
data. A loopback socket listener records connections: it must see none, and the answer must
be 412. The allowed stand-in server shows that fetching itself works (positive control).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from cds_service.config import Settings
from tests.security.hook_data import ACCESS_TOKEN, SERVICE_ID, fhir_resources, order_sign_request
from tests.security.listeners import ConnectionRecorder, RedirectServer
from tests.support.fhir_stub import FhirStub, start_fhir_stub
from tests.support.server import LiveServer

Factory = Callable[[Settings], LiveServer]


@pytest.fixture
def recorder() -> Iterator[ConnectionRecorder]:
    listener = ConnectionRecorder().start()
    yield listener
    listener.stop()


@pytest.fixture
def stub() -> Iterator[FhirStub]:
    server = start_fhir_stub(fhir_resources())
    yield server
    server.stop()


def settings_for(tmp_path: Path, allowed: list[str]) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'feedback.db'}",
        allowed_fhir_servers=allowed,
        fhir_total_timeout_s=3.0,
    )


def post_without_prefetch(server: LiveServer, fhir_server: str) -> httpx.Response:
    body = order_sign_request(prefetch=False, fhir_server=fhir_server)
    return httpx.post(f"{server.url}/cds-services/{SERVICE_ID}", json=body, timeout=30)


def test_allowed_server_is_fetched_with_the_token(
    tmp_path: Path, stub: FhirStub, live_server_factory: Factory
) -> None:
    """Positive control: without it, every 412 below could be a fetcher that never works."""
    server = live_server_factory(settings_for(tmp_path, [stub.base_url]))
    response = post_without_prefetch(server, stub.base_url)
    assert response.status_code == 200, response.text
    seen = stub.recorded()
    assert seen, "the allowed server was not contacted"
    assert all(r.authorization == f"Bearer {ACCESS_TOKEN}" for r in seen)


def test_servers_outside_the_allow_list_are_never_contacted(
    tmp_path: Path, stub: FhirStub, recorder: ConnectionRecorder, live_server_factory: Factory
) -> None:
    allowed_port = int(stub.base_url.split(":")[2].split("/")[0])
    other = recorder.port
    same_port_other_ip = ConnectionRecorder(host="127.0.0.2", port=allowed_port).start()
    server = live_server_factory(settings_for(tmp_path, [stub.base_url]))
    cases = [
        f"http://127.0.0.1:{other}/fhir",
        f"http://localhost:{other}/fhir",
        f"http://127.0.0.2:{allowed_port}/fhir",
        "file:///etc/passwd",
        f"http://127.0.0.1:{allowed_port}@127.0.0.1:{other}/fhir",
        f"http://127.0.0.1:{allowed_port}/fhir@127.0.0.1:{other}/fhir",
        f"http://127.0.0.1:{other}@localhost/fhir",
        f"http://127.0.0.1:{allowed_port}@localhost:{other}/fhir",
        f"http://127.0.0.1:{allowed_port}\\@127.0.0.1:{other}/fhir",
        f"http://127.0.0.1:{allowed_port}#@127.0.0.1:{other}/fhir",
        f"http://127.0.0.1:{allowed_port}/fhir-evil",
        f"http://127.0.0.1:{allowed_port}/fhir/../admin",
        f"http://127.0.0.1:{allowed_port}/fhir/%2e%2e/admin",
        f"http://127.0.0.1:{allowed_port}/fhir?x=/../admin",
        f"https://127.0.0.1:{allowed_port}/fhir",
        f"gopher://127.0.0.1:{other}/fhir",
        f"http://127.0.0.1:{allowed_port}/FHIR",
        " " + stub.base_url,
        "",
    ]
    try:
        unexpected = []
        for url in cases:
            response = post_without_prefetch(server, url)
            if (
                response.status_code != 412
                or response.json().get("error") != "prefetch_unavailable"
            ):
                unexpected.append((url, response.status_code, response.text[:120]))
        assert unexpected == []
        assert recorder.received == []
        assert same_port_other_ip.received == []
        assert stub.recorded() == []
    finally:
        same_port_other_ip.stop()


def test_redirect_from_allowed_server_is_not_followed(
    tmp_path: Path, recorder: ConnectionRecorder, live_server_factory: Factory
) -> None:
    redirector = RedirectServer(f"http://127.0.0.1:{recorder.port}", "redirect").start()
    try:
        server = live_server_factory(settings_for(tmp_path, [redirector.base_url]))
        response = post_without_prefetch(server, redirector.base_url)
        assert response.status_code == 412
        assert redirector.paths, "the allowed stand-in was not contacted"
        assert recorder.received == []
    finally:
        redirector.stop()


def test_foreign_next_link_is_not_followed(
    tmp_path: Path, recorder: ConnectionRecorder, live_server_factory: Factory
) -> None:
    """The first pages are used, the foreign ``next`` never contacted, and the cards say that
    the searches were read only in part (contract v2 section 2)."""
    pager = RedirectServer(f"http://127.0.0.1:{recorder.port}", "next").start()
    try:
        server = live_server_factory(settings_for(tmp_path, [pager.base_url]))
        response = post_without_prefetch(server, pager.base_url)
        assert response.status_code == 200, response.text
        assert len(pager.paths) >= 2, "searches did not reach the allowed stand-in"
        assert recorder.received == []
        details = [card["detail"] for card in response.json()["cards"]]
        assert details and all("outside the EHR's FHIR server" in d for d in details)
    finally:
        pager.stop()


def test_no_allow_list_means_no_fetch(
    tmp_path: Path, stub: FhirStub, live_server_factory: Factory
) -> None:
    server = live_server_factory(settings_for(tmp_path, []))
    assert post_without_prefetch(server, stub.base_url).status_code == 412
    assert stub.recorded() == []
