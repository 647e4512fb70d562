"""The analytics summary as JSON, CSV and HTML: shared by ``GET /analytics/cards`` and the CLI.

Override-reason codes and displays come from EHR feedback, so every string is escaped for its
format: HTML-escaped in the page and the HTML report, and guarded against spreadsheet formula
injection in CSV (a cell starting with ``=``, ``+``, ``-`` or ``@`` gets a leading ``'``).
"""

from __future__ import annotations

import csv
import io
from html import escape
from pathlib import Path
from typing import Any, Final

from cds_service.analytics.charts import Bar, bar_chart, weekly_chart
from cds_service.audit.summary import ReasonKey, Summary, Tally, TopicRow

FORMATS: Final = ("json", "csv", "html")
STYLESHEET: Final = (
    Path(__file__).resolve().parent.parent / "static" / "analytics" / "analytics.css"
)
TOP_REASONS: Final = 10

DEFINITIONS: Final = {
    "shown": "Cards returned in the period (UTC days, both ends included).",
    "accepted": "Cards shown in the period with at least one 'accepted' feedback item.",
    "overridden": "Cards shown in the period with at least one 'overridden' feedback item.",
    "override_rate": "overridden / shown: the override rate.",
    "answered": "Cards shown in the period with any feedback (counted once per card).",
    "response_override_rate": "overridden / answered: the override rate among answered cards.",
    "feedback_rate": "answered / shown: the share of cards that got any feedback.",
    "override_reasons": "Overridden cards by the reason of their first override.",
}


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def _reasons(summary: Summary, tally: Tally) -> list[dict[str, Any]]:
    ordered = sorted(tally.reasons.items(), key=lambda item: (-item[1], item[0]))
    return [
        {
            "system": system or None,
            "code": code or None,
            "display": summary.reason_label((system, code)),
            "count": count,
        }
        for (system, code), count in ordered
    ]


def _tally_json(summary: Summary, tally: Tally) -> dict[str, Any]:
    return {
        "shown": tally.shown,
        "accepted": tally.accepted,
        "overridden": tally.overridden,
        "answered": tally.answered,
        "override_rate": _rate(tally.override_rate),
        "response_override_rate": _rate(tally.response_override_rate),
        "feedback_rate": _rate(tally.feedback_rate),
        "override_reasons": _reasons(summary, tally),
    }


def as_json(summary: Summary) -> dict[str, Any]:
    """The body of ``GET /analytics/cards``."""
    weeks = {week.label: week for week in summary.weeks}

    def week_json(label: str, tally: Tally) -> dict[str, Any]:
        week = weeks[label]
        return {
            "week": label,
            "start": week.start.isoformat(),
            "end": week.end.isoformat(),
            **_tally_json(summary, tally),
        }

    return {
        "since": summary.since.isoformat(),
        "until": summary.until.isoformat(),
        "time_zone": "UTC",
        "definitions": DEFINITIONS,
        "total": _tally_json(summary, summary.total),
        "topics": [
            {
                "topic": row.topic,
                "display": row.display,
                "indicator": row.indicator,
                **_tally_json(summary, row.total),
                "weeks": [week_json(label, row.weeks[label]) for label in sorted(row.weeks)],
            }
            for row in summary.rows
        ],
        "weeks": [week_json(week.label, summary.by_week[week.label]) for week in summary.weeks],
        "knowledge_versions": [
            {
                "version": known.version,
                "first_seen": known.first_seen.isoformat() + "Z",
                "last_seen": known.last_seen.isoformat() + "Z",
            }
            for known in summary.knowledge_versions
        ],
        "topics_not_shown": [
            {"code": code, "display": display} for code, display in summary.topics_not_shown
        ],
    }


# --- CSV -----------------------------------------------------------------------------------

