"""The self-contained HTML report: charts inline as SVG, every feed-supplied string escaped.

Feed content is hostile: titles, URLs, feed names and errors are escaped with
:func:`html.escape`, only http(s) URLs become links, and a Content-Security-Policy forbids
scripts and any fetch, so the file renders offline and cannot run anything it carries.

An alert's panel says what its notification said, in the same words (the phrases of
``sentinel.alerts.evidence``): window, counts, share, headlines with their sources, the SQL.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine

from sentinel.alerts.evidence import (
    counts_text,
    headline_meta,
    segment_label,
    share_text,
    times,
    window_text,
)
from sentinel.errors import SentinelError
from sentinel.report.charts import Chart, plot_alert, plot_overview, plot_topic_sentiment
from sentinel.report.data import (
    ALERT_PANELS,
    BASELINE_DAYS,
    HALF_LIFE_HOURS,
    AlertPanel,
    LanguageCounts,
    ReportData,
    collect_report_data,
)
from sentinel.report.period import check_period
from sentinel.report.style import STYLE
from sentinel.status import format_when

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
CONTROL = re.compile(r"[\x00-\x20\x7f]")
SVG_HEAD = '<?xml version="1.0" encoding="utf-8" standalone="no"?>\n'


@dataclass
class Report:
    html_path: Path
    chart_paths: list[Path]


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def safe_url(url: str | None) -> str | None:
    """The URL if it is a plain http(s) link; anything else (javascript:, data:, ...) is None."""
    if not url or CONTROL.search(url):
        return None
    return url if urlsplit(url).scheme.lower() in {"http", "https"} and "//" in url else None


def link(title: str, url: str | None) -> str:
    target = safe_url(url)
    if target is None:
        return esc(title)
    return f'<a href="{esc(target)}" rel="noopener noreferrer nofollow">{esc(title)}</a>'


def figure(chart: Chart | None, caption: str, empty: str) -> str:
    if chart is None:
        return f'<p class="muted">{esc(empty)}</p>'
    labels = " | ".join(chart.axis_labels)
    return (f'<figure class="chart" data-chart="{esc(chart.name)}" data-axes="{esc(labels)}" '
            f'aria-label="{esc(chart.description)}"><div class="wide">{chart.svg}</div>'
            f'<div class="narrow">{chart.svg_narrow}</div>'
            f"<figcaption>{caption}</figcaption></figure>")


def cards_table(headers: list[str], rows: list[list[tuple[str, str]]], empty: str) -> str:
    """A table that becomes one card per row on a narrow screen (labels from the headers).
    Cells are (class, html) pairs; the html must already be escaped."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="{cls}" data-label="{esc(h)}">{cell}</td>'
                         for h, (cls, cell) in zip(headers, row, strict=True)) + "</tr>"
        for row in rows) or f'<tr><td colspan="{len(headers)}" class="muted">{esc(empty)}</td></tr>'
    return f'<table class="stack"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def section_summary(data: ReportData) -> str:
    totals = data.totals
    share = totals["negative"] / totals["classified"] if totals["classified"] else None
    cards = [("articles", totals["articles"]), ("classified", totals["classified"]),
             ("negative", totals["negative"]),
             ("negative share", f"{share:.0%}" if share is not None else "–"),
             ("alerts", data.alerts[0]["alerts_in_period"] if data.alerts else 0)]
    items = "".join(f'<div class="card"><div class="n">{esc(n)}</div><div class="k">{esc(k)}'
                    f"</div></div>" for k, n in cards)
    waiting = totals["articles"] - totals["classified"]
    note = (f'<p class="muted">{waiting} of these articles have no classification by the active '
            "model yet (new, edited, or no model installed); the charts count classified "
            "articles only.</p>" if waiting else "")
    return f'<section id="summary"><div class="cards">{items}</div>{note}</section>'


def headline_list(headlines: list[dict[str, Any]], meta: Any) -> str:
    items = "".join(f'<li>{link(h["title"], h.get("url"))}<div class="meta">{esc(meta(h))}</div>'
                    "</li>" for h in headlines)
    return f'<ol class="headlines">{items}</ol>'


