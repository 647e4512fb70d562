"""Markdown helpers: record text reaches cards escaped, so it cannot forge links or markup."""

from __future__ import annotations

import re
from datetime import date

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>])")


def escape(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", " ".join(text.split()))


def fmt_date(value: date | None) -> str:
    return value.isoformat() if value else "date not recorded"


def fmt_number(value: float) -> str:
    return f"{value:g}"


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"
