"""What the report shows, read from the analyst views for one period [since, until)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

BASELINE_DAYS = 7  # expected = median of the same hour on this many previous days
HEADLINES = 20


@dataclass(frozen=True)
class Segment:
    kind: str
    value: str

    @property
    def label(self) -> str:
        return "all news" if self.kind == "all" else f"{self.kind}: {self.value}"


@dataclass
class ReportData:
    since: datetime
    until: datetime
    totals: dict[str, int] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    hourly: pd.DataFrame = field(default_factory=pd.DataFrame)  # index hour, per segment
    alerts: list[dict[str, Any]] = field(default_factory=list)
    heatmap: pd.DataFrame = field(default_factory=pd.DataFrame)  # topic x sentiment counts
    headlines: list[dict[str, Any]] = field(default_factory=list)
    feeds: list[dict[str, Any]] = field(default_factory=list)


def _rows(conn: Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]


def read_totals(conn: Connection, since: datetime, until: datetime) -> dict[str, int]:
    row = _rows(conn, """
        SELECT count(*) AS articles, count(sentiment) AS classified,
               count(*) FILTER (WHERE sentiment = 'negative') AS negative
        FROM v_article_current WHERE published_at >= :since AND published_at < :until""",
                since=since, until=until)[0]
    return {key: int(value) for key, value in row.items()}


def read_alerts(conn: Connection, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Alerts open at any time during the period, newest first."""
    return _rows(conn, """
        SELECT * FROM v_alert_history
        WHERE started_at < :until AND coalesce(resolved_at, 'infinity') >= :since
        ORDER BY started_at DESC, alert_id""", since=since, until=until)


def choose_segments(conn: Connection, since: datetime, until: datetime,
                    alerts: list[dict[str, Any]], top: int) -> list[Segment]:
    """All news, then segments that alerted (highest ratio first), then the most negative."""
    chosen = [Segment("all", "all")]
    ranked = sorted(alerts, key=lambda a: -(a["ratio"] or float("inf")))
    candidates = [Segment(a["segment_kind"], a["segment_value"]) for a in ranked]
    candidates += [Segment(kind, value) for kind, value in conn.execute(sa.text("""
        SELECT segment_kind, segment_value FROM v_sentiment_hourly
        WHERE bucket_start >= :since AND bucket_start < :until AND segment_kind <> 'all'
        GROUP BY 1, 2 HAVING sum(negative) > 0
        ORDER BY sum(negative) DESC, sum(articles) DESC, 1, 2 LIMIT :top"""),
        {"since": since, "until": until, "top": top})]
    for segment in candidates:
        if segment not in chosen and len(chosen) < top + 1:
            chosen.append(segment)
    return chosen


def read_hourly(conn: Connection, segments: list[Segment], since: datetime,
                until: datetime) -> pd.DataFrame:
    """Negative articles per hour and segment, zero-filled, with the expected level.

    Columns are (segment label, 'negative' | 'expected'). Expected is the median of the same
    hour on the previous BASELINE_DAYS days, a simple seasonal baseline for reading the chart;
    the detector's own expectation is stored on each alert and drawn as a marker.
    """
    start = since.replace(minute=0, second=0, microsecond=0) - timedelta(days=BASELINE_DAYS)
    hours = pd.date_range(start, until, freq="h", inclusive="left", tz="UTC")
    counts: dict[tuple[str, str], dict[datetime, int]] = {(s.kind, s.value): {} for s in segments}
    for kind, value, bucket, negative in conn.execute(sa.text("""
            SELECT segment_kind, segment_value, bucket_start, negative FROM v_sentiment_hourly
            WHERE bucket_start >= :start AND bucket_start < :until
              AND (segment_kind, segment_value) IN (
                  SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:values AS text[])))"""),
            {"start": start, "until": until, "kinds": [s.kind for s in segments],
             "values": [s.value for s in segments]}):
        counts[(kind, value)][bucket] = negative  # one scan of the view for every segment
    columns: dict[tuple[str, str], pd.Series] = {}
    for segment in segments:
        series = counts[(segment.kind, segment.value)]
        observed = pd.Series(list(series.values()), dtype=float,
                             index=pd.to_datetime(list(series), utc=True))
        negative = observed.reindex(hours, fill_value=0.0)
        previous = pd.concat([negative.shift(24 * day) for day in range(1, BASELINE_DAYS + 1)],
                             axis=1)
        columns[(segment.label, "negative")] = negative
        columns[(segment.label, "expected")] = previous.median(axis=1)
    frame = pd.DataFrame(columns, index=hours)
    return frame[frame.index >= pd.Timestamp(since).floor("h")]


def read_heatmap(conn: Connection, since: datetime, until: datetime) -> pd.DataFrame:
    rows = conn.execute(sa.text("""
        SELECT topic, sentiment, count(*) FROM v_article_current
        WHERE published_at >= :since AND published_at < :until AND sentiment IS NOT NULL
        GROUP BY 1, 2"""), {"since": since, "until": until}).all()
    frame = pd.DataFrame(rows, columns=["topic", "sentiment", "n"])
    table = frame.pivot_table(index="topic", columns="sentiment", values="n", aggfunc="sum",
                              fill_value=0)
    table = table.reindex(columns=["negative", "neutral", "positive"], fill_value=0)
    order = pd.DataFrame({"share": table["negative"] / table.sum(axis=1),
                          "total": table.sum(axis=1)}).sort_values(["share", "total"],
                                                                   ascending=False, kind="stable")
    return table.loc[order.index].astype(int)  # most negative topic first


def read_headlines(conn: Connection, since: datetime, until: datetime) -> list[dict[str, Any]]:
    return _rows(conn, """
        SELECT article_id, published_at, title, url, feeds, tickers, topic, p_negative
        FROM v_article_current
        WHERE published_at >= :since AND published_at < :until AND sentiment = 'negative'
        ORDER BY p_negative DESC, published_at DESC, article_id LIMIT :n""",
                 since=since, until=until, n=HEADLINES)


def read_feeds(conn: Connection, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Each feed's state now (v_feed_health) and what its fetches did during the period."""
    return _rows(conn, """
        SELECT h.feed_name, h.url, h.status, h.consecutive_failures, h.last_success_at,
               h.last_error, p.fetches, p.failed, p.new
        FROM v_feed_health AS h
        CROSS JOIN LATERAL (
            SELECT count(*) AS fetches, count(*) FILTER (WHERE ff.error IS NOT NULL) AS failed,
                   coalesce(sum(ff.new), 0) AS new
            FROM feed_fetch AS ff
            WHERE ff.feed_id = h.feed_id AND ff.fetched_at >= :since AND ff.fetched_at < :until
        ) AS p
        ORDER BY (h.status = 'ok'), h.consecutive_failures DESC, h.feed_name""",
                 since=since, until=until)


def collect_report_data(engine: Engine, since: datetime, until: datetime, *,
                        top_segments: int = 5) -> ReportData:
    """Everything the report shows, read in one repeatable-read transaction."""
    data = ReportData(since=since, until=until)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        data.totals = read_totals(conn, since, until)
        data.alerts = read_alerts(conn, since, until)
        data.segments = choose_segments(conn, since, until, data.alerts, top_segments)
        data.hourly = read_hourly(conn, data.segments, since, until)
        data.heatmap = read_heatmap(conn, since, until)
        data.headlines = read_headlines(conn, since, until)
        data.feeds = read_feeds(conn, since, until)
    return data
