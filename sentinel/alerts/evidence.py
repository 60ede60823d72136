"""What a notification says, gathered when it is queued: numbers, trend, headlines, SQL.

The result is plain JSON (stored in ``alert_delivery.payload``), independent of where it is sent:
``slack.py`` renders it as Block Kit, ``render_text`` as the plain text printed without Slack.
Feed text (titles, feed names, URLs) is untrusted and kept as data here; every renderer escapes.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

SPARK = "▁▂▃▄▅▆▇█"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def clean(text: Any, limit: int = 300) -> str:
    """One line of untrusted text: control and bidi characters removed, length capped."""
    line = " ".join(_CONTROL.sub(" ", str(text or "")).split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def sparkline(values: list[float]) -> str:
    top = max(values, default=0)
    if top <= 0:
        return SPARK[0] * len(values)
    return "".join(SPARK[min(len(SPARK) - 1, round(v / top * (len(SPARK) - 1)))] for v in values)


def _segment_filter(kind: str) -> str:
    return {
        "all": "true",
        "topic": "c.topic = :value",
        "ticker": "a.tickers @> ARRAY[CAST(:value AS text)]",
        "source": "EXISTS (SELECT 1 FROM article_feed AS af2 JOIN feed AS f2 ON f2.id = "
                  "af2.feed_id WHERE af2.article_id = a.id AND f2.name = :value)",
    }[kind]


def top_headlines(conn: Connection, model_id: int, kind: str, value: str, start: datetime,
                  end: datetime, limit: int) -> list[dict[str, Any]]:
    """The most negative current headlines of a segment published in [start, end)."""
    if limit <= 0:
        return []
    rows = conn.execute(sa.text(f"""
        SELECT a.title, a.url, a.published_at, c.p_negative,
               coalesce((SELECT array_agg(f.name ORDER BY f.name) FROM article_feed AS af
                         JOIN feed AS f ON f.id = af.feed_id WHERE af.article_id = a.id),
                        '{{}}') AS feeds
        FROM article AS a
        JOIN classification AS c ON c.article_id = a.id AND c.model_id = :model_id
            AND c.content_hash = a.content_hash AND c.sentiment = 'negative'
        WHERE a.published_at >= :start AND a.published_at < :end AND {_segment_filter(kind)}
        ORDER BY c.p_negative DESC NULLS LAST, a.published_at DESC, a.id
        LIMIT :limit
    """), {"model_id": model_id, "value": value, "start": start, "end": end, "limit": limit})
    return [{"title": clean(r.title), "url": r.url, "published_at": r.published_at.isoformat(),
             "p_negative": r.p_negative, "feeds": [clean(f, 100) for f in r.feeds]}
            for r in rows]


def _quote(value: str) -> str:
    return "'" + clean(value, 200).replace("'", "''") + "'"


def analyst_sql(kind: str, value: str, start: datetime, end: datetime) -> str:
    """The query an analyst runs for the detail behind an alert (analyst view v_article_current)."""
    where = {
        "all": None,
        "topic": f"topic = {_quote(value)}",
        "ticker": f"tickers @> ARRAY[{_quote(value)}]",
        "source": f"feeds @> ARRAY[{_quote(value)}]",
    }[kind]
    lines = ["SELECT published_at, sentiment, p_negative, topic, tickers, feeds, title, url",
             "FROM v_article_current",
             f"WHERE published_at >= '{start.isoformat()}' AND published_at < '{end.isoformat()}'"]
    if where:
        lines.append(f"  AND {where}")
    lines.append("ORDER BY p_negative DESC NULLS LAST, published_at DESC;")
    return "\n".join(lines)


def times(ratio: float) -> str:
    """Observed / expected for people: x2.4, x37, or x100+ when next to nothing was expected."""
    return f"x{ratio:.1f}" if ratio < 10 else f"x{ratio:.0f}" if ratio < 100 else "x100+"


def segment_label(kind: str, value: str) -> str:
    return "all news" if kind == "all" else f"{kind} {clean(value, 100)}"


def _when(iso: str, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    return datetime.fromisoformat(iso).strftime(fmt)


def render_text(payload: dict[str, Any]) -> str:
    """The notification as plain text: what is printed (and stored) when Slack is not
    configured. Slack messages carry their own fallback text (``slack.build_message``)."""
    label = segment_label(payload["segment_kind"], payload["segment_value"])
    if payload["kind"] == "resolved":
        return (f"RESOLVED: negative news in {label} is back to normal "
                f"(quiet for {payload['quiet_buckets']} buckets). Open since "
                f"{_when(payload['started_at'])}, peak {payload['peak_observed']:g} negative "
                f"vs {payload['peak_expected']:.1f} expected.")
    head = "STILL FIRING" if payload["kind"] == "repeat" else "ALERT"
    lines = [f"{head}: negative news spike in {label} "
             f"({_when(payload['window_start'])} to {_when(payload['window_end'])}"
             + (f", {payload['fraction']:.0%} elapsed" if payload["fraction"] < 1 else "") + ")",
             f"  negative articles: {payload['observed']:g} observed vs "
             f"{payload['expected']:.1f} expected ({times(payload['ratio'])}, "
             f"z={payload['z']:.1f})"]
    if payload.get("negative_share") is not None:
        usual = payload.get("expected_share")
        lines.append(f"  negative share: {payload['negative_share']:.0%} of "
                     f"{payload['total']:g} articles"
                     + (f" vs {usual:.0%} usually" if usual is not None else ""))
    lines.append(f"  trend (negatives per bucket, last {len(payload['trend'])}): "
                 f"{sparkline(payload['trend'])}  max {max(payload['trend'], default=0):g}")
    if payload["headlines"]:
        lines.append("  top negative headlines:")
        for h in payload["headlines"]:
            lines.append(f"    - {h['title']} ({', '.join(h['feeds']) or 'unknown source'}, "
                         f"{_when(h['published_at'])}) {clean(h['url'] or '', 500)}")
    lines.append("  detail (SQL):")
    lines += [f"    {line}" for line in payload["sql"].splitlines()]
    return "\n".join(lines)
