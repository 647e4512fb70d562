"""The demo page shows hostile card text literally, in a real browser (issue 11, item 8).

Card text comes from a CDS service and quotes the patient's record, so the page must treat
it as text: ``<img src=x onerror=...>`` in a summary stays those characters, a bare URL stays
plain text, a ``javascript:`` link is no link, and no script of the card's ever runs. Two
ways in: cards crafted with every hostile shape in every field the page renders (the
browser's request is answered by the test, so the page is tested whatever the server
escapes), and a record whose text carries the same payloads through the real service.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.e2e.browser import DemoPage, choose_story

pytestmark = pytest.mark.browser

SIGN_SERVICE = "natalizumab-order-sign"
STORY = "spms-non-active"
TYSABRI_LABEL = "Tysabri (natalizumab) 300 mg IV every 4 weeks"
IMG = '<img src=x onerror="window.__pwned = 1">'
SCRIPT = "<script>window.__pwned = 2</script>"
BARE_URL = "https://evil.example/steal?x=1"
JS_LINK = "[click me](javascript:window.__pwned=3)"
AUTOLINK = "<https://evil.example/auto>"
HOSTILE = f"{IMG} {SCRIPT} {BARE_URL} {JS_LINK} {AUTOLINK}"


def _hostile_cards() -> dict[str, Any]:
    topic = {
        "system": "https://natalizumab-cds.example/fhir/CodeSystem/card-topic",
        "code": 'immunocompromised" onmouseover="window.__pwned=4',
        "display": IMG,
    }
    return {
        "cards": [
            {
                "uuid": str(uuid.uuid4()),
                "summary": f"Immunocompromised ({IMG})",
                "indicator": "warning",
                "detail": (
                    f"Recorded: {HOSTILE}\n\n- {IMG}\n- {BARE_URL}\n\n"
                    f"| a | b |\n|---|---|\n| {IMG} | {BARE_URL} |"
                ),
                "source": {"label": IMG, "url": "javascript:window.__pwned=5", "topic": topic},
                "links": [
                    {"label": IMG, "url": "javascript:window.__pwned=6", "type": "absolute"},
                    {"label": BARE_URL, "url": "data:text/html,<script>alert(1)</script>"},
                ],
                "suggestions": [{"uuid": str(uuid.uuid4()), "label": IMG, "actions": []}],
                "selectionBehavior": "at-most-one",
                "overrideReasons": [{"code": "x", "display": IMG}],
            },
            {
                "uuid": str(uuid.uuid4()),
                "summary": SCRIPT,
                "indicator": "<b>critical</b>",
                "detail": SCRIPT,
                "source": {"label": "x"},
            },
        ]
    }


def _sign(demo: DemoPage) -> None:
    page = demo.page
    choose_story(page, STORY)
    page.get_by_label(TYSABRI_LABEL).check()
    page.get_by_role("button", name="Sign", exact=True).click()
    page.wait_for_selector("article.card")


def _assert_inert(demo: DemoPage) -> None:
    page = demo.page
    cards = page.locator("#cards")
    assert page.evaluate("() => window.__pwned") is None, "card text ran as script"
    assert cards.locator("img, script, iframe, object, embed").count() == 0
    hrefs = cards.locator("a").evaluate_all("links => links.map(a => a.href)")
    assert all(href.startswith(("http://", "https://")) for href in hrefs), hrefs
    assert not [h for h in hrefs if "evil.example" in h], hrefs
    handlers = cards.locator("*").evaluate_all(
        "els => els.flatMap(e => [...e.attributes].map(a => a.name))"
        ".filter(n => n.startsWith('on'))"
    )
    assert handlers == []


def test_crafted_hostile_cards_render_as_text(demo: DemoPage) -> None:
    page = demo.page
    body = json.dumps(_hostile_cards())
    page.route(
        f"**/cds-services/{SIGN_SERVICE}",
        lambda route: route.fulfill(status=200, content_type="application/json", body=body),
    )
    _sign(demo)
    _assert_inert(demo)
    first = page.locator("article.card").first
    assert IMG in (first.locator(".card-summary").text_content() or "")
    text = first.text_content() or ""
    assert BARE_URL in text and IMG in text
    assert "<script>" in (page.locator("article.card").nth(1).text_content() or "")
    demo.assert_clean()


def test_record_text_through_the_real_service_renders_as_text(demo: DemoPage) -> None:
    page = demo.page
    choose_story(page, STORY)
    prefetch = json.loads(page.input_value("#fhir-data"))
    hostile = {
        "resourceType": "Condition",
        "id": "hostile-text",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {"text": f"HIV {IMG} {BARE_URL} {JS_LINK}"},
        "subject": {"reference": f"Patient/{prefetch['patient']['id']}"},
        "recordedDate": "2024-01-01",
    }
    prefetch["conditions"].setdefault("entry", []).append({"resource": hostile})
    prefetch["conditions"].pop("total", None)
    page.fill("#fhir-data", json.dumps(prefetch, indent=2))
    page.get_by_label(TYSABRI_LABEL).check()
    page.get_by_role("button", name="Sign", exact=True).click()
    card = page.locator("article.card[data-topic='immunocompromised']")
    card.wait_for()
    _assert_inert(demo)
    page.locator("details.card-more").evaluate_all("ds => ds.forEach(d => d.open = true)")
    assert "<img" in (card.text_content() or "")
    demo.assert_clean()