def alert_panel(panel: AlertPanel, chart: Chart) -> str:
    a, payload = panel.alert, panel.payload
    state = esc(a["state"])
    since = f"open since {format_when(a['started_at'])}" if a["state"] != "resolved" else \
        f"open {format_when(a['started_at'])} to {format_when(a['resolved_at'])}"
    if panel.notified:
        sent = panel.notified
        said = (f"As notified ({sent['kind']}, {format_when(sent['created_at'])}, "
                f"delivery {sent['status']}):")
    else:
        said = "No notification stored for it; the evidence of its latest bucket, read now:"
    facts = [f"<li><b>Window</b> {esc(window_text(payload))}</li>",
             f"<li><b>Negative stories</b> {esc(counts_text(payload))}</li>"]
    if share := share_text(payload):
        facts.append(f"<li><b>Negative share</b> {esc(share)}</li>")
    headlines = payload.get("headlines") or []
    quoted = (headline_list(headlines, headline_meta) if headlines else
              '<p class="muted">No negative headline in the window.</p>')
    more = int(payload.get("negative", payload["observed"])) - len(headlines)
    if more > 0:
        quoted += (f'<p class="meta">and {more} more negative '
                   f'{"story" if more == 1 else "stories"} in the window: the SQL lists them.</p>')
    drawn = figure(chart, (
        "Bars: negative articles per bucket. Dashed line and band: the median and the range "
        f"(lowest to highest) of the same time of day on the previous {BASELINE_DAYS} days, a "
        "reading aid. Shaded: the alert's window; triangle and circle: the observed and expected "
        "counts of its message."), "No data around this alert.")
    return (f'<article class="alert" id="alert-{a["alert_id"]}">'
            f'<h3>{esc(segment_label(a["segment_kind"], a["segment_value"]))} '
            f'<span class="badge status-{state}">{state}</span></h3>'
            f'<p class="meta">{esc(since)}. {esc(said)}</p>'
            f'<ul class="facts">{"".join(facts)}</ul>{drawn}'
            f"<h4>Headlines the alert counted</h4>{quoted}"
            f"<details><summary>The SQL behind it (the same window)</summary>"
            f'<pre class="sql">{esc(payload.get("sql", ""))}</pre></details></article>')


def section_alerts(data: ReportData, charts: list[Chart]) -> str:
    if not data.alerts:
        return ('<section id="alerts"><h2>Alerts</h2><p class="muted">No alert was open '
                "during this period.</p></section>")
    panels = "".join(alert_panel(p, c) for p, c in zip(data.panels, charts, strict=True))
    with_panel = {p.alert["alert_id"] for p in data.panels}
    rows = []
    for a in data.alerts:
        label = esc(segment_label(a["segment_kind"], a["segment_value"]))
        if a["alert_id"] in with_panel:
            label = f'<a href="#alert-{a["alert_id"]}">{label}</a>'
        ratio = f' ({times(a["ratio"] if a["ratio"] is not None else 999.0)})'
        rows.append([("", label), (f'status-{esc(a["state"])}', esc(a["state"])),
                     ("", esc(format_when(a["started_at"]))),
                     ("", esc(format_when(a["resolved_at"]) if a["resolved_at"] else "open")),
                     ("num", esc(f'{a["observed"]:g} vs {a["expected"]:.1f}{ratio}'))])
    table = cards_table(["Segment", "State", "Started", "Resolved",
                         "Negative: observed vs expected"], rows, "")
    total, listed = data.alerts[0]["alerts_in_period"], len(data.alerts)
    more = ""
    if total > len(data.panels):
        more = (f'<p class="muted">Panels for the {ALERT_PANELS} most recent alerts; the table '
                f"lists {f'the {listed} most recent of {total}' if total > listed else 'all'}."
                "</p>")
    return (f'<section id="alerts"><h2>Alerts</h2>{panels}{more}'
            f'<h3 class="sub">Alerts in this period ({total})</h3>{table}</section>')


