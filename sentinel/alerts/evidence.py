"""What a notification says, gathered when it is queued: numbers, window, headlines, SQL.

One alert, one time range: :class:`Window` is the bucket the detector judged (UTC), cut at the
data interval's end while that bucket is still filling, exactly the articles the detector
counted. :func:`gather_evidence` builds the SQL an analyst is handed for that window and runs
*that very text*: the headlines quoted are its first negative rows, so whoever pastes the query
gets the rows the alert counted and quoted, most negative first.

The result is plain JSON (stored in ``alert_delivery.payload``), independent of where it is
shown: ``slack.py`` renders it as Block Kit, :func:`render_text` as the plain text printed
without Slack, and the HTML report (``sentinel.report``) shows the same payload. The phrases
they share (:func:`window_text`, :func:`counts_text`, :func:`share_text`,
:func:`headline_meta`) are defined once, here. Feed text (titles, feed names, URLs) is untrusted
and kept as data here; every renderer escapes.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

SPARK = "▁▂▃▄▅▆▇█"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SQL_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\\]")


def clean(text: Any, limit: int = 300) -> str:
    """One line of untrusted text: control and bidi characters removed, length capped."""
    line = " ".join(_CONTROL.sub(" ", str(text or "")).split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def sparkline(values: list[float]) -> str:
    top = max(values, default=0)
    if top <= 0:
        return SPARK[0] * len(values)
    return "".join(SPARK[min(len(SPARK) - 1, round(v / top * (len(SPARK) - 1)))] for v in values)


@dataclass(frozen=True)
class Window:
    """The range an alert's numbers, headlines and SQL cover: ``[start, end)`` in UTC.

    ``start`` is the start of the judged window (its bucket, or the first of the buckets summed
    over an hour or six); ``end`` is its end, or the data interval's end when the last bucket was
    still filling (the detector counted the articles published before it).
    """

    start: datetime
    end: datetime
    bucket_minutes: int

    @classmethod
    def of_bucket(cls, bucket_start: datetime, bucket_minutes: int, now: datetime) -> Window:
        return cls.of_buckets(bucket_start, bucket_start, bucket_minutes, now)

    @classmethod
    def of_buckets(cls, first: datetime, last: datetime, bucket_minutes: int,
                   now: datetime) -> Window:
        """The buckets from ``first`` to ``last`` (a window the detector judged as one)."""
        end = min(last + timedelta(minutes=bucket_minutes), now)
        return cls(first.astimezone(UTC), end.astimezone(UTC), bucket_minutes)

    def text(self) -> str:
        return describe_window(self.start, self.end, self.bucket_minutes)


def describe_window(start: datetime, end: datetime, bucket_minutes: int) -> str:
    """The window as every renderer states it: ``2026-12-01 23:00 to 2026-12-02 00:00 UTC``;
    a bucket still filling adds how much of it had passed."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    same_day = end.date() == start.date()
    text = f"{start:%Y-%m-%d %H:%M} to {end:%H:%M}" if same_day else \
        f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}"
    text += " UTC"
    into_last = (end - start) / timedelta(minutes=1) % bucket_minutes
    if into_last:
        text += f" (bucket still open: {into_last:.0f} of {bucket_minutes} minutes)"
    return text


def window_text(payload: dict[str, Any]) -> str:
    return describe_window(datetime.fromisoformat(payload["window_start"]),
                           datetime.fromisoformat(payload["window_end"]),
                           int(payload.get("bucket_minutes") or 60))


def times(ratio: float) -> str:
    """Observed / expected for people: x2.4, x37, or x100+ when next to nothing was expected."""
    return f"x{ratio:.1f}" if ratio < 10 else f"x{ratio:.0f}" if ratio < 100 else "x100+"


def counts_text(payload: dict[str, Any]) -> str:
    """``12 negative stories observed vs 0.4 expected (x30, z=8.1)``."""
    observed = payload["observed"]
    noun = "story" if observed == 1 else "stories"
    z = f", z={payload['z']:.1f}" if payload.get("z") is not None else ""
    return (f"{observed:g} negative {noun} observed vs {payload['expected']:.1f} expected "
            f"({times(payload['ratio'])}{z})")


def share_text(payload: dict[str, Any]) -> str | None:
    """``80% of 15 classified articles negative (usually 21%)``, or None without a share."""
    if payload.get("negative_share") is None:
        return None
    usual = payload.get("expected_share")
    return (f"{payload['negative_share']:.0%} of {payload['total']:g} classified articles "
            "negative" + (f" (usually {usual:.0%})" if usual is not None else ""))


