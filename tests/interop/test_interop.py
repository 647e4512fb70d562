"""Third-party requests over real HTTP, with tokens built as their clients build them.

The service runs under uvicorn on loopback with auth **on** (two trusted issuers: the CDS
Hooks sandbox and the Inferno CRD test kit, each with a loopback JWK Set) and one allow-listed
FHIR server, a loopback stand-in holding each request's patient. For every case of
``corpus.cases`` the answer must be the status the contract demands; a natalizumab order is
never answered ``[]`` and never 5xx, and with data it gets the indication card and the
monitoring cards the data implies (no anti-JCV result, no brain MRI: ``jcv-test-due`` and
``mri-due``). Skipped, with the reason, when the corpus is not staged (README.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds_service.config import Settings
from tests.interop import clients
from tests.interop.corpus import (
    SERVICE_BY_HOOK,
    Case,
    cases,
    cerner_cases,
    corpus_dir,
    corpus_sources,
    fragment,
    natalizumab_variant,
    patient_id_of,
    sanitise_id,
    stand_in_resources,
)
from tests.interop.stage_corpus import check, problem_with
from tests.security.jwt_support import serve_jwks
from tests.support.fhir_stub import FhirStub, start_fhir_stub
from tests.support.server import LiveServer, free_loopback_port

CORPUS = corpus_dir()
INDICATION_TOPICS = {
    "natalizumab-indicated",
    "progressive-ms-not-indicated",
    "spms-on-natalizumab-review",
    "ms-activity-undetermined",
    "ms-phenotype-unspecified",
    "no-approved-indication",
}
SANDBOX_MEDICATION = ("199390", "Etodolac 500 MG Oral Tablet")  # from the sandbox's list


@dataclass
class Harness:
    server: LiveServer
    stub: FhirStub
    sandbox: clients.Client
    inferno: clients.Client
    spec: clients.Client
    epic: clients.Client

    def endpoint(self, service: str) -> str:
        return f"{self.server.url}/cds-services/{service}"

    def token(self, case_client: str, audience: str) -> str:
        if case_client == "inferno":
            return clients.inferno_token(self.inferno, audience)
        return clients.sandbox_token(self.sandbox, audience)

    def post(self, case: Case) -> httpx.Response:
        audience = self.endpoint(case.service)
        headers = {"Authorization": f"Bearer {self.token(case.client, audience)}"}
        if isinstance(case.body, bytes):
            headers["Content-Type"] = "application/json"
            return httpx.post(audience, content=case.body, headers=headers, timeout=30)
        return httpx.post(audience, json=case.body, headers=headers, timeout=30)


def _patients() -> set[str]:
    """Every patient a case names: the stand-in holds each (sandbox cases use smart-1288992)."""
    found = {patient_id_of(case.body) for case in CASES if isinstance(case.body, dict)}
    return {p for p in found if p} | {"smart-1288992"}


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    sandbox = clients.Client(clients.SANDBOX_ISS, {"ES384": clients.SANDBOX_KID})
    with ExitStack() as stack:
        sandbox_jwks = stack.enter_context(serve_jwks({"keys": []}))
        inferno_jwks = stack.enter_context(serve_jwks({"keys": []}))
        spec_jwks = stack.enter_context(serve_jwks({"keys": []}))
        epic_jwks = stack.enter_context(serve_jwks({"keys": []}))
        # Inferno's iss is its base URL and its jku that URL + /jwks.json.
        inferno = clients.Client(
            inferno_jwks.url.removesuffix("/jwks.json"),
            {"ES384": "4b49a739d1eb115b3225f4cf9beb6d1b", "RS384": "inferno-rs384"},
        )
        spec = clients.Client("https://fhir-ehr.example.com/", {"ES384": "example-kid"})
        # Epic's iss is the organisation's FHIR endpoint and its jku a path under the same base.
        epic_base = epic_jwks.url.removesuffix("/jwks.json")
        epic = clients.Client(f"{epic_base}/api/FHIR/R4", {"RS384": clients.EPIC_KID})
        for client, stub_jwks in (
            (sandbox, sandbox_jwks),
            (inferno, inferno_jwks),
            (spec, spec_jwks),
            (epic, epic_jwks),
        ):
            stub_jwks.document = client.jwks()
            client.jku = stub_jwks.url
        epic.jku = f"{epic_base}{clients.EPIC_JWKS_PATH}"
        resources = [r for patient in sorted(_patients()) for r in stand_in_resources(patient)]
        fhir = start_fhir_stub(resources)
        stack.callback(fhir.stop)
        port = free_loopback_port()
        settings = Settings(
            database_url=f"sqlite:///{Path(stack.enter_context(_tmpdir())) / 'interop.db'}",
            auth_required=True,
            public_base_url=f"http://127.0.0.1:{port}",
            trusted_issuers={
                sandbox.iss: sandbox.jku,
                inferno.iss: inferno.jku,
                spec.iss: spec.jku,
                epic.iss: epic.jku,
            },
            allowed_fhir_servers=[fhir.base_url],
        )
        from tests.support.server import start_live_server

        server = start_live_server(settings, port)
        stack.callback(server.stop)
        yield Harness(server, fhir, sandbox, inferno, spec, epic)


def _tmpdir() -> Any:
    import tempfile

    return tempfile.TemporaryDirectory(prefix="cds-interop-")


def all_cases() -> list[Case]:
    """The corpus cases and the sandbox-built ones (no third-party data).

    The stand-in's URL is known only at run time; cases carry a placeholder replaced there.
    """
    return [*cases(CORPUS, "{{stand-in}}"), *cerner_cases(CORPUS, "{{stand-in}}"), *sandbox_cases()]


def sandbox_cases() -> list[Case]:
    """The sandbox's Rx Sign and Rx View requests for R4, STU3 and DSTU2 servers."""
    built: list[Case] = []
    for hook in ("order-sign", "order-select"):
        for version in ("R4", "STU3", "DSTU2"):
            for dispense in (False, True):
                request = clients.sandbox_request(
                    hook,
                    version,
                    patient_id="smart-1288992",
                    fhir_server="{{stand-in}}",
                    medication=SANDBOX_MEDICATION,
                    with_dispense_request=dispense,
                    today=date.today(),
                )
                name = f"sandbox-{hook}-{version.lower()}{'-dispense' if dispense else ''}"
                provenance = {
                    "repo": "cds-hooks/sandbox",
                    "commit": clients.SANDBOX_COMMIT,
                    "path": "src/reducers/medication-reducers.js (createFhirResource), "
                    "src/retrieve-data-helpers/service-exchange.js (callServices)",
                }
                common: dict[str, Any] = {
                    "service": SERVICE_BY_HOOK[hook],
                    "provenance": provenance,
                }
                source = "cds-hooks/sandbox"
                built.append(
                    Case(name, source, request, expect_status=200, with_data=True, **common)
                )
                variant = natalizumab_variant(request)
                assert variant is not None
                built.append(
                    Case(
                        f"{name}~natalizumab~with-data",
                        source,
                        variant,
                        expect_status=200,
                        natalizumab=True,
                        with_data=True,
                        **common,
                    )
                )
    return built