def section_headlines(data: ReportData) -> str:
    title = "Other negative headlines" if data.panels else "Negative headlines"
    if not data.headlines:
        return (f'<section id="headlines"><h2>{title}</h2><p class="muted">'
                "No other article in this period is classified negative.</p></section>")

    def meta(h: dict[str, Any]) -> str:
        return " · ".join(part for part in (
            ", ".join(h["feeds"]), ", ".join(h["tickers"]), h["topic"] or "",
            f"p(negative) {h['p_negative']:.2f}", format_when(h["published_at"])) if part)

    note = (f'<p class="muted">Most negative and most recent first: p(negative), halved for '
            f"every {HALF_LIFE_HOURS} hours before the end of the period.</p>")
    return (f'<section id="headlines"><h2>{title}</h2>{note}'
            f"{headline_list(data.headlines, meta)}</section>")


def section_feeds(data: ReportData) -> str:
    headers = ["Feed", "Status now", "Failures in a row", "Last success", "Fetches", "Failed",
               "New articles"]
    languages = data.unsupported_language
    if languages is not None:
        headers.append("Unsupported language")
    headers.append("Last error")
    rows = []
    for f in data.feeds:
        row = [("", esc(f["feed_name"])),
               (f'status-{esc(f["status"]).replace(" ", "-")}', esc(f["status"])),
               ("num", esc(f["consecutive_failures"])),
               ("", esc(format_when(f["last_success_at"]))), ("num", esc(f["fetches"])),
               ("num", esc(f["failed"])), ("num", esc(f["new"]))]
        if languages is not None:
            row.append(("num", esc(languages.get(f["feed_name"], 0))))
        row.append(("error", esc(f["last_error"] or "")))
        rows.append(row)
    return ('<section id="feed-health"><h2>Feed health</h2>'
            + cards_table(headers, rows, "No feeds configured.") + "</section>")


def render_html(data: ReportData, charts: dict[str, Chart | None], alert_charts: list[Chart],
                generated_at: datetime) -> str:
    period = f"{format_when(data.since)} to {format_when(data.until)}"
    overview_caption = (
        "Bars: negative articles per bucket. Dashed line: expected, the median of the same time "
        f"of day on the previous {BASELINE_DAYS} days; band: the lowest to highest of those days "
        "(a reading aid, not the detector's baseline). Orange: the bucket an alert fired on.")
    heatmap_caption = ("Each row is a topic: how many of its classified articles had each "
                       "sentiment, and what share; each sentiment has its own colour scale "
                       "(the bars below), the darker the cell, the larger the share.")
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Sentinel report, {esc(period)}</title><style>{STYLE}</style></head>",
        "<body><main>", "<h1>Sentinel news sentiment report</h1>",
        f'<p class="period">{esc(period)} · generated {esc(format_when(generated_at))}</p>',
        section_summary(data), section_alerts(data, alert_charts),
        '<section id="overview"><h2>The period at a glance</h2>'
        + figure(charts["overview"], overview_caption, "No classified articles in this period.")
        + "</section>",
        '<section id="topic-sentiment"><h2>Topics by sentiment</h2>'
        + figure(charts["topic_sentiment"], heatmap_caption,
                 "No classified articles in this period.") + "</section>",
        section_headlines(data), section_feeds(data),
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(engine: Engine, since: datetime, until: datetime, out_dir: Path, *,
                 top_segments: int = 2, now: datetime | None = None,
                 language_counts: LanguageCounts | None = None) -> Report:
    """Write ``report.html`` (self-contained) and its charts as SVG files into ``out_dir``."""
    since, until = check_period(since, until, now=now or datetime.now(UTC))
    data = collect_report_data(engine, since, until, top_segments=top_segments,
                               language_counts=language_counts)
    charts = {"overview": plot_overview(data),
              "topic_sentiment": plot_topic_sentiment(data.heatmap)}
    alert_charts = [plot_alert(p, i) for i, p in enumerate(data.panels)]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SentinelError(f"cannot create the report directory {out_dir}: {exc.strerror}; "
                            "pass another --out") from None
    drawn = [c for c in charts.values() if c is not None] + alert_charts
    for chart in drawn:
        (out_dir / f"{chart.name}.svg").write_text(SVG_HEAD + chart.svg, encoding="utf-8")
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(data, charts, alert_charts, now or datetime.now(UTC)),
                         encoding="utf-8")
    return Report(html_path=html_path, chart_paths=[out_dir / f"{c.name}.svg" for c in drawn])
