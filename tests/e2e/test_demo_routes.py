"""The demo's HTTP surface without a browser: page, stories, static files, on/off switch.

The page must be reachable only when ``CDS_DEMO_ENABLED`` is on, and every story it offers must
render into a hook request the service itself accepts; these run in-process (TestClient).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds_service import demo
from cds_service.app import create_app
from cds_service.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_NAMES = sorted(p.parent.name for p in (REPO_ROOT / "fhir_examples").glob("*/request.json"))
STATIC_FILES = {
    "demo.css": {"text/css"},
    "demo.js": {"text/javascript", "application/javascript"},
    "markdown.js": {"text/javascript", "application/javascript"},
    "favicon.svg": {"image/svg+xml"},
}
NATALIZUMAB_ORDER = {
    "resourceType": "MedicationRequest",
    "id": "demo-route-test-order",
    "status": "draft",
    "intent": "order",
    "medicationCodeableConcept": {
        "coding": [
            {
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "354770",
                "display": "natalizumab",
            }
        ],
        "text": "Tysabri (natalizumab) 300 mg/15 mL injection",
    },
}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def built_in_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend the service runs from an installed wheel: no fhir_examples folder."""
    book = demo.StoryBook(tmp_path / "no-such-folder")
    monkeypatch.setattr(demo, "_story_book", lambda: book)


def test_demo_page_is_served_with_a_strict_policy(client: TestClient) -> None:
    response = client.get("/demo")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert 'src="demo/static/demo.js"' in response.text
    assert 'aria-live="polite"' in response.text


def test_demo_is_absent_when_disabled(settings: Settings) -> None:
    disabled = settings.model_copy(update={"demo_enabled": False})
    with TestClient(create_app(disabled)) as client:
        for path in ("/demo", "/demo/stories", "/demo/static/demo.js"):
            assert client.get(path).status_code == 404, path
        assert client.get("/cds-services").status_code == 200


def test_demo_is_on_by_default_with_auth_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDS_DEMO_ENABLED", raising=False)
    monkeypatch.delenv("CDS_AUTH_REQUIRED", raising=False)
    assert Settings().demo_served is True
    monkeypatch.setenv("CDS_DEMO_ENABLED", "false")
    assert Settings().demo_served is False


@pytest.mark.parametrize(("name", "types"), sorted(STATIC_FILES.items()))
def test_static_files_have_proper_content_types(
    client: TestClient, name: str, types: set[str]
) -> None:
    response = client.get(f"/demo/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0].strip() in types
    assert response.content == (demo.STATIC_DIR / name).read_bytes()


def test_scripts_never_write_html() -> None:
    """Card text is untrusted: no script may parse strings as HTML (use textContent)."""
    sink = re.compile(r"\.(inner|outer)HTML\s*[+]?=|insertAdjacentHTML|document\.write|eval\(")
    for name in ("demo.js", "markdown.js"):
        assert not sink.search((demo.STATIC_DIR / name).read_text("utf-8")), name


@pytest.mark.skipif(not EXAMPLE_NAMES, reason="fhir_examples has no stories yet")
def test_stories_list_every_example(client: TestClient) -> None:
    response = client.get("/demo/stories")
    assert response.status_code == 200
    body = response.json()
    assert [story["name"] for story in body["stories"]] == EXAMPLE_NAMES
    for story in body["stories"]:
        assert story["title"]
        assert story["description"], f"{story['name']} has no description"
    assert "message" not in body


@pytest.mark.skipif(not EXAMPLE_NAMES, reason="fhir_examples has no stories yet")
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_each_story_renders_to_a_concrete_request(client: TestClient, name: str) -> None:
    response = client.get(f"/demo/stories/{name}")
    assert response.status_code == 200
    story = response.json()
    request = story["request"]
    assert story["name"] == name
    assert request["hook"] in {"order-select", "order-sign", "medication-prescribe"}
    assert request["context"]["patientId"]
    assert isinstance(request.get("prefetch", {}), dict)
    assert "{{" not in json.dumps(request), "placeholders left unrendered"
    expected = json.loads((REPO_ROOT / "fhir_examples" / name / "expected.json").read_text())
    assert story["expected_topics"] == [card["topic"] for card in expected["cards"]]


@pytest.mark.parametrize("name", ["no-such-story", "built-in-rrms.json", "a b", "-x"])
def test_unknown_story_is_404_json(client: TestClient, name: str) -> None:
    response = client.get(f"/demo/stories/{name}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_path_traversal_cannot_reach_files(client: TestClient) -> None:
    for path in ("/demo/stories/..%2F..%2Fpyproject.toml", "/demo/static/..%2F..%2Fdemo.py"):
        assert client.get(path).status_code == 404, path


@pytest.mark.usefixtures("built_in_only")
def test_without_examples_the_built_in_story_is_offered(client: TestClient) -> None:
    body = client.get("/demo/stories").json()
    assert [story["name"] for story in body["stories"]] == [demo.BUILT_IN_STORY]
    assert "fhir_examples" in body["message"]
    story = client.get(f"/demo/stories/{demo.BUILT_IN_STORY}").json()
    assert story["request"]["prefetch"]["patient"]["id"] == story["request"]["context"]["patientId"]


@pytest.mark.usefixtures("built_in_only")
def test_built_in_story_shows_the_cards_it_promises(client: TestClient) -> None:
    """Signing natalizumab for the built-in patient yields exactly the topics it announces."""
    story = client.get(f"/demo/stories/{demo.BUILT_IN_STORY}").json()
    request = story["request"]
    order = {
        **NATALIZUMAB_ORDER,
        "subject": {"reference": f"Patient/{request['context']['patientId']}"},
    }
    call = {
        "hook": "order-sign",
        "hookInstance": "5b0c4e52-52d4-4a47-8d4c-27a1c5b0f5d1",
        "context": {
            **request["context"],
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": order}],
            },
        },
        "prefetch": request["prefetch"],
    }
    response = client.post("/cds-services/natalizumab-order-sign", json=call)
    assert response.status_code == 200, response.text
    topics = sorted(card["source"]["topic"]["code"] for card in response.json()["cards"])
    assert topics == sorted(story["expected_topics"])


def test_working_directory_examples_are_used_when_the_checkout_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An install without the checkout (Docker: /app/fhir_examples) still finds the stories."""
    shipped = tmp_path / "app" / "fhir_examples"
    story = shipped / "rrms-new-start-jcv-negative"
    story.mkdir(parents=True)
    for name in ("request.json", "expected.json"):
        source = REPO_ROOT / "fhir_examples" / "rrms-new-start-jcv-negative" / name
        (story / name).write_bytes(source.read_bytes())
    monkeypatch.setattr(demo, "EXAMPLES_DIR", tmp_path / "site-packages" / "fhir_examples")
    assert demo.find_examples_dir(tmp_path / "app") == shipped
    assert demo.find_examples_dir(tmp_path / "elsewhere") == demo.EXAMPLES_DIR
    monkeypatch.undo()
    assert demo.find_examples_dir(tmp_path / "app") == demo.EXAMPLES_DIR  # the checkout wins
