"""End to end in a real browser: the ``/demo`` page plays the EHR against the real service.

Headless Debian Chromium (driven by Playwright, never a downloaded browser) opens the page
served by uvicorn on a loopback port, signs a Tysabri order for the non-active SPMS story,
checks the cards an EHR would show, sends feedback from the card controls and then reads the
feedback rows straight from the service's SQLite file. Every request the page makes is
confined to loopback.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from cds_service.feedback.models import FeedbackRecord
from tests.e2e.browser import DemoPage, choose_story
from tests.support.server import LiveServer

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
STORY = "spms-non-active"
SIGN_SERVICE = "natalizumab-order-sign"
TYSABRI_LABEL = "Tysabri (natalizumab) 300 mg IV every 4 weeks"


def _expected_topics(name: str) -> dict[str, str]:
    expected = json.loads((REPO_ROOT / "fhir_examples" / name / "expected.json").read_text())
    return {card["topic"]: card["indicator"] for card in expected["cards"]}


def _card(response: dict[str, Any], topic: str) -> dict[str, Any]:
    cards = [c for c in response["cards"] if c["source"]["topic"]["code"] == topic]
    assert len(cards) == 1, f"expected one {topic} card"
    card: dict[str, Any] = cards[0]
    return card


def _without_brain_mri(prefetch: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The prefetch minus every record coded or named as an MRI (the clinician's what-if)."""
    removed = 0
    result: dict[str, Any] = {}
    for key, value in prefetch.items():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            kept = []
            for entry in value.get("entry", []):
                code = json.dumps(entry.get("resource", {}).get("code", {})).lower()
                if re.search(r"\bmri\b|magnetic resonance", code):
                    removed += 1
                else:
                    kept.append(entry)
            value = {**value, "entry": kept}
            value.pop("total", None)
        result[key] = value
    return result, removed


def _feedback_rows(database_url: str) -> list[FeedbackRecord]:
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(FeedbackRecord)))
    finally:
        engine.dispose()


def _topics_on_page(page: Any) -> dict[str, str]:
    pairs = page.eval_on_selector_all(
        "article.card", "cards => cards.map(c => [c.dataset.topic, c.dataset.indicator])"
    )
    return {topic: indicator for topic, indicator in pairs}


def test_sign_tysabri_for_non_active_spms_and_send_feedback(
    demo: DemoPage, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    page = demo.page
    expected = _expected_topics(STORY)
    # The story must show both cards this test is about (fhir_examples is shared data).
    assert expected.get("progressive-ms-not-indicated") == "warning"
    assert "pml-risk" in expected

    choose_story(page, STORY)
    expect(page.locator("#story-description")).to_contain_text("SPMS")
    story_prefetch = json.loads(page.input_value("#fhir-data"))
    page.get_by_label(TYSABRI_LABEL).check()

    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith(f"/cds-services/{SIGN_SERVICE}")
    ) as sent:
        page.get_by_role("button", name="Sign", exact=True).click()

    # Exactly what an EHR sends.
    request = sent.value
    assert request.headers["content-type"] == "application/json"
    body = request.post_data_json
    assert body["hook"] == "order-sign"
    assert uuid.UUID(body["hookInstance"]).version == 4
    assert body["prefetch"] == story_prefetch
    assert body["context"]["patientId"] == story_prefetch["patient"]["id"]
    [entry] = body["context"]["draftOrders"]["entry"]
    order = entry["resource"]
    assert order["resourceType"] == "MedicationRequest"
    assert order["status"] == "draft"
    assert order["medicationCodeableConcept"]["text"].startswith("Tysabri")

    not_indicated = page.locator("article.card[data-topic='progressive-ms-not-indicated']")
    expect(not_indicated).to_be_visible()
    expect(not_indicated).to_have_class(re.compile(r"\bcard-warning\b"))
    expect(not_indicated.locator(".card-summary")).to_contain_text(
        re.compile("not indicated", re.I)
    )
    expect(page.locator("article.card[data-topic='pml-risk']")).to_be_visible()
    assert _topics_on_page(page) == expected
    expect(page.locator("#hook-status")).to_have_text("200")
    expect(page.locator("#hook-latency")).to_have_text(re.compile(r"^\d+ ms$"))
    first = json.loads(page.text_content("#hook-response") or "{}")
    assert len(first["cards"]) == len(expected)

    # Every control on the page, card controls included, has an accessible label.
    unlabeled = page.eval_on_selector_all(
        "input, select, textarea",
        "els => els.filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.id)",
    )
    assert unlabeled == []

    # Override the not-indicated card with its first reason.
    not_indicated_card = _card(first, "progressive-ms-not-indicated")
    reason = not_indicated_card["overrideReasons"][0]
    not_indicated.get_by_label("Override reason").select_option(label=reason["display"])
    not_indicated.get_by_label("Comment (optional)").fill("Benefit discussed")
    not_indicated.get_by_role("button", name="Override").click()
    expect(not_indicated.locator(".feedback-status")).to_contain_text("Feedback recorded")

    # What if no brain MRI were on record? Edit the FHIR data and sign again (keyboard only).
    edited, removed = _without_brain_mri(story_prefetch)
    assert removed > 0, "the story was expected to contain brain MRI records"
    page.fill("#fhir-data", json.dumps(edited, indent=2))
    page.focus("#sign-button")
    page.keyboard.press("Enter")
    mri = page.locator("article.card[data-topic='mri-due']")
    expect(mri).to_be_visible()
    # G35.C2 recorded within 12 months keeps the not-indicated verdict without the MRI.
    expect(not_indicated).to_be_visible()
    expect(page.locator("article.card[data-topic='pml-risk']")).to_be_visible()
    second = json.loads(page.text_content("#hook-response") or "{}")
    mri_card = _card(second, "mri-due")
    suggestion = mri_card["suggestions"][0]
    mri.get_by_role("button", name=suggestion["label"]).click()
    expect(mri.locator(".feedback-status")).to_contain_text("Feedback recorded")
    expect(page.locator("#accepted-orders")).to_be_visible()
    feedback_sent = json.loads(page.text_content("#feedback-request") or "{}")
    assert feedback_sent["feedback"][0]["acceptedSuggestions"] == [{"id": suggestion["uuid"]}]

    page.evaluate("document.getElementById('fhir-data').scrollTop = 0")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo.png"), full_page=True)
    demo.assert_clean()

    rows = {row.card_uuid: row for row in _feedback_rows(live_server.settings.database_url)}
    accepted = rows[mri_card["uuid"]]
    assert accepted.service_id == SIGN_SERVICE
    assert accepted.outcome == "accepted"
    assert accepted.accepted_suggestions == [suggestion["uuid"]]
    overridden = rows[not_indicated_card["uuid"]]
    assert overridden.outcome == "overridden"
    assert overridden.override_reason_code == reason["code"]
    assert overridden.user_comment == "Benefit discussed"
    assert len(rows) == 2


