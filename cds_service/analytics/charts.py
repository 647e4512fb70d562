"""Server-rendered SVG charts: no script, no external library, readable by screen readers.

Each chart is ``role="img"`` named by its ``<title>`` and described by a ``<desc>`` that states
the data in words; the page also shows every chart's numbers as a table next to it. Colours
come from CSS classes (``analytics.css``), so the page's strict Content-Security-Policy needs no
inline styles, and bars carry their value as text, not only as length or colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

WIDTH: Final = 720
_BAR_HEIGHT: Final = 22
_GAP: Final = 8
_LABEL_WIDTH: Final = 330
_VALUE_WIDTH: Final = 90
_PLOT_HEIGHT: Final = 220


@dataclass(frozen=True)
class Bar:
    """One horizontal bar: ``value`` sets its length against the chart's maximum."""

    label: str
    value: float
    text: str


def _open(chart_id: str, title: str, desc: str, height: int) -> list[str]:
    return [
        f'<svg class="chart" id="{escape(chart_id)}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>',
    ]


def bar_chart(chart_id: str, title: str, desc: str, bars: Sequence[Bar], maximum: float) -> str:
    """Horizontal bars with their labels on the left and their values on the right."""
    height = max(1, len(bars)) * (_BAR_HEIGHT + _GAP) + _GAP
    parts = _open(chart_id, title, desc, height)
    plot = WIDTH - _LABEL_WIDTH - _VALUE_WIDTH
    if not bars:
        parts.append(f'<text class="chart-empty" x="{_GAP}" y="{_BAR_HEIGHT}">No data</text>')
    for index, bar in enumerate(bars):
        y = _GAP + index * (_BAR_HEIGHT + _GAP)
        length = 0.0 if maximum <= 0 else max(0.0, min(1.0, bar.value / maximum)) * plot
        middle = y + _BAR_HEIGHT / 2 + 4
        parts.append(
            f'<text class="chart-label" x="{_LABEL_WIDTH - 8}" y="{middle:.1f}" '
            f'text-anchor="end">{escape(bar.label)}</text>'
            f'<rect class="bar bar-overridden" x="{_LABEL_WIDTH}" y="{y}" '
            f'width="{length:.1f}" height="{_BAR_HEIGHT}"/>'
            f'<text class="chart-value" x="{_LABEL_WIDTH + length + 6:.1f}" '
            f'y="{middle:.1f}">{escape(bar.text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def weekly_chart(
    chart_id: str, title: str, desc: str, weeks: Sequence[tuple[str, int, int]]
) -> str:
    """Shown and overridden cards per week as paired vertical bars, with a legend."""
    top, bottom, left = 28, 40, 48
    height = top + _PLOT_HEIGHT + bottom
    parts = _open(chart_id, title, desc, height)
    plot_width = WIDTH - left - 8
    peak = max((shown for _, shown, _ in weeks), default=0)
    slot = plot_width / max(1, len(weeks))
    bar = max(1.0, slot * 0.4)
    baseline = top + _PLOT_HEIGHT
    parts.append(
        f'<rect class="bar bar-shown" x="{left}" y="6" width="12" height="12"/>'
        f'<text class="chart-label" x="{left + 18}" y="16">Shown</text>'
        f'<rect class="bar bar-overridden" x="{left + 90}" y="6" width="12" height="12"/>'
        f'<text class="chart-label" x="{left + 108}" y="16">Overridden</text>'
        f'<line class="axis" x1="{left}" y1="{baseline}" x2="{WIDTH - 8}" y2="{baseline}"/>'
        f'<text class="chart-value" x="{left - 6}" y="{top + 4}" text-anchor="end">{peak}</text>'
        f'<text class="chart-value" x="{left - 6}" y="{baseline}" text-anchor="end">0</text>'
    )
    label_every = max(1, round(len(weeks) / 12))
    for index, (label, shown, overridden) in enumerate(weeks):
        x = left + index * slot + (slot - 2 * bar) / 2
        for offset, value, css in ((0.0, shown, "bar-shown"), (bar, overridden, "bar-overridden")):
            h = 0.0 if peak == 0 else value / peak * _PLOT_HEIGHT
            parts.append(
                f'<rect class="bar {css}" x="{x + offset:.1f}" y="{baseline - h:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}"/>'
            )
        if index % label_every == 0:
            parts.append(
                f'<text class="chart-tick" x="{left + index * slot + slot / 2:.1f}" '
                f'y="{baseline + 16}" text-anchor="middle">{escape(label[-3:])}</text>'
            )
    if not weeks:
        parts.append(f'<text class="chart-empty" x="{left}" y="{top + 20}">No data</text>')
    parts.append("</svg>")
    return "".join(parts)
