"""The template renderer: placeholder syntax, calendar arithmetic and the command line."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from fhir_examples.render import (
    TemplateError,
    add_months,
    example_names,
    main,
    render,
    render_string,
    shift,
)

NOW = datetime(2026, 3, 15, 10, 20, 30, tzinfo=UTC)


def test_plain_now_is_a_fhir_datetime_with_timezone() -> None:
    assert render_string("{{now}}", NOW) == "2026-03-15T10:20:30+00:00"
    assert render_string("{{now|date}}", NOW) == "2026-03-15"


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("{{now-400d}}", "2025-02-08T10:20:30+00:00"),
        ("{{now-30d|date}}", "2026-02-13"),
        ("{{now+2w|date}}", "2026-03-29"),
        ("{{now-3h}}", "2026-03-15T07:20:30+00:00"),
        ("{{now-1mo|date}}", "2026-02-15"),
        ("{{now-17y+10d|date}}", "2009-03-25"),
        ("{{ now - 2y - 3mo | date }}", "2023-12-15"),
    ],
)
def test_offsets(template: str, rendered: str) -> None:
    assert render_string(template, NOW) == rendered


def test_placeholder_inside_a_longer_string() -> None:
    assert render_string("MRI of {{now-7d|date}} vs {{now-1y|date}}", NOW) == (
        "MRI of 2026-03-08 vs 2025-03-15"
    )


def test_years_from_a_leap_day_clamp_to_28_february() -> None:
    leap = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    assert render_string("{{now-1y|date}}", leap) == "2027-02-28"
    assert render_string("{{now-4y|date}}", leap) == "2024-02-29"
    assert render_string("{{now-18y|date}}", leap) == "2010-02-28"


def test_months_clamp_to_the_end_of_the_month() -> None:
    assert add_months(datetime(2026, 3, 31, tzinfo=UTC), -1).date().isoformat() == "2026-02-28"
    assert add_months(datetime(2024, 3, 31, tzinfo=UTC), -1).date().isoformat() == "2024-02-29"
    assert add_months(datetime(2026, 1, 31, tzinfo=UTC), 13).date().isoformat() == "2027-02-28"
    assert add_months(datetime(2026, 1, 15, tzinfo=UTC), -25).date().isoformat() == "2023-12-15"


def _age(born: date, on: date) -> int:
    """Completed years, the usual way (a 29 February birthday is reached on 1 March)."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def test_ages_are_exact_on_every_day_of_a_leap_cycle() -> None:
    start = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
    for day in range(366 * 4 + 1):
        now = start + timedelta(days=day)
        exactly = date.fromisoformat(render_string("{{now-18y|date}}", now))
        assert _age(exactly, now.date()) == 18, now
        almost = date.fromisoformat(render_string("{{now-18y+1d|date}}", now))
        assert _age(almost, now.date()) == 17, now
        sixteen = date.fromisoformat(render_string("{{now-17y+10d|date}}", now))
        assert _age(sixteen, now.date()) == 16, now


def test_offsets_apply_left_to_right() -> None:
    # 31 March - 1 month = 28 February (clamped); + 1 month = 28 March, not 31 March.
    base = datetime(2026, 3, 31, tzinfo=UTC)
    assert shift(base, "-1mo+1mo").date().isoformat() == "2026-03-28"


def test_other_timezones_are_kept() -> None:
    tz = timezone(timedelta(hours=-5))
    now = datetime(2026, 3, 15, 22, 0, 0, tzinfo=tz)
    assert render_string("{{now+1h}}", now) == "2026-03-15T23:00:00-05:00"
    assert render_string("{{now+3h|date}}", now) == "2026-03-16"


@pytest.mark.parametrize("bad", ["{{now-3x}}", "{{today}}", "{{now-}}", "{{now|time}}", "{{ }}"])
def test_unknown_placeholders_are_errors(bad: str) -> None:
    with pytest.raises(TemplateError):
        render_string(bad, NOW)


def test_render_walks_nested_json_and_keeps_other_values() -> None:
    template = {"a": ["{{now|date}}", 3, None, True], "b": {"c": "x"}}
    assert render(template, NOW) == {"a": ["2026-03-15", 3, None, True], "b": {"c": "x"}}


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone"):
        render("{{now}}", datetime(2026, 1, 1))


def test_command_line_writes_every_example(tmp_path: Path) -> None:
    assert main([str(tmp_path), "--now", "2026-03-15T10:20:30+00:00"]) == 0
    names = example_names()
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    for name in names:
        request = (tmp_path / name / "request.json").read_text(encoding="utf-8")
        assert "{{" not in request
        json.loads(request)
        assert (
            json.loads((tmp_path / name / "expected.json").read_text(encoding="utf-8"))["cards"]
            is not None
        )