@pytest.mark.parametrize("item", corpus_sources(CORPUS), ids=lambda item: str(item["id"]))
def test_corpus_file_is_as_published(item: dict[str, Any]) -> None:
    """Each file of sources.json is committed and has its SHA-256: a missing or edited file
    fails here (and its cases are left out of the HTTP run), it is never skipped."""
    assert problem_with(CORPUS, item) is None


def test_corpus_folder_holds_only_indexed_files() -> None:
    assert check(CORPUS, corpus_sources(CORPUS)) == []


CASES = all_cases()
RESULTS: Counter[tuple[str, bool]] = Counter()


def _resolve(value: Any, url: str) -> Any:
    if isinstance(value, dict):
        return {k: _resolve(v, url) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, url) for v in value]
    return url if value == "{{stand-in}}" else value


@pytest.mark.parametrize("case", CASES, ids=[sanitise_id(c.id) for c in CASES])
def test_corpus_request_over_http(harness: Harness, case: Case) -> None:
    body = _resolve(case.body, harness.stub.base_url)
    response = harness.post(Case(**{**case.__dict__, "body": body}))
    ok = False
    try:
        assert response.status_code < 500, response.text
        assert response.status_code == case.expect_status, (case.provenance, response.text[:300])
        if response.status_code == 200:
            cards = response.json()["cards"]
            topics = [card["source"]["topic"]["code"] for card in cards]
            if not case.natalizumab:
                assert cards == [], topics
            else:
                assert cards, "a natalizumab order was answered []"
                assert INDICATION_TOPICS & set(topics) == {case.indication}, topics
                assert case.with_topics <= set(topics), topics
                assert not case.without_topics & set(topics), topics
                details = {
                    card["source"]["topic"]["code"]: card.get("detail", "") for card in cards
                }
                for topic, text in case.notes:
                    assert text in details[topic], details[topic]
        else:
            assert response.json().keys() == {"error", "message"}
        ok = True
    finally:
        RESULTS[(case.source, ok)] += 1


