"""The report in three forms: Markdown to read and paste, HTML to publish, JSON for machines.

The HTML is one self-contained page: inline CSS, the history drawn as an inline SVG bar
chart, no script, font, image or any address but the one the chair configured as where
the Code of Conduct was published, so it renders offline and tells no third party who
read it. The JSON carries the same figures and is what next year's report imports as
history (`lanyard transparency history import`).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

from lanyard.agent.errors import InvalidRequest
from lanyard.agent.transparency import vocabulary
from lanyard.agent.transparency.report import TransparencyReport
from lanyard.agent.transparency.settings import REPORT_FORMAT, HistoryEntry

FORMATS = ("md", "html", "json")
TITLE = "Code of Conduct transparency report"
_INTRO = {
    "initial": (
        "Initial report, presented at the closing of the event. Reports still being "
        "handled are shown as in progress; the final report follows within a month."
    ),
    "final": "Final report. Every report received has been handled and closed.",
}


def _dates(r: TransparencyReport) -> str:
    if r.starts_on and r.ends_on:
        return f"{r.starts_on.isoformat()} to {r.ends_on.isoformat()}"
    day = r.starts_on or r.ends_on
    return day.isoformat() if day else "not given"


def _attendance(in_person: int | None, online: int | None) -> str:
    if in_person is None and online is None:
        return "not given"
    parts = [
        f"{in_person:,} in person" if in_person is not None else "in person: not given",
        f"{online:,} online" if online is not None else "online: not given",
    ]
    total = (
        f" ({in_person + online:,} in total)"
        if in_person is not None and online is not None
        else ""
    )
    return ", ".join(parts) + total


def _reports_sentence(n: int) -> str:
    if n == 0:
        return "No reports were received."
    return f"{n} report{'' if n == 1 else 's'} {'was' if n == 1 else 'were'} received."


def _authorities(r: TransparencyReport) -> str:
    called = [
        name
        for name, yes in (
            ("law enforcement", r.law_enforcement_called),
            ("venue security", r.venue_security_called),
        )
        if yes
    ]
    if not called:
        return "No report records that law enforcement or venue security was called."
    text = " and ".join(called)
    return f"{text[0].upper()}{text[1:]} {'were' if len(called) == 2 else 'was'} called."


def _outcomes_summary(counts: dict[str, int]) -> str:
    return "; ".join(f"{vocabulary.OUTCOMES[k]}: {v}" for k, v in counts.items()) or "–"


def _history_rows(r: TransparencyReport) -> list[tuple[str, str, str, str, str]]:
    def row(label: str, h: HistoryEntry) -> tuple[str, str, str, str, str]:
        return (
            label,
            "–" if h.in_person is None else f"{h.in_person:,}",
            "–" if h.online is None else f"{h.online:,}",
            str(h.reports),
            _outcomes_summary(h.by_outcome),
        )

    rows = [row(str(h.year), h) for h in r.history]
    now = HistoryEntry(r.year, r.reports, r.in_person, r.online, r.by_outcome)
    rows.append(row(f"{r.year} (this event)", now))
    return rows


def _withheld_text(category: str, n: int) -> str:
    return (
        f"{category[0].upper()}{category[1:]}: {n} report{'' if n == 1 else 's'}; "
        "details withheld to protect the people involved."
    )


# -- Markdown ------------------------------------------------------------------------------


def _md(text: str) -> str:
    """Chair-entered text in Markdown: no raw HTML, no broken list items or table cells."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", "\n  ")


def _md_table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return out


