"""Record text reaches cards as literal text: no HTML, no links, no markdown of its own.

The detail is markdown that EHRs render with CommonMark/GFM (often with "linkify"), and many
render the plain-text summary as HTML too. So record text is *defanged* first (a URL or a
domain name loses the shape autolinkers look for: ``evil[.]example``, ``https[:]//``), then,
in markdown, every ASCII punctuation character is backslash-escaped (CommonMark renders an
escaped character as itself, and an escape also splits the text run a linkifier scans), and
in the plain-text summary ``<`` and ``>`` become look-alike angle quotes, so no tag survives.
"""

from __future__ import annotations

import re
import string
from datetime import date
from functools import lru_cache

# Every ASCII punctuation character, backslash-escaped (CommonMark allows an escape before any).
_ESCAPES = str.maketrans({char: "\\" + char for char in string.punctuation})
_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*):(?=//)")
_DOMAIN = re.compile(r"(?i)\b(?:[a-z0-9-]+\.)+[a-z]{2,}\b")


def _collapse(text: str) -> str:
    return " ".join(text.split())


def defang(text: str) -> str:
    """Break URLs, e-mail addresses and domain names so no renderer makes them links."""
    if "." not in text and ":" not in text:
        return text
    text = _SCHEME.sub(r"\1[:]", text)
    return _DOMAIN.sub(lambda match: match.group(0).replace(".", "[.]"), text)


def escape(text: str) -> str:
    """Record text for the markdown detail: renders exactly as written (defanged)."""
    return defang(_collapse(text)).translate(_ESCAPES)


@lru_cache(maxsize=1024)
def escape_knowledge(text: str) -> str:
    """``escape`` for the knowledge data's own text (source titles, table labels), cached: the
    same few strings appear on every call. Never used for record text, which is not kept."""
    return escape(text)


def plain(text: str) -> str:
    """Record text for the plain-text summary: no tag, no link, one line."""
    return defang(_collapse(text)).replace("<", "‹").replace(">", "›")


def fmt_date(value: date | None) -> str:
    return value.isoformat() if value else "date not recorded"


def fmt_number(value: float) -> str:
    return f"{value:g}"


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"
