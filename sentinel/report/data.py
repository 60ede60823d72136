"""What the report shows, read from the analyst views for one period [since, until).

Everything is aggregated in SQL (per bucket, per topic, per feed; headlines with a LIMIT), so
memory follows the number of buckets drawn, never the number of articles, and a period is at
most a year long (``sentinel.report.period``). An alert's panel shows the evidence the
alert was notified with (its latest firing or repeat payload, the very numbers, window and
headlines of the Slack message); an alert never notified shows the same evidence read now.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sentinel.alerts.evidence import Window, gather_evidence
from sentinel.alerts.rollup import ORIGIN, bucket_floor

BASELINE_DAYS = 7     # expected = median of the same time of day on this many previous days
HEADLINES = 20        # other negative headlines listed
HALF_LIFE_HOURS = 24  # ranking of the other headlines: p(negative) x 0.5 ** (age / half-life)
ALERT_PANELS = 6      # alerts drawn as panels (open first, then the most recent)
ALERT_ROWS = 50       # alerts listed in the table
ZOOM = timedelta(hours=48)

# unsupported-language articles per feed name for [since, until); see collect_report_data
LanguageCounts = Callable[[Connection, datetime, datetime], Mapping[str, int]]


@dataclass(frozen=True)
class Segment:
    kind: str
    value: str

    @property
    def label(self) -> str:
        return "all news" if self.kind == "all" else f"{self.kind}: {self.value}"


@dataclass
class AlertPanel:
    alert: dict[str, Any]            # the v_alert_history row
    payload: dict[str, Any]          # the evidence: as notified, or read now
    notified: dict[str, Any] | None  # the delivery it came from (kind, status, created_at)
    series: pd.DataFrame             # 48 h of the alert's buckets: observed, expected, low, high

    @property
    def segment(self) -> Segment:
        return Segment(self.alert["segment_kind"], self.alert["segment_value"])


@dataclass
class ReportData:
    since: datetime
    until: datetime
    bucket: timedelta = timedelta(hours=1)  # of the overview
    totals: dict[str, int] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    panels: list[AlertPanel] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    overview: dict[Segment, pd.DataFrame] = field(default_factory=dict)
    heatmap: pd.DataFrame = field(default_factory=pd.DataFrame)  # topic x sentiment counts
    headlines: list[dict[str, Any]] = field(default_factory=list)
    feeds: list[dict[str, Any]] = field(default_factory=list)
    unsupported_language: Mapping[str, int] | None = None  # per feed name; None: not counted


def overview_bucket(since: datetime, until: datetime) -> timedelta:
    """Hours up to two weeks, quarter days up to three months, days beyond."""
    span = until - since
    return timedelta(hours=1 if span <= timedelta(days=14) else 6 if span <= timedelta(days=92)
                     else 24)


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
    """Alerts open at any time during the period: open ones first, then the latest resolved;
    among alerts of the same run, all news first, then the strongest."""
    return _rows(conn, """
        SELECT al.*, (a.details ->> 'bucket_minutes')::int AS bucket_minutes,
               count(*) OVER () AS alerts_in_period
        FROM v_alert_history AS al JOIN alert AS a ON a.id = al.alert_id
        WHERE al.started_at < :until AND coalesce(al.resolved_at, 'infinity') >= :since
        ORDER BY (al.state = 'resolved'),
                 coalesce(al.resolved_at, al.last_firing_at, al.started_at) DESC,
                 (al.segment_kind <> 'all'), al.score DESC NULLS LAST, al.alert_id DESC
        LIMIT :n""", since=since, until=until, n=ALERT_ROWS)


def read_negatives(conn: Connection, segments: list[Segment], width: timedelta,
                   start: datetime, end: datetime) -> dict[Segment, pd.Series]:
    """Negative articles per bucket (aligned like the detector's) and segment in [start, end),
    zero-filled; counted in SQL."""
    index = pd.date_range(bucket_floor(start, width), end, freq=width, inclusive="left")
    counts: dict[Segment, dict[datetime, int]] = {s: {} for s in segments}
    for kind, value, bucket, negative in conn.execute(sa.text("""
            SELECT segment_kind, segment_value, date_bin(:width, published_at, :origin),
                   count(*) FILTER (WHERE sentiment = 'negative')
            FROM v_article_segment
            WHERE published_at >= :start AND published_at < :end
              AND (segment_kind, segment_value) IN (
                  SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:values AS text[])))
            GROUP BY 1, 2, 3"""),
            {"width": width, "origin": ORIGIN, "start": index[0], "end": end,
             "kinds": [s.kind for s in segments], "values": [s.value for s in segments]}):
        counts[Segment(kind, value)][bucket.astimezone(UTC)] = negative
    return {s: pd.Series(c, dtype=float).reindex(index, fill_value=0.0) for s, c in counts.items()}


def with_expectation(observed: pd.Series, width: timedelta, since: datetime) -> pd.DataFrame:
    """Observed per bucket from ``since`` on, with the median (``expected``), lowest and highest
    count of the same time of day on the previous BASELINE_DAYS days (``observed`` must reach
    that far back). A reading aid, not the detector's baseline."""
    per_day = max(1, timedelta(days=1) // width)
    previous = np.stack([observed.shift(per_day * day).to_numpy()
                         for day in range(1, BASELINE_DAYS + 1)], axis=1)
    with np.errstate(all="ignore"):
        frame = pd.DataFrame({"observed": observed.to_numpy(),
                              "expected": np.median(previous, axis=1),
                              "low": previous.min(axis=1), "high": previous.max(axis=1)},
                             index=observed.index)
    return frame[frame.index >= bucket_floor(since, width)]


def choose_segments(conn: Connection, since: datetime, until: datetime,
                    alerts: list[dict[str, Any]], top: int) -> list[Segment]:
    """All news, then segments that alerted, then the most negative: at most ``top`` + 1."""
    chosen = [Segment("all", "all")]
    candidates = [Segment(a["segment_kind"], a["segment_value"]) for a in alerts]
    candidates += [Segment(kind, value) for kind, value in conn.execute(sa.text("""
        SELECT segment_kind, segment_value FROM v_sentiment_daily
        WHERE bucket_start >= :since AND bucket_start < :until AND segment_kind <> 'all'
        GROUP BY 1, 2 HAVING sum(negative) > 0
        ORDER BY sum(negative) DESC, sum(articles) DESC, 1, 2 LIMIT :top"""),
        {"since": since - timedelta(days=1), "until": until, "top": top})]
    for segment in candidates:
        if segment not in chosen and len(chosen) < top + 1:
            chosen.append(segment)
    return chosen


def read_overview(conn: Connection, segments: list[Segment], width: timedelta, since: datetime,
                  until: datetime) -> dict[Segment, pd.DataFrame]:
    start = since - timedelta(days=BASELINE_DAYS)
    series = read_negatives(conn, segments, width, start, until)
    return {s: with_expectation(series[s], width, since) for s in segments}


def _notified_payloads(conn: Connection, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each alert's latest firing or repeat notification: what it told people."""
    rows = _rows(conn, """
        SELECT DISTINCT ON (alert_id) alert_id, kind, status, created_at, payload
        FROM alert_delivery
        WHERE alert_id = ANY(:ids) AND kind IN ('firing', 'repeat') AND payload ? 'window_start'
        ORDER BY alert_id, created_at DESC, id DESC""", ids=ids)
    return {r["alert_id"]: r for r in rows}


def _evidence_now(conn: Connection, alert: dict[str, Any]) -> dict[str, Any]:
    """An alert never notified (pending): its latest judged bucket's evidence, read now."""
    minutes = alert["bucket_minutes"] or int(
        (alert["window_end"] - alert["window_start"]).total_seconds() // 60) or 60
    window = Window.of_bucket(alert["window_start"], minutes, alert["window_end"])
    evidence = gather_evidence(conn, alert["segment_kind"], alert["segment_value"], window, 5)
    return {**evidence.payload(), "kind": "firing", "segment_kind": alert["segment_kind"],
            "segment_value": alert["segment_value"], "bucket_minutes": minutes,
            "observed": alert["observed"], "expected": alert["expected"],
            "ratio": alert["ratio"] if alert["ratio"] is not None else 999.0, "z": None,
            "total": evidence.articles, "negative_share": alert["negative_share"],
            "expected_share": alert["expected_share"]}


def read_panels(conn: Connection, alerts: list[dict[str, Any]],
                until: datetime) -> list[AlertPanel]:
    shown = alerts[:ALERT_PANELS]
    notified = _notified_payloads(conn, [a["alert_id"] for a in shown])
    panels = []
    for alert in shown:
        delivery = notified.get(alert["alert_id"])
        payload = delivery.pop("payload") if delivery else _evidence_now(conn, alert)
        window_start = datetime.fromisoformat(payload["window_start"])
        width = timedelta(minutes=int(payload.get("bucket_minutes") or 60))
        end = min(window_start + timedelta(hours=12), max(until, window_start + width))
        end = bucket_floor(end - timedelta(microseconds=1), width) + width
        segment = Segment(alert["segment_kind"], alert["segment_value"])
        start = end - ZOOM - timedelta(days=BASELINE_DAYS)
        series = read_negatives(conn, [segment], width, start, end)[segment]
        panels.append(AlertPanel(alert=alert, payload=payload, notified=delivery,
                                 series=with_expectation(series, width, end - ZOOM)))
    return panels


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


def read_headlines(conn: Connection, since: datetime, until: datetime,
                   exclude: list[int]) -> list[dict[str, Any]]:
    """Negative headlines not shown under an alert, ranked by p(negative) x recency (half the
    weight per HALF_LIFE_HOURS before the end of the period)."""
    return _rows(conn, """
        SELECT article_id, published_at, title, url, feeds, tickers, topic, p_negative
        FROM v_article_current
        WHERE published_at >= :since AND published_at < :until AND sentiment = 'negative'
          AND NOT article_id = ANY(CAST(:exclude AS bigint[]))
        ORDER BY p_negative * power(0.5, extract(epoch FROM CAST(:until AS timestamptz)
                                                          - published_at)
                                         / (3600.0 * :half_life)) DESC,
                 published_at DESC, article_id
        LIMIT :n""", since=since, until=until, exclude=exclude, half_life=HALF_LIFE_HOURS,
                 n=HEADLINES)


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
                        top_segments: int = 2,
                        language_counts: LanguageCounts | None = None) -> ReportData:
    """Everything the report shows, read in one repeatable-read transaction.

    ``language_counts`` (optional) returns the articles per feed name that were not classified
    because their language is not supported; without it the report shows no such column.
    """
    data = ReportData(since=since, until=until, bucket=overview_bucket(since, until))
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        data.totals = read_totals(conn, since, until)
        data.alerts = read_alerts(conn, since, until)
        data.panels = read_panels(conn, data.alerts, until)
        data.segments = choose_segments(conn, since, until, data.alerts, top_segments)
        data.overview = read_overview(conn, data.segments, data.bucket, since, until)
        data.heatmap = read_heatmap(conn, since, until)
        quoted = [h["article_id"] for p in data.panels for h in p.payload.get("headlines", [])
                  if h.get("article_id") is not None]
        data.headlines = read_headlines(conn, since, until, quoted)
        data.feeds = read_feeds(conn, since, until)
        if language_counts is not None:
            data.unsupported_language = dict(language_counts(conn, since, until))
    return data
