"""Render the example templates into concrete CDS Hooks requests for a given "now".

Why templates: the clinical rules are relative to the time of the call (12 months, 183 days,
age 18), so an example written with fixed dates would silently change meaning as time passes.
Every date in ``<name>/request.json`` is therefore written relative to "now":

- ``{{now}}``: the instant itself, as a FHIR dateTime with timezone (``2025-03-01T10:15:30+00:00``)
- ``{{now-400d}}``, ``{{now+2w}}``, ``{{now-17y+10d}}``: shifted by a sequence of signed
  offsets, applied left to right; units ``y`` (years), ``mo`` (months), ``w`` (weeks), ``d`` (days),
  ``h`` (hours). Year and month shifts keep the day of month and clamp it to the target
  month's length (29 February minus one year is 28 February), so ages stay exact.
- a ``|date`` suffix (``{{now-16y-90d|date}}``) renders a date-only ``YYYY-MM-DD`` value, for FHIR
  ``date`` fields such as ``Patient.birthDate``.

A placeholder may be a whole JSON string or part of one. Anything else between ``{{`` and ``}}``
is an error, so a typo never reaches the service as a literal string.

``python -m fhir_examples.render OUT_DIR [--now ISO_DATETIME]`` writes every example, rendered,
to ``OUT_DIR/<name>/request.json`` and ``OUT_DIR/<name>/expected.json``.

The renderer lives in the package (not in ``fhir_examples/``) so the demo page can render stories
without ever executing code found in a data folder.
"""

from __future__ import annotations

import argparse
import calendar
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "fhir_examples"

_PLACEHOLDER = re.compile(
    r"\{\{\s*now(?P<offsets>(?:\s*[+-]\s*\d+\s*(?:y|mo|w|d|h))*)\s*"
    r"(?:\|\s*(?P<fmt>date)\s*)?\}\}"
)
_OFFSET = re.compile(r"([+-])\s*(\d+)\s*(y|mo|w|d|h)")


class TemplateError(ValueError):
    """A template contains a ``{{...}}`` that is not a valid placeholder."""


def add_months(moment: datetime, months: int) -> datetime:
    """Shift by whole calendar months, clamping the day to the target month's last day."""
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def shift(now: datetime, offsets: str) -> datetime:
    """Apply offsets such as ``-17y+10d`` to ``now``, left to right."""
    moment = now
    consumed = 0
    for match in _OFFSET.finditer(offsets):
        if offsets[consumed : match.start()].strip():
            raise TemplateError(f"bad offset expression {offsets!r}")
        consumed = match.end()
        sign = -1 if match.group(1) == "-" else 1
        amount = sign * int(match.group(2))
        unit = match.group(3)
        if unit == "y":
            moment = add_months(moment, 12 * amount)
        elif unit == "mo":
            moment = add_months(moment, amount)
        elif unit == "w":
            moment = moment + timedelta(weeks=amount)
        elif unit == "d":
            moment = moment + timedelta(days=amount)
        else:
            moment = moment + timedelta(hours=amount)
    if offsets[consumed:].strip():
        raise TemplateError(f"bad offset expression {offsets!r}")
    return moment


def format_moment(moment: datetime, fmt: str | None) -> str:
    """FHIR ``date`` (``YYYY-MM-DD``) or ``dateTime``/``instant`` (seconds, with timezone)."""
    if fmt == "date":
        return moment.date().isoformat()
    return moment.isoformat(timespec="seconds")


def render_string(text: str, now: datetime) -> str:
    """Replace every placeholder in ``text``; reject any other ``{{...}}``."""

    def replace(match: re.Match[str]) -> str:
        return format_moment(shift(now, match.group("offsets") or ""), match.group("fmt"))

    rendered = _PLACEHOLDER.sub(replace, text)
    if "{{" in rendered or "}}" in rendered:
        raise TemplateError(f"unknown placeholder in {text!r}")
    return rendered


def render(template: Any, now: datetime) -> Any:
    """Render a parsed JSON template (any nesting of dicts, lists and scalars)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if isinstance(template, str):
        return render_string(template, now)
    if isinstance(template, list):
        return [render(item, now) for item in template]
    if isinstance(template, dict):
        return {key: render(value, now) for key, value in template.items()}
    return template


@dataclass(frozen=True)
class Example:
    """One rendered example: the hook request and what the service must answer."""

    name: str
    request: dict[str, Any]
    expected: dict[str, Any]

    @property
    def service(self) -> str:
        service: str = self.expected["service"]
        return service

    @property
    def expected_cards(self) -> set[tuple[str, str]]:
        """The exact set of (topic code, indicator) pairs the response must contain."""
        return {(card["topic"], card["indicator"]) for card in self.expected["cards"]}


def example_names(directory: Path = EXAMPLES_DIR) -> list[str]:
    """Every example directory (one holding a ``request.json``), sorted by name."""
    return sorted(p.parent.name for p in directory.glob("*/request.json"))


def _read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise TemplateError(f"{path} does not hold a JSON object")
    return data


def load_example(name: str, now: datetime, directory: Path = EXAMPLES_DIR) -> Example:
    """Read ``<name>/request.json`` and ``<name>/expected.json`` and render them for ``now``."""
    folder = directory / name
    request = render(_read_json(folder / "request.json"), now)
    expected = render(_read_json(folder / "expected.json"), now)
    return Example(name=name, request=request, expected=expected)


def write_rendered(out_dir: Path, now: datetime, directory: Path = EXAMPLES_DIR) -> list[Path]:
    """Write every rendered example under ``out_dir``; returns the request files written."""
    written: list[Path] = []
    for name in example_names(directory):
        example = load_example(name, now, directory)
        target = out_dir / name
        target.mkdir(parents=True, exist_ok=True)
        for filename, content in (
            ("request.json", example.request),
            ("expected.json", example.expected),
        ):
            (target / filename).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
        written.append(target / "request.json")
    return written


def _parse_now(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: render all examples into a directory."""
    parser = argparse.ArgumentParser(
        prog="python -m fhir_examples.render", description=__doc__ and __doc__.splitlines()[0]
    )
    parser.add_argument("out_dir", type=Path, help="directory to write <name>/request.json into")
    parser.add_argument(
        "--now",
        type=_parse_now,
        default=None,
        help="ISO 8601 date-time to render for (default: the current time, UTC)",
    )
    args = parser.parse_args(argv)
    now: datetime = args.now or datetime.now(UTC)
    written = write_rendered(args.out_dir, now)
    print(f"wrote {len(written)} examples to {args.out_dir} for now={now.isoformat()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