def markdown(r: TransparencyReport) -> str:
    out = [f"# {TITLE}: {_md(r.event_name)}", "", _INTRO[r.kind], ""]
    out += [f"Published on {r.generated_on.isoformat()}.", "", "## The event", ""]
    out += [f"- Event: {_md(r.event_name)} ({_md(r.event_id)})", f"- Dates: {_dates(r)}"]
    out += [f"- Attendance: {_attendance(r.in_person, r.online)}", ""]
    out += ["## How reports were handled", ""]
    out += [f"- Code of Conduct team: {'; '.join(_md(t) for t in r.team)}"]
    out += [
        f"- How to report: {_md(r.reporting_channels) if r.reporting_channels else 'not given'}"
    ]
    out += [f"- Where this was published: {_md(r.published_at) if r.published_at else 'not given'}"]
    out += ["", "## Reports", "", _reports_sentence(r.reports), ""]
    if r.reports:
        out += ["### By category", ""]
        out += _md_table(("Category", "Reports"), [(k, str(v)) for k, v in r.by_category.items()])
        out += ["", "### By outcome", ""]
        out += _md_table(
            ("Outcome", "Reports"),
            [(vocabulary.OUTCOMES[k], str(v)) for k, v in r.by_outcome.items()],
        )
        out += ["", "A report can have more than one outcome.", "", "### Each report", ""]
        out += [f"{n}. {line.text}" for n, line in enumerate(r.lines, start=1)]
        out += [f"- {_withheld_text(w.category, w.reports)}" for w in r.withheld]
        out += [""]
    out += ["## Law enforcement and venue security", "", _authorities(r), ""]
    out += ["## Earlier years", ""]
    if not r.history:
        out += ["No figures from earlier years are available.", ""]
    out += _md_table(("Year", "In person", "Online", "Reports", "Outcomes"), list(_history_rows(r)))
    out += [""]
    if r.survey is not None:
        out += ["## Post-event survey", ""]
        if r.survey.respondents is not None:
            out += [f"{r.survey.respondents:,} people answered.", ""]
        out += _md_table(
            ("Statement", "Answers"),
            [
                (i.statement, "; ".join(f"{k}: {v}" for k, v in i.answers.items()))
                for i in r.survey.items
            ],
        )
        out += [""]
    return "\n".join(out)