def headline_meta(headline: dict[str, Any]) -> str:
    """``ledger-wire, 23:05 UTC, p(negative) 0.99``: where and when a quoted story ran."""
    sources = ", ".join(clean(f, 60) for f in headline.get("feeds") or []) or "unknown source"
    text = f"{sources}, {_when(headline['published_at'], '%H:%M UTC')}"
    if headline.get("p_negative") is not None:
        text += f", p(negative) {headline['p_negative']:.2f}"
    return text


def _quote(value: str) -> str:
    """An SQL string literal that matches ``value`` exactly and prints safely: plain quotes,
    or a ``U&'...'`` literal with the unprintable characters (and backslashes) escaped."""
    quoted = value.replace("'", "''")
    if not _SQL_UNSAFE.search(quoted):
        return f"'{quoted}'"
    escaped = _SQL_UNSAFE.sub(lambda m: "\\" + (f"{ord(m.group()):04X}" if m.group() != "\\"
                                                  else "\\"), quoted)
    return f"U&'{escaped}'"


def _timestamp(when: datetime) -> str:
    return f"'{when.astimezone(UTC):%Y-%m-%d %H:%M:%S}+00'"


def analyst_sql(kind: str, value: str, window: Window) -> str:
    """Every classified article of the segment in the window, most negative first (analyst view
    ``v_article_current``): the rows with ``sentiment = 'negative'`` are the ones counted."""
    segment = {
        "all": None,
        "topic": f"topic = {_quote(value)}",
        "ticker": f"tickers @> ARRAY[{_quote(value)}]",
        "source": f"feeds @> ARRAY[{_quote(value)}]",
    }[kind]
    lines = ["SELECT article_id, published_at, sentiment, p_negative, topic, tickers, feeds, "
             "title, url",
             "FROM v_article_current",
             f"WHERE published_at >= {_timestamp(window.start)} "
             f"AND published_at < {_timestamp(window.end)}",
             "  AND sentiment IS NOT NULL"]
    if segment:
        lines.append(f"  AND {segment}")
    lines.append("ORDER BY p_negative DESC NULLS LAST, published_at DESC, article_id;")
    return "\n".join(lines)


@dataclass(frozen=True)
class Evidence:
    window: Window
    sql: str
    articles: int              # rows the SQL returns (classified articles of the segment)
    negative: int              # of which negative: what the detector counted as observed
    headlines: list[dict[str, Any]]

    def payload(self) -> dict[str, Any]:
        """The payload fields that describe the evidence (JSON-ready)."""
        return {"window_start": self.window.start.isoformat(),
                "window_end": self.window.end.isoformat(),
                "articles": self.articles, "negative": self.negative,
                "headlines": self.headlines, "sql": self.sql}


def run_as_handed_out(conn: Connection, sql: str) -> list[dict[str, Any]]:
    """Rows of an SQL text exactly as psql would run it: straight to the driver's cursor with
    no parameters, so a ``%`` or ``:name`` inside a literal is just text."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        cursor.close()


def gather_evidence(conn: Connection, kind: str, value: str, window: Window,
                    limit: int) -> Evidence:
    """Run the analyst SQL for this segment and window; the headlines are its first ``limit``
    negative rows. The text is executed as handed out (no bind parameters, nothing rewritten)."""
    sql = analyst_sql(kind, value, window)
    articles, negative = 0, 0
    headlines: list[dict[str, Any]] = []
    for row in run_as_handed_out(conn, sql):
        articles += 1
        if row["sentiment"] != "negative":
            continue
        negative += 1
        if len(headlines) < limit:
            headlines.append({
                "article_id": row["article_id"], "title": clean(row["title"]), "url": row["url"],
                "published_at": row["published_at"].astimezone(UTC).isoformat(),
                "p_negative": row["p_negative"], "feeds": [clean(f, 100) for f in row["feeds"]]})
    return Evidence(window=window, sql=sql, articles=articles, negative=negative,
                    headlines=headlines)


def segment_label(kind: str, value: str) -> str:
    return "all news" if kind == "all" else f"{kind} {clean(value, 100)}"


def _when(iso: str, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    return datetime.fromisoformat(iso).astimezone(UTC).strftime(fmt)


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
    lines = [f"{head}: negative news spike in {label}",
             f"  window: {window_text(payload)}",
             f"  {counts_text(payload)}"]
    share = share_text(payload)
    if share:
        lines.append(f"  {share}")
    lines.append(f"  trend (negatives per bucket, last {len(payload['trend'])}): "
                 f"{sparkline(payload['trend'])}  max {max(payload['trend'], default=0):g}")
    if payload["headlines"]:
        lines.append("  top negative headlines:")
        for h in payload["headlines"]:
            lines.append(f"    - {h['title']} ({headline_meta(h)}) {clean(h['url'] or '', 500)}")
    lines.append("  detail (SQL, the same window):")
    lines += [f"    {line}" for line in payload["sql"].splitlines()]
    return "\n".join(lines)
