"""Record text in cards renders as literal text: no HTML, no links, no markdown of its own.

Hostile text goes into every record field that reaches a card; each detail is rendered with a
real CommonMark/GFM renderer with linkify on (markdown-it-py "gfm-like", HTML allowed, as a
careless EHR would configure it) and must hold no link, image or HTML node, while the hostile
text still shows, character for character, as text. Summaries are plain text: no tag and no
URL may survive there.
"""

from __future__ import annotations

import html
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from tests.clinical.fhir import (
    ICD,
    PATIENT,
    RXNORM,
    SNOMED,
    Resource,
    concept,
    condition,
    days_ago,
    infusions,
    medication,
    observation,
    run,
)

HOSTILE = (
    '<img src=x onerror=alert(1)> <script>alert("x")</script> **bold** _it_ `code` '
    "[click](javascript:alert(1)) https://evil.example/a?b=1 www.evil.com mail@evil.com "
    "evil.com &lt;b&gt; # not a heading | a | table |"
)
MD = MarkdownIt("gfm-like", {"linkify": True, "html": True})
FORBIDDEN = {"link_open", "image", "html_inline", "html_block", "code_inline", "fence"}


def hostile(text: str) -> str:
    """A record name that still matches its value set, followed by the hostile text."""
    return f"{text} {HOSTILE}"


def _tokens(tokens: list[Token]) -> list[Token]:
    found = []
    for token in tokens:
        found.append(token)
        if token.children:
            found += _tokens(token.children)
    return found


def _text(detail: str) -> str:
    return " ".join(t.content for t in _tokens(MD.parse(detail)) if t.type == "text")


def _cards(resources: list[Resource]) -> list[dict[str, Any]]:
    return run(resources).cards


def _hostile_spms() -> list[Resource]:
    report = {
        "resourceType": "DiagnosticReport",
        "id": "dr.evil.com",
        "status": "final",
        "subject": PATIENT,
        "code": concept(text=hostile("MRI brain")),
        "effectiveDateTime": days_ago(40),
    }
    return [condition(concept(text=hostile("Secondary progressive multiple sclerosis"))), report]


def _hostile_rrms() -> list[Resource]:
    allergy = {
        "resourceType": "AllergyIntolerance",
        "id": "allergy-1",
        "patient": PATIENT,
        "code": concept(text=hostile("Tysabri")),
    }
    jcv = observation(
        concept(text=hostile("JC virus antibody")), days_ago(10), valueQuantity={"value": 2.0}
    )
    return [
        condition(concept(text=hostile("Relapsing remitting multiple sclerosis"))),
        condition(concept(ICD, "B20", hostile("HIV disease"))),
        condition(
            concept(SNOMED, "22255007", hostile("Progressive multifocal leukoencephalopathy"))
        ),
        medication("MedicationStatement", concept(text=hostile("fingolimod")), status="active"),
        medication(
            "MedicationStatement",
            concept(RXNORM, "7005", hostile("mitoxantrone")),
            status="completed",
            when="2015-01-01",
        ),
        medication(
            "MedicationStatement",
            concept(text=hostile("Tysabri")),
            status="active",
            start=days_ago(900),
        ),
        allergy,
        jcv,
        *infusions(3),
    ]


def _hostile_crohns() -> list[Resource]:
    return [
        condition(concept(text=hostile("Crohn's disease"))),
        medication("MedicationRequest", concept(text=hostile("azathioprine")), status="active"),
    ]


SCENARIOS = {"spms": _hostile_spms, "rrms": _hostile_rrms, "crohns": _hostile_crohns}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_record_text_renders_as_literal_text_in_every_card(scenario: str) -> None:
    cards = _cards(SCENARIOS[scenario]())
    assert len(cards) >= 2
    shown = 0
    for card in cards:
        detail = card["detail"]
        kinds = {t.type for t in _tokens(MD.parse(detail))}
        assert not kinds & FORBIDDEN, (card["source"]["topic"]["code"], kinds & FORBIDDEN)
        rendered = MD.render(detail)
        assert "<img" not in rendered and "<script" not in rendered and "<a " not in rendered
        text = _text(detail)
        if "onerror" in text:
            shown += 1
            # The hostile text is shown as written (URLs and domains defanged).
            assert "<img src=x onerror=alert(1)>" in text
            assert "**bold** _it_ `code` [click](javascript:alert(1))" in text
            assert "https[:]//evil[.]example/a?b=1 www[.]evil[.]com mail@evil[.]com" in text
            assert "&lt;b&gt;" in text  # an entity stays an entity
            assert "<b>" not in html.unescape(rendered.replace("&amp;", "&amp;amp;"))
    assert shown, "no card showed the record text at all"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_summaries_hold_no_tag_and_no_link(scenario: str) -> None:
    for card in _cards(SCENARIOS[scenario]()):
        summary = card["summary"]
        assert "<" not in summary and ">" not in summary, summary
        assert "://" not in summary and "www." not in summary and "evil.com" not in summary
        assert len(summary) < 140


def test_record_ids_in_references_cannot_become_links() -> None:
    # "dr.evil.com" is a valid FHIR id; the MRI card names the report by its reference.
    undetermined = next(
        c
        for c in _cards(_hostile_spms())
        if c["source"]["topic"]["code"] == "ms-activity-undetermined"
    )
    assert "DiagnosticReport/dr[.]evil[.]com" in _text(undetermined["detail"])
    assert "link_open" not in {t.type for t in _tokens(MD.parse(undetermined["detail"]))}
