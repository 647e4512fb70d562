"""FHIR date and dateTime values to calendar dates.

Rules work in whole days ("within 12 months" = on or after now - 365 days), so a dateTime is
reduced to the calendar date it names, as written. Partial dates (``2024``, ``2024-03``) resolve
to their first day unless the caller asks for the last (used where erring late is the safe
side, e.g. a birth date when deciding whether a patient may be a minor).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from cds_service.record.model import DatePrecision

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def parse_fhir_date(value: Any, *, latest: bool = False) -> date | None:
    if not isinstance(value, str):
        return None
    match = _DATE.match(value.strip())
    if not match:
        return None
    year = int(match.group(1))
    month_text, day_text = match.group(2), match.group(3)
    try:
        if month_text is None:
            return date(year, 12, 31) if latest else date(year, 1, 1)
        month = int(month_text)
        if day_text is None:
            last = calendar.monthrange(year, month)[1]
            return date(year, month, last if latest else 1)
        return date(year, month, int(day_text))
    except ValueError:
        return None


def date_precision(value: Any) -> DatePrecision:
    if not isinstance(value, str):
        return DatePrecision.UNKNOWN
    match = _DATE.match(value.strip())
    if not match:
        return DatePrecision.UNKNOWN
    if match.group(2) is None:
        return DatePrecision.YEAR
    return DatePrecision.MONTH if match.group(3) is None else DatePrecision.DAY


def first_date(resource: Mapping[str, Any], *fields: str) -> date | None:
    """The first present of ``fields``, where ``xPeriod`` means that Period's start."""
    for name in fields:
        value = resource.get(name)
        if value is None:
            continue
        if name.endswith("Period"):
            parsed = parse_fhir_date(value.get("start")) if isinstance(value, dict) else None
        else:
            parsed = parse_fhir_date(value)
        if parsed is not None:
            return parsed
    return None


def age_in_years(birth: date, on: date) -> int:
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years
