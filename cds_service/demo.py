"""The ``/demo`` page: a small EHR stand-in that calls this service's own CDS Hooks endpoints.

Why it exists: integrators and clinicians can see real cards for realistic patients without an
EHR sandbox. The page itself is static HTML/CSS/JS (``static/demo/``, no build step); this module
only serves it and the patient stories. The stories are the project's ``fhir_examples/``
templates rendered for "now" by the examples' own renderer, so the demo and the example tests
can never disagree about what a story contains. ``fhir_examples/`` lives at the repository root,
outside the package: an installed wheel has no copy, and then one built-in story keeps the page
usable and the story list says why.

Nothing here touches the clinical engine: the browser posts to ``/cds-services/...`` exactly as
an EHR would, so the demo exercises the same code path, headers and validation as production.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from cds_service import examples
from cds_service.protocol.errors import INTERNAL_ERROR, NOT_FOUND
from cds_service.security_headers import STRICT_PAGE_POLICY

logger = logging.getLogger(__name__)

STATIC_DIR: Final = Path(__file__).resolve().parent / "static" / "demo"
EXAMPLES_DIR: Final = Path(__file__).resolve().parent.parent / "fhir_examples"
"""Where a source checkout keeps the example stories (absent from an installed wheel)."""

EXAMPLES_DIR_NAME: Final = "fhir_examples"

STATIC_PATH: Final = "/demo/static"

_STORY_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
_ACRONYMS: Final = frozenset(
    {"ms", "rrms", "spms", "ppms", "cis", "mri", "jcv", "hiv", "icd", "msf", "pml", "gd"}
)

CONTENT_SECURITY_POLICY: Final = STRICT_PAGE_POLICY
"""The page needs nothing but its own files and its own API: card text can never run script."""

BUILT_IN_STORY: Final = "built-in-rrms"
NO_EXAMPLES_MESSAGE: Final = (
    "The fhir_examples folder is not available (installed package), so only one built-in story "
    "is offered; run the service from a source checkout to get every example story."
)


@dataclass(frozen=True)
class Story:
    """One patient story as the page needs it: a rendered hook request and what it shows."""

    name: str
    title: str
    description: str
    request: dict[str, Any]
    expected_topics: list[str]

    def summary(self) -> dict[str, str]:
        """The entry in ``GET /demo/stories``."""
        return {"name": self.name, "title": self.title, "description": self.description}

    def body(self) -> dict[str, Any]:
        """The body of ``GET /demo/stories/{name}``."""
        return {**self.summary(), "request": self.request, "expected_topics": self.expected_topics}


def _error(status_code: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status_code)


def _title(name: str, expected: dict[str, Any]) -> str:
    title = expected.get("title")
    if isinstance(title, str) and title.strip():
        return title.strip()
    words = [
        word.upper() if word in _ACRONYMS or word.startswith("g35") else word
        for word in re.split(r"[-_]+", name)
    ]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _topics(expected: dict[str, Any]) -> list[str]:
    cards = expected.get("cards")
    if not isinstance(cards, list):
        return []
    return [str(card["topic"]) for card in cards if isinstance(card, dict) and "topic" in card]


class StoryBook:
    """The stories on offer: the example folder when present, else the built-in story."""

    def __init__(self, directory: Path = EXAMPLES_DIR) -> None:
        self.directory = directory

    @property
    def renderer(self) -> ModuleType | None:
        """The renderer, or ``None`` when the folder holds no example stories."""
        return examples if examples.example_names(self.directory) else None

    def names(self) -> list[str]:
        """Story names in display order."""
        renderer = self.renderer
        if renderer is None:
            return [BUILT_IN_STORY]
        names: list[str] = renderer.example_names(self.directory)
        return names or [BUILT_IN_STORY]

    def message(self) -> str | None:
        """Why the list is short, when it is."""
        return None if self.names() != [BUILT_IN_STORY] else NO_EXAMPLES_MESSAGE

    def _expected(self, name: str) -> dict[str, Any]:
        """The raw ``expected.json`` (descriptions carry no placeholders worth rendering)."""
        try:
            data = json.loads((self.directory / name / "expected.json").read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def summaries(self) -> list[dict[str, str]]:
        """Name, title and description of every story, without rendering any request."""
        result = []
        for name in self.names():
            if name == BUILT_IN_STORY:
                result.append(built_in_story(datetime.now(UTC)).summary())
                continue
            expected = self._expected(name)
            result.append(
                {
                    "name": name,
                    "title": _title(name, expected),
                    "description": _text(expected.get("description")),
                }
            )
        return result

    def story(self, name: str, now: datetime) -> Story | None:
        """The named story rendered for ``now``; ``None`` when no such story exists."""
        if not _STORY_NAME.match(name) or name not in self.names():
            return None
        if name == BUILT_IN_STORY:
            return built_in_story(now)
        renderer = self.renderer
        assert renderer is not None  # names() only lists example stories when it loaded
        example = renderer.load_example(name, now, self.directory)
        expected: dict[str, Any] = example.expected
        request: dict[str, Any] = example.request
        return Story(
            name=name,
            title=_title(name, expected),
            description=_text(expected.get("description")),
            request=request,
            expected_topics=_topics(expected),
        )


def built_in_story(now: datetime) -> Story:
    """A minimal relapsing-remitting MS patient, for when ``fhir_examples/`` is absent.

    Uses only codes named in the contract (SNOMED 426373005, relapsing remitting MS). With no
    anti-JCV result and no brain MRI on record it shows the indication card and both monitoring
    suggestions, so every part of the page can still be tried.
    """
    patient_id = "demo-built-in-rrms"
    first_of_month = now.date().replace(day=1)
    birth = (first_of_month.replace(year=now.year - 34) - timedelta(days=40)).isoformat()
    recorded = first_of_month.replace(year=now.year - 3).isoformat()
    subject = {"reference": f"Patient/{patient_id}"}
    condition = {
        "resourceType": "Condition",
        "id": "demo-rrms",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "confirmed",
                }
            ]
        },
        "code": {
            "coding": [
                {
                    "system": "http://snomed.info/sct",
                    "code": "426373005",
                    "display": "Relapsing remitting multiple sclerosis",
                }
            ],
            "text": "Relapsing remitting multiple sclerosis",
        },
        "subject": subject,
        "recordedDate": recorded,
    }

    def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": resource} for resource in resources],
        }

    request = {
        "hook": "order-sign",
        "hookInstance": "00000000-0000-4000-8000-000000000000",
        "context": {"userId": "Practitioner/demo-prescriber", "patientId": patient_id},
        "prefetch": {
            "patient": {
                "resourceType": "Patient",
                "id": patient_id,
                "gender": "female",
                "birthDate": birth,
            },
            "conditions": bundle(condition),
            "observations": bundle(),
            "medicationRequests": bundle(),
        },
    }
    return Story(
        name=BUILT_IN_STORY,
        title="Built-in: relapsing-remitting MS, no monitoring on record",
        description=(
            "A 34-year-old with relapsing-remitting MS, no anti-JCV antibody result and no "
            "brain MRI on record."
        ),
        request=request,
        expected_topics=["natalizumab-indicated", "jcv-test-due", "mri-due"],
    )


router = APIRouter(include_in_schema=False)


def find_examples_dir(cwd: Path | None = None) -> Path:
    """The examples folder: beside the package (source checkout), else in the working directory.

    The second place serves installs that ship the folder as data next to the app, such as the
    Docker image (``/app/fhir_examples`` with ``/app`` as working directory). Only JSON is read
    from it; the renderer is the package's own ``cds_service.examples``.
    """
    candidates = [EXAMPLES_DIR, (cwd or Path.cwd()) / EXAMPLES_DIR_NAME]
    for candidate in candidates:
        if any(candidate.glob("*/request.json")):
            return candidate
    return EXAMPLES_DIR


@lru_cache(maxsize=1)
def _story_book() -> StoryBook:
    return StoryBook(find_examples_dir())


@router.get("/demo")
def demo_page() -> FileResponse:
    """The demo page (static HTML with a strict Content-Security-Policy)."""
    return FileResponse(
        STATIC_DIR / "index.html",
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"},
    )


@router.get("/demo/stories")
def list_stories() -> JSONResponse:
    """Every patient story: name, title and description."""
    book = _story_book()
    body: dict[str, Any] = {"stories": book.summaries()}
    message = book.message()
    if message:
        body["message"] = message
    return JSONResponse(body)


@router.get("/demo/stories/{name}")
def get_story(name: str) -> JSONResponse:
    """One story with its hook request rendered for the current time."""
    try:
        story = _story_book().story(name, datetime.now(UTC))
    except (OSError, ValueError, KeyError):
        # The story name is ours (validated above), never patient data: safe to log.
        logger.exception("demo story could not be rendered", extra={"story": name})
        return _error(500, INTERNAL_ERROR, "This demo story could not be rendered.")
    if story is None:
        return _error(404, NOT_FOUND, "No demo story with this name exists.")
    return JSONResponse(story.body())


def install_demo(app: FastAPI) -> None:
    """Add the demo page, its story API and its static files to ``app``."""
    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="demo-static")
