"""The self-contained HTML report: charts embedded as data URIs, every feed-supplied string escaped.

Feed content is hostile: titles, URLs, feed names and errors are escaped with
:func:`html.escape`, only http(s) URLs become links, and a Content-Security-Policy forbids
scripts and any fetch, so the file renders offline and cannot run anything it carries.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine

from sentinel.errors import SentinelError
from sentinel.report.charts import plot_negative_volume, plot_topic_sentiment
from sentinel.report.data import BASELINE_DAYS, ReportData, collect_report_data
from sentinel.status import format_when

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
CONTROL = re.compile(r"[\x00-\x20\x7f]")
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1f2933; background: #f5f7fa; }
main { max-width: 1160px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { margin: 0 0 4px; font-size: 26px; }
h2 { margin: 32px 0 10px; font-size: 19px; border-bottom: 2px solid #d9e2ec; padding-bottom: 4px; }
.period { color: #52606d; margin: 0 0 16px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; }
.card { background: white; border-radius: 8px; padding: 12px 18px; min-width: 130px;
        box-shadow: 0 1px 3px rgba(0,0,0,.12); }
.card .n { font-size: 24px; font-weight: 600; } .card .k { color: #52606d; font-size: 13px; }
figure { margin: 0; background: white; border-radius: 8px; padding: 8px;
         box-shadow: 0 1px 3px rgba(0,0,0,.12); }
figure img { max-width: 100%; display: block; margin: 0 auto; }
figcaption { color: #52606d; font-size: 13px; padding: 6px 4px 0; }
table { border-collapse: collapse; width: 100%; background: white; font-size: 14px;
        box-shadow: 0 1px 3px rgba(0,0,0,.12); border-radius: 8px; overflow: hidden; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e4e7eb;
         vertical-align: top; }
th { background: #e4e7eb; font-weight: 600; } td.num { text-align: right; }
ol.headlines { background: white; border-radius: 8px; padding: 12px 12px 12px 44px;
               box-shadow: 0 1px 3px rgba(0,0,0,.12); margin: 0; }
ol.headlines li { margin: 0 0 10px; } .meta { color: #52606d; font-size: 13px; }
.status-ok { color: #1e7e34; font-weight: 600; }
.status-failing, .status-firing { color: #c0392b; font-weight: 600; }
.status-pending { color: #b7791f; font-weight: 600; } .muted { color: #7b8794; }
a { color: #1d4ed8; }
"""


@dataclass
class Report:
    html_path: Path
    png_paths: list[Path]


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


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def section_summary(data: ReportData) -> str:
    totals = data.totals
    share = totals["negative"] / totals["classified"] if totals["classified"] else None
    cards = [("articles", totals["articles"]), ("classified", totals["classified"]),
             ("negative", totals["negative"]),
             ("negative share", f"{share:.0%}" if share is not None else "–"),
             ("alerts", len(data.alerts))]
    items = "".join(f'<div class="card"><div class="n">{esc(n)}</div><div class="k">{esc(k)}'
                    f"</div></div>" for k, n in cards)
    waiting = totals["articles"] - totals["classified"]
    note = (f'<p class="muted">{waiting} of these articles have no classification by the active '
            "model yet (new, edited, or no model installed); the charts count classified "
            "articles only.</p>" if waiting else "")
    return f'<section id="summary"><div class="cards">{items}</div>{note}</section>'


def section_alerts(data: ReportData) -> str:
    if not data.alerts:
        return ('<section id="alerts"><h2>Alerts</h2><p class="muted">No alert was open '
                "during this period.</p></section>")
    rows = []
    for a in data.alerts:
        headlines = "<br>".join(esc(t) for t in a["top_headlines"][:3]) or \
            '<span class="muted">none classified negative</span>'
        rows.append(
            f'<tr><td>{esc(a["dedup_key"])}</td>'
            f'<td class="status-{esc(a["state"])}">{esc(a["state"])}</td>'
            f'<td>{esc(format_when(a["started_at"]))}</td>'
            f'<td>{esc(format_when(a["resolved_at"]) if a["resolved_at"] else "open")}</td>'
            f'<td class="num">{a["observed"]:g} vs {a["expected"]:.1f}</td>'
            f"<td>{headlines}</td></tr>")
    return ('<section id="alerts"><h2>Alerts</h2><table><thead><tr><th>Segment</th>'
            "<th>State</th><th>Started</th><th>Resolved</th><th>Negative: observed vs "
            "expected</th><th>Top headlines</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></section>")