CSV_COLUMNS: Final = (
    "period",
    "start",
    "end",
    "topic",
    "indicator",
    "shown",
    "accepted",
    "overridden",
    "answered",
    "override_rate",
    "response_override_rate",
    "feedback_rate",
    "override_reasons",
)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def as_csv(summary: Summary) -> str:
    """One row per topic and indicator (period ``total``) and per week with data; ``*`` = all."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    weeks = {week.label: week for week in summary.weeks}

    def row(period: str, start: str, end: str, topic: str, indicator: str, tally: Tally) -> None:
        reasons = "; ".join(
            f"{item['code'] or 'none'}={item['count']}" for item in _reasons(summary, tally)
        )
        values: list[object] = [
            period,
            start,
            end,
            topic,
            indicator,
            tally.shown,
            tally.accepted,
            tally.overridden,
            tally.answered,
            _rate(tally.override_rate),
            _rate(tally.response_override_rate),
            _rate(tally.feedback_rate),
            reasons,
        ]
        writer.writerow([_cell(value) for value in values])

    since, until = summary.since.isoformat(), summary.until.isoformat()
    for topic_row in summary.rows:
        row("total", since, until, topic_row.topic, topic_row.indicator, topic_row.total)
        for label in sorted(topic_row.weeks):
            week = weeks[label]
            row(
                label,
                week.start.isoformat(),
                week.end.isoformat(),
                topic_row.topic,
                topic_row.indicator,
                topic_row.weeks[label],
            )
    row("total", since, until, "*", "*", summary.total)
    for week in summary.weeks:
        row(
            week.label,
            week.start.isoformat(),
            week.end.isoformat(),
            "*",
            "*",
            summary.by_week[week.label],
        )
    return out.getvalue()


# --- HTML ----------------------------------------------------------------------------------


def _row_label(row: TopicRow) -> str:
    return f"{row.display} ({row.indicator})"


def _table(caption: str, headers: list[str], rows: list[list[str]], css: str = "") -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)
    body = "".join(
        "<tr>"
        + f'<th scope="row">{escape(cells[0])}</th>'
        + "".join(f"<td>{escape(cell)}</td>" for cell in cells[1:])
        + "</tr>"
        for cells in rows
    )
    if not rows:
        body = f'<tr><td colspan="{len(headers)}">No cards in this period.</td></tr>'
    klass = f' class="{css}"' if css else ""
    return (
        f"<table{klass}><caption>{escape(caption)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _counts(tally: Tally) -> list[str]:
    return [
        str(tally.shown),
        str(tally.accepted),
        str(tally.overridden),
        str(tally.answered),
        _percent(tally.override_rate),
        _percent(tally.response_override_rate),
        _percent(tally.feedback_rate),
    ]


_COUNT_HEADERS: Final = [
    "Shown",
    "Accepted",
    "Overridden",
    "Answered",
    "Override rate",
    "Override rate of answered cards",
    "Feedback rate",
]


def _top_reasons(summary: Summary) -> list[tuple[ReasonKey, int]]:
    ordered = sorted(summary.total.reasons.items(), key=lambda item: (-item[1], item[0]))
    return ordered[:TOP_REASONS]


def _figure(chart: str, caption: str) -> str:
    return f"<figure>{chart}<figcaption>{escape(caption)}</figcaption></figure>"


def as_html_fragment(summary: Summary) -> str:
    """The report as an HTML section (the page inserts it; the CLI wraps it in a document)."""
    period = f"{summary.since.isoformat()} to {summary.until.isoformat()}"
    total = summary.total
    parts = [
        '<section class="report" aria-labelledby="report-title">',
        f'<h2 id="report-title" tabindex="-1">Cards shown from {escape(period)} (UTC)</h2>',
        f'<p class="headline"><span class="figure" id="total-shown">{total.shown}</span> cards '
        f'shown, <span class="figure" id="total-overridden">{total.overridden}</span> '
        f'overridden: override rate <span class="figure" id="total-override-rate">'
        f"{escape(_percent(total.override_rate))}</span> (overridden / shown). "
        f"{total.accepted} accepted; {escape(_percent(total.feedback_rate))} of cards got "
        "any feedback.</p>",
    ]
    bars = [
        Bar(
            _row_label(row),
            row.total.override_rate or 0.0,
            f"{_percent(row.total.override_rate)} of {row.total.shown}",
        )
        for row in summary.rows
    ]
    described = "; ".join(f"{bar.label}: {bar.text}" for bar in bars) or "No cards were shown."
    parts.append('<h3 id="by-topic">Override rate per topic</h3>')
    parts.append(
        _figure(
            bar_chart(
                "chart-override-rate",
                "Override rate per card topic and indicator",
                f"Overridden cards as a share of cards shown. {described}",
                bars,
                1.0,
            ),
            "Override rate (overridden / shown) per topic; the table below has the numbers.",
        )
    )
    parts.append(
        _table(
            "Cards per topic and indicator",
            ["Topic (indicator)", *_COUNT_HEADERS],
            [[_row_label(row), *_counts(row.total)] for row in summary.rows],
            "by-topic",
        )
    )
    weekly = [
        (week.label, summary.by_week[week.label].shown, summary.by_week[week.label].overridden)
        for week in summary.weeks
    ]
    busiest = max(weekly, key=lambda item: item[1], default=None)
    week_desc = (
        f"{len(weekly)} ISO weeks from {weekly[0][0]} to {weekly[-1][0]}; the busiest week, "
        f"{busiest[0]}, showed {busiest[1]} cards of which {busiest[2]} were overridden."
        if weekly and busiest
        else "No weeks in the period."
    )
    parts.append('<h3 id="by-week">Shown and overridden per week</h3>')
    parts.append(
        _figure(
            weekly_chart(
                "chart-weekly", "Cards shown and overridden per ISO week", week_desc, weekly
            ),
            "Cards shown and overridden per ISO week (all topics); the table below has the "
            "numbers.",
        )
    )
    parts.append(
        _table(
            "Cards per ISO week (all topics)",
            ["ISO week", "Days", *_COUNT_HEADERS],
            [
                [
                    week.label,
                    f"{week.start.isoformat()} to {week.end.isoformat()}",
                    *_counts(summary.by_week[week.label]),
                ]
                for week in summary.weeks
            ],
            "by-week",
        )
    )
    top = _top_reasons(summary)
    reason_bars = [Bar(summary.reason_label(key), count, str(count)) for key, count in top]
    reason_desc = (
        "; ".join(f"{bar.label}: {bar.text}" for bar in reason_bars) or "No card was overridden."
    )
    parts.append('<h3 id="reasons">Top override reasons</h3>')
    parts.append(
        _figure(
            bar_chart(
                "chart-reasons",
                "Most frequent override reasons",
                f"Overridden cards by reason. {reason_desc}",
                reason_bars,
                float(max((count for _, count in top), default=0)),
            ),
            f"The {TOP_REASONS} most frequent override reasons (all topics).",
        )
    )
    parts.append(
        _table(
            "Override reasons (all topics)",
            ["Reason", "Code", "Overridden cards"],
            [
                [summary.reason_label(key), key[1] or "–", str(count)]
                for key, count in sorted(
                    summary.total.reasons.items(), key=lambda item: (-item[1], item[0])
                )
            ],
            "reasons",
        )
    )
    detail_rows = []
    for row in summary.rows:
        for label in sorted(row.weeks):
            tally = row.weeks[label]
            reasons = ", ".join(
                f"{summary.reason_label(key)}: {count}"
                for key, count in sorted(tally.reasons.items(), key=lambda i: (-i[1], i[0]))
            )
            detail_rows.append([label, _row_label(row), *_counts(tally), reasons or "–"])
    parts.append('<h3 id="weekly-detail">Per ISO week and topic</h3>')
    parts.append(
        _table(
            "Cards per ISO week, topic and indicator",
            ["ISO week", "Topic (indicator)", *_COUNT_HEADERS, "Override reasons"],
            detail_rows,
            "weekly-detail",
        )
    )
    parts.append('<h3 id="knowledge">Knowledge versions in use</h3>')
    parts.append(
        _table(
            "Knowledge versions (content hash of the rules) that answered calls in the period",
            ["Version", "First call (UTC)", "Last call (UTC)"],
            [
                [
                    known.version,
                    known.first_seen.isoformat(timespec="seconds"),
                    known.last_seen.isoformat(timespec="seconds"),
                ]
                for known in summary.knowledge_versions
            ],
            "knowledge",
        )
    )
    if summary.topics_not_shown:
        names = ", ".join(display for _, display in summary.topics_not_shown)
        parts.append(f'<p class="not-shown">Topics never shown in the period: {escape(names)}.</p>')
    parts.append("</section>")
    return "".join(parts)


def as_html_document(summary: Summary) -> str:
    """A self-contained HTML file (for ``cds-service report --format html``)."""
    css = STYLESHEET.read_text(encoding="utf-8")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Natalizumab CDS card analytics {summary.since} to {summary.until}</title>"
        f"<style>{css}</style></head><body><main>"
        "<h1>Natalizumab CDS: card analytics</h1>"
        f"{as_html_fragment(summary)}</main></body></html>\n"
    )