def test_corpus_scale() -> None:
    """The issue's scale: at least 72 requests, from every named source, at least 72 of them
    third-party files or built from them (the sandbox-built ones aside)."""
    assert len(CASES) >= 72, len(CASES)
    assert sum(case.source != "cds-hooks/sandbox" for case in CASES) >= 72
    sources = {case.source for case in CASES}
    assert {
        "cds-hooks/docs",
        "cds-hooks/sandbox",
        "HL7-DaVinci/CRD",
        "inferno-framework/davinci-crd-test-kit",
        "hapifhir/hapi-fhir",
        "cerner/fhir.cerner.com",
    } <= sources
    assert sum(case.natalizumab for case in CASES) >= 30


def test_inferno_rs384_and_spec_example_tokens(harness: Harness) -> None:
    """Inferno's other algorithm, and the spec's own example claims (no sub, a tenant)."""
    case = next(c for c in CASES if c.id == "inferno-order_sign_hook_request")
    audience = harness.endpoint(case.service)
    for token in (
        clients.inferno_token(harness.inferno, audience, "RS384"),
        clients.spec_example_token(harness.spec, fragment(CORPUS, "docs-spec-jwt"), audience),
    ):
        response = httpx.post(
            audience, json=case.body, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert (response.status_code, response.json()) == (200, {"cards": []})


def test_epic_cds_hooks_token(harness: Harness) -> None:
    """A token built to Epic's documented CDS Hooks claims (RS384, nbf, sub, a 15-minute
    lifetime, a base64 kid, a jku under Epic's key path) is accepted: a non-natalizumab order
    gets [], a natalizumab one its cards."""
    plain = next(c for c in CASES if c.id == "cerner-order-sign")
    with_data = next(c for c in CASES if c.id == "cerner-order-sign~natalizumab~with-data")
    for case in (plain, with_data):
        audience = harness.endpoint(case.service)
        token = clients.epic_token(harness.epic, audience)
        body = _resolve(case.body, harness.stub.base_url)
        headers = {"Authorization": f"Bearer {token}"}
        response = httpx.post(audience, json=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        topics = {card["source"]["topic"]["code"] for card in response.json()["cards"]}
        assert topics >= ({"natalizumab-indicated"} if case.natalizumab else set()), topics
        assert bool(topics) == case.natalizumab


def test_the_rest_is_still_refused(harness: Harness) -> None:
    """The spec's example token as published (expired, a lifetime of years), another
    service's audience, and two Authorization headers."""
    case = next(c for c in CASES if c.id == "inferno-order_sign_hook_request")
    audience = harness.endpoint(case.service)
    published = fragment(CORPUS, "docs-spec-jwt")
    stale = clients.spec_example_token(harness.spec, published, audience, fresh=False)
    other = clients.sandbox_token(harness.sandbox, "https://other-cds.example/cds-services/x")
    good = clients.sandbox_token(harness.sandbox, audience)
    for headers in (
        [("Authorization", f"Bearer {stale}")],
        [("Authorization", f"Bearer {other}")],
        [("Authorization", f"Bearer {good}"), ("Authorization", f"Bearer {good}")],
        [],
    ):
        response = httpx.post(audience, json=case.body, headers=headers, timeout=30)
        assert response.status_code == 401, headers


def test_fhir_authorization_as_the_spec_publishes_it(harness: Harness) -> None:
    authorization = fragment(CORPUS, "docs-spec-fhir-authorization")["fhirAuthorization"]
    case = next(c for c in CASES if c.id == "docs-order-sign-r4~natalizumab~with-data")
    body = _resolve(case.body, harness.stub.base_url) | {"fhirAuthorization": authorization}
    before = len(harness.stub.recorded())
    response = harness.post(Case(**{**case.__dict__, "body": body}))
    assert response.status_code == 200
    sent = harness.stub.recorded()[before:]
    assert sent and {r.authorization for r in sent} == {f"Bearer {authorization['access_token']}"}


def test_zz_per_source_pass_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints the per-source tally (run with -s); fails if any corpus request failed."""
    by_source: dict[str, list[int]] = {}
    for (source, ok), count in RESULTS.items():
        by_source.setdefault(source, [0, 0])[0 if ok else 1] += count
    with capsys.disabled():
        for source, (passed, failed) in sorted(by_source.items()):
            print(f"\ninterop {source}: {passed} passed, {failed} failed", end="")
        print()
    assert all(failed == 0 for _, failed in by_source.values())