def section_figure(section_id: str, title: str, png: bytes, alt: str, caption: str) -> str:
    return (f'<section id="{section_id}"><h2>{esc(title)}</h2><figure>'
            f'<img src="{data_uri(png)}" alt="{esc(alt)}"><figcaption>{caption}</figcaption>'
            "</figure></section>")


def section_headlines(data: ReportData) -> str:
    if not data.headlines:
        return ('<section id="headlines"><h2>Most negative headlines</h2><p class="muted">'
                "No article in this period is classified negative.</p></section>")
    items = []
    for h in data.headlines:
        meta = " · ".join(part for part in (
            ", ".join(h["feeds"]), ", ".join(h["tickers"]), h["topic"] or "",
            f"p(negative) {h['p_negative']:.2f}", format_when(h["published_at"])) if part)
        items.append(f'<li>{link(h["title"], h["url"])}<div class="meta">{esc(meta)}</div></li>')
    return ('<section id="headlines"><h2>Most negative headlines</h2><ol class="headlines">'
            + "".join(items) + "</ol></section>")


def section_feeds(data: ReportData) -> str:
    rows = []
    for f in data.feeds:
        rows.append(
            f'<tr><td>{esc(f["feed_name"])}</td>'
            f'<td class="status-{esc(f["status"]).replace(" ", "-")}">{esc(f["status"])}</td>'
            f'<td class="num">{f["consecutive_failures"]}</td>'
            f'<td>{esc(format_when(f["last_success_at"]))}</td>'
            f'<td class="num">{f["fetches"]}</td><td class="num">{f["failed"]}</td>'
            f'<td class="num">{f["new"]}</td><td>{esc(f["last_error"] or "")}</td></tr>')
    body = "".join(rows) or '<tr><td colspan="8" class="muted">No feeds configured.</td></tr>'
    return ('<section id="feed-health"><h2>Feed health</h2><table><thead><tr><th>Feed</th>'
            "<th>Status now</th><th>Failures in a row</th><th>Last success</th>"
            "<th>Fetches</th><th>Failed</th><th>New articles</th><th>Last error</th></tr>"
            "</thead><tbody>" + body + "</tbody></table></section>")


def render_html(data: ReportData, volume_png: bytes, heatmap_png: bytes,
                generated_at: datetime) -> str:
    period = f"{format_when(data.since)} to {format_when(data.until)}"
    volume_caption = (
        "Bars: negative articles per hour. Dashed line: expected, the median of the same hour "
        f"on the previous {BASELINE_DAYS} days (a reading aid, not the detector's baseline). "
        "Shaded: time an alert was open; triangle and circle: the observed and expected "
        "negative counts the detector stored on the alert.")
    heatmap_caption = ("Each row is a topic: how many of its classified articles had each "
                       "sentiment, and what share; the darker the cell, the larger the share.")
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Sentinel report, {esc(period)}</title><style>{STYLE}</style></head>",
        "<body><main>", "<h1>Sentinel news sentiment report</h1>",
        f'<p class="period">{esc(period)} · generated {esc(format_when(generated_at))}</p>',
        section_summary(data), section_alerts(data),
        section_figure("negative-volume", "Negative volume vs expected", volume_png,
                       "Negative articles per hour against the expected level for "
                       + ", ".join(s.label for s in data.segments), volume_caption),
        section_figure("topic-sentiment", "Topics by sentiment", heatmap_png,
                       "Heatmap of topics against sentiment", heatmap_caption),
        section_headlines(data), section_feeds(data),
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(engine: Engine, since: datetime, until: datetime, out_dir: Path, *,
                 top_segments: int = 5, now: datetime | None = None) -> Report:
    """Write ``report.html`` (self-contained) and its charts as PNG files into ``out_dir``."""
    for name, value in (("since", since), ("until", until)):
        if value.tzinfo is None:
            raise SentinelError(f"report {name} must be timezone-aware, got {value.isoformat()}; "
                                "add a UTC offset such as +00:00")
    if since >= until:
        raise SentinelError(f"report period is empty: since {since.isoformat()} is not before "
                            f"until {until.isoformat()}; pass an earlier --since")
    data = collect_report_data(engine, since, until, top_segments=top_segments)
    volume, heatmap = plot_negative_volume(data), plot_topic_sentiment(data.heatmap)
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = {"negative_volume.png": volume, "topic_sentiment.png": heatmap}
    for name, png in pngs.items():
        (out_dir / name).write_bytes(png)
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(data, volume, heatmap, now or datetime.now(UTC)),
                         encoding="utf-8")
    return Report(html_path=html_path, png_paths=[out_dir / name for name in pngs])