# -- HTML ----------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;line-height:1.5;color:#1b1b1b;
background:#fff;margin:0}main{max-width:46rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.25rem .6rem;
text-align:left}td.n{text-align:right}.note{color:#555}svg .bar{fill:#3b6ea5}
svg .now{fill:#c8553d}svg text{font-size:12px;fill:#1b1b1b}
"""


def _h(text: str) -> str:
    return html.escape(text, quote=True)


def _html_table(head: tuple[str, ...], rows: list[tuple[str, ...]], numeric: set[int]) -> str:
    cells = "".join(f"<th>{_h(c)}</th>" for c in head)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_h(c)}</td>' if i in numeric else f"<td>{_h(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def chart(r: TransparencyReport) -> str:
    """Reports per year as an inline SVG bar chart (no xmlns: HTML needs none)."""
    points = [(str(h.year), h.reports, False) for h in r.history]
    points.append((str(r.year), r.reports, True))
    top = max(1, *(n for _, n, _ in points))
    bar, gap, height, base = 44, 24, 160, 190
    width = gap + len(points) * (bar + gap)
    parts = [
        f'<svg viewBox="0 0 {width} 220" width="{width}" height="220" role="img" '
        'aria-labelledby="chart-title"><title id="chart-title">Reports per year</title>',
        f'<line x1="{gap // 2}" y1="{base}" x2="{width - gap // 2}" y2="{base}" stroke="#999"/>',
    ]
    for i, (label, n, now) in enumerate(points):
        x = gap + i * (bar + gap)
        h = round(height * n / top)
        parts.append(
            f'<rect class="{"bar now" if now else "bar"}" x="{x}" y="{base - h}" '
            f'width="{bar}" height="{h}"/>'
            f'<text x="{x + bar // 2}" y="{base - h - 4}" text-anchor="middle">{n}</text>'
            f'<text x="{x + bar // 2}" y="{base + 16}" text-anchor="middle">{_h(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def page(r: TransparencyReport) -> str:
    title = f"{TITLE}: {r.event_name}"
    link = (
        f'<a href="{_h(r.published_at)}">{_h(r.published_at)}</a>'
        if r.published_at
        else "not given"
    )
    channels = (
        _h(r.reporting_channels).replace("\n", "<br>") if r.reporting_channels else "not given"
    )
    body = [
        f"<h1>{_h(title)}</h1>",
        f'<p class="note">{_h(_INTRO[r.kind])}</p>',
        f"<p>Published on {r.generated_on.isoformat()}.</p>",
        "<h2>The event</h2><ul>",
        f"<li>Event: {_h(r.event_name)} ({_h(r.event_id)})</li>",
        f"<li>Dates: {_dates(r)}</li>",
        f"<li>Attendance: {_h(_attendance(r.in_person, r.online))}</li></ul>",
        "<h2>How reports were handled</h2><ul>",
        f"<li>Code of Conduct team: {'; '.join(_h(t) for t in r.team)}</li>",
        f"<li>How to report: {channels}</li>",
        f"<li>Where this was published: {link}</li></ul>",
        "<h2>Reports</h2>",
        f"<p>{_reports_sentence(r.reports)}</p>",
    ]
    if r.reports:
        body += [
            "<h3>By category</h3>",
            _html_table(
                ("Category", "Reports"), [(k, str(v)) for k, v in r.by_category.items()], {1}
            ),
            "<h3>By outcome</h3>",
            _html_table(
                ("Outcome", "Reports"),
                [(vocabulary.OUTCOMES[k], str(v)) for k, v in r.by_outcome.items()],
                {1},
            ),
            '<p class="note">A report can have more than one outcome.</p>',
            "<h3>Each report</h3><ol>",
            "".join(f"<li>{_h(line.text)}</li>" for line in r.lines),
            "</ol>",
        ]
        if r.withheld:
            body.append(
                "<ul>"
                + "".join(
                    f"<li>{_h(_withheld_text(w.category, w.reports))}</li>" for w in r.withheld
                )
                + "</ul>"
            )
    body += ["<h2>Law enforcement and venue security</h2>", f"<p>{_authorities(r)}</p>"]
    body += ["<h2>Earlier years</h2>"]
    if not r.history:
        body.append("<p>No figures from earlier years are available.</p>")
    body += [
        chart(r),
        _html_table(
            ("Year", "In person", "Online", "Reports", "Outcomes"),
            list(_history_rows(r)),
            {1, 2, 3},
        ),
    ]
    if r.survey is not None:
        body.append("<h2>Post-event survey</h2>")
        if r.survey.respondents is not None:
            body.append(f"<p>{r.survey.respondents:,} people answered.</p>")
        body.append(
            _html_table(
                ("Statement", "Answers"),
                [
                    (i.statement, "; ".join(f"{k}: {v}" for k, v in i.answers.items()))
                    for i in r.survey.items
                ],
                set(),
            )
        )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_h(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(body)
        + "\n</main>\n</body>\n</html>\n"
    )


# -- JSON ----------------------------------------------------------------------------------


def _history_json(h: HistoryEntry) -> dict[str, Any]:
    return {
        "year": h.year,
        "reports": h.reports,
        "in_person": h.in_person,
        "online": h.online,
        "by_outcome": h.by_outcome,
        "by_category": h.by_category,
    }


def as_json(r: TransparencyReport) -> dict[str, Any]:
    return {
        "format": REPORT_FORMAT,
        "kind": r.kind,
        "generated_on": r.generated_on.isoformat(),
        "event": {
            "id": r.event_id,
            "name": r.event_name,
            "starts_on": r.starts_on.isoformat() if r.starts_on else None,
            "ends_on": r.ends_on.isoformat() if r.ends_on else None,
            "in_person": r.in_person,
            "online": r.online,
        },
        "process": {
            "team": r.team,
            "reporting_channels": r.reporting_channels,
            "published_at": r.published_at,
        },
        "statistics": {
            "reports": r.reports,
            "by_category": r.by_category,
            "by_outcome": r.by_outcome,
            "each_report": [
                {
                    "category": line.category,
                    "reported_roles": list(line.roles),
                    "violation": line.violation,
                    "outcomes": list(line.outcomes),
                    "status": vocabulary.CLOSED if line.closed else vocabulary.OPEN,
                    "text": line.text,
                }
                for line in r.lines
            ],
            "withheld": [{"category": w.category, "reports": w.reports} for w in r.withheld],
        },
        "law_enforcement_called": r.law_enforcement_called,
        "venue_security_called": r.venue_security_called,
        "history": [_history_json(h) for h in r.history],
        "survey": None
        if r.survey is None
        else {
            "respondents": r.survey.respondents,
            "results": [{"statement": i.statement, "answers": i.answers} for i in r.survey.items],
        },
    }


def json_text(r: TransparencyReport) -> str:
    return json.dumps(as_json(r), indent=2, ensure_ascii=False) + "\n"


RENDERERS: dict[str, Callable[[TransparencyReport], str]] = {
    "md": markdown,
    "html": page,
    "json": json_text,
}


def render(r: TransparencyReport, fmt: str) -> str:
    try:
        return RENDERERS[fmt](r)
    except KeyError:
        raise InvalidRequest(
            f"the format must be one of {', '.join(FORMATS)}, got {fmt!r}"
        ) from None