def test_select_with_a_non_natalizumab_drug_shows_no_cards(demo: DemoPage) -> None:
    from playwright.sync_api import expect

    page = demo.page
    choose_story(page, STORY)
    page.get_by_label("Amoxicillin 500 mg capsule, three times daily").check()
    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith("/cds-services/natalizumab-order-select")
    ) as sent:
        page.get_by_role("button", name="Select", exact=True).click()
    body = sent.value.post_data_json
    [entry] = body["context"]["draftOrders"]["entry"]
    assert body["context"]["selections"] == [f"MedicationRequest/{entry['resource']['id']}"]
    expect(page.locator("#status")).to_contain_text("no cards")
    expect(page.locator("article.card")).to_have_count(0)
    demo.assert_clean()


def test_every_story_replays_to_its_expected_cards(demo: DemoPage) -> None:
    """Each story sent with its own order through the page yields its expected cards.

    This checks the page's request building (selections, basket drafts, CDS Hooks 1.0
    ``medications`` turned into draft orders) against every example, not just one.
    """
    from playwright.sync_api import expect

    page = demo.page
    page.wait_for_selector("#story option[value]", state="attached")
    options = page.eval_on_selector_all(
        "#story option", "os => os.map(o => [o.value, o.textContent])"
    )
    names = sorted(p.parent.name for p in (REPO_ROOT / "fhir_examples").glob("*/request.json"))
    assert [value for value, _ in options] == names
    mismatches = []
    for name, title in options:
        request = json.loads((REPO_ROOT / "fhir_examples" / name / "request.json").read_text())
        page.select_option("#story", name)
        expect(page.locator("#status")).to_contain_text(f"Story loaded: {title}.")
        expect(page.locator("#medication-story")).to_be_checked()
        button = "Select" if request["hook"] == "order-select" else "Sign"
        page.get_by_role("button", name=button, exact=True).click()
        expect(page.locator("#status")).to_have_text(re.compile(r"(cards?|no cards) in \d+ ms\.$"))
        shown = _topics_on_page(page)
        if shown != _expected_topics(name):
            mismatches.append((name, shown))
    assert mismatches == []
    demo.assert_clean()


def test_card_markdown_never_becomes_markup(demo: DemoPage) -> None:
    """Hostile card text renders as inert text; only http(s) links survive."""
    page = demo.page
    page.wait_for_function("() => window.SafeMarkdown !== undefined")
    markdown = (
        "# Title\n"
        '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>\n\n'
        "**bold** [ok](https://example.org/a) [bad](javascript:window.pwned=3) [rel](/x)\n\n"
        "- one <b>x</b>\n- two\n\n"
        "| a | b |\n|---|---|\n| <i>1</i> | 2 |\n"
    )
    result = page.evaluate(
        """(md) => {
            const box = document.createElement('div');
            box.appendChild(window.SafeMarkdown.render(md));
            document.body.appendChild(box);
            return {
                markup: box.querySelectorAll('img, script, b, i, iframe').length,
                links: Array.from(box.querySelectorAll('a')).map(a => a.href),
                heading: box.querySelector('h4') && box.querySelector('h4').textContent,
                strong: box.querySelector('strong') && box.querySelector('strong').textContent,
                items: box.querySelectorAll('li').length,
                cells: box.querySelectorAll('td').length,
                text: box.textContent,
                pwned: window.pwned === undefined ? null : window.pwned,
            };
        }""",
        markdown,
    )
    assert result["markup"] == 0
    assert result["links"] == ["https://example.org/a"]
    assert result["heading"] == "Title"
    assert result["strong"] == "bold"
    assert result["items"] == 2
    assert result["cells"] == 2
    assert "<img src=x" in result["text"]
    assert result["pwned"] is None
    demo.assert_clean()
