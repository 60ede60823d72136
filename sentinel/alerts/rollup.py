"""Negative and total counts per bucket and segment, maintained incrementally.

What is counted is each article's *current* classification: the row of the active model whose
``content_hash`` equals the article's, with a sentiment. An article counts in its bucket
(``published_at``) once in each of its segments: ``all``, its topic, each of its tickers, and each
feed that carried it (``source``, by feed name).

Rollups are keyed by model, so classifying history with another model (a backfill, an
evaluation) never touches the active model's counts; switching the active model builds its
rollups once. A run recomputes only the buckets of articles that changed since the previous run:
newly written classifications of the active model, edited articles (``updated_at``: a new text
makes the old classification stale), and new article-feed links.

How "since the previous run" is found, so that a run's cost follows what changed and a rerun
without changes recomputes nothing, yet no late commit is ever missed:

* Each run records, before it reads anything, a *horizon* and the transaction *snapshot*
  (``pg_current_snapshot()``). The horizon is a time no row still uncommitted then can be
  stamped before: the start of the oldest open transaction (``pg_stat_activity``, read in an
  earlier statement than the snapshot), and at most ``now - OVERLAP`` (for sessions of other
  roles, which ``pg_stat_activity`` does not show: those are assumed to write in transactions
  shorter than ``OVERLAP``).
* The next run reads the rows stamped at or after that horizon (an index range on each
  timestamp) and keeps those whose writing transaction (``xmin``) is *not* visible in that
  snapshot: exactly what committed after the previous run looked, including a transaction
  that started long before and committed late. Rows the previous run already saw are skipped,
  so an unchanged database recomputes no bucket.

Writers keep the contract by stamping those columns with their transaction's time (``now()``):
the classifier sets ``classification.created_at = now()`` whenever it writes a row (also when it
replaces one).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)  # buckets line up with UTC midnight (as the v_* views)
OVERLAP = timedelta(minutes=15)
NEVER = datetime(1970, 1, 1, tzinfo=UTC)

Segment = tuple[str, str]  # (segment_kind, segment_value)

# The current classification of every article in the range, once per segment: set-based
# (one pass per segment kind), not a per-article lateral join, so a full build stays linear.
_SEGMENT_ROWS = """
    WITH cur AS (
        SELECT a.id, date_bin(:width, a.published_at, :origin) AS bucket_start, a.tickers,
               c.topic, (c.sentiment = 'negative') AS negative
        FROM article AS a
        JOIN classification AS c
            ON c.article_id = a.id AND c.model_id = :model_id AND c.content_hash = a.content_hash
        WHERE c.sentiment IS NOT NULL AND {where}
    )
    SELECT bucket_start, 'all'::text AS kind, 'all'::text AS value, negative FROM cur
    UNION ALL
    SELECT bucket_start, 'topic', topic, negative FROM cur WHERE topic IS NOT NULL
    UNION ALL
    SELECT bucket_start, 'ticker', t.ticker, negative
    FROM cur CROSS JOIN LATERAL (SELECT DISTINCT unnest(cur.tickers)) AS t (ticker)
    UNION ALL
    SELECT bucket_start, 'source', f.name, negative
    FROM cur JOIN article_feed AS af ON af.article_id = cur.id JOIN feed AS f ON f.id = af.feed_id
"""

_INSERT = """
    INSERT INTO alert_rollup (model_id, bucket_minutes, segment_kind, segment_value,
                              bucket_start, total, negative)
    SELECT :model_id, :bucket_minutes, kind, value, bucket_start, count(*),
           count(*) FILTER (WHERE negative)
    FROM ({rows}) AS r
    GROUP BY kind, value, bucket_start
"""



def bucket_floor(when: datetime, width: timedelta) -> datetime:
    """Start of the bucket holding ``when`` (buckets aligned to UTC midnight)."""
    return ORIGIN + ((when - ORIGIN) // width) * width


def active_model_id(conn: Connection) -> int | None:
    return conn.scalar(sa.text("SELECT id FROM model WHERE active"))


def _starts_param() -> sa.BindParameter:
    return sa.bindparam("starts", type_=ARRAY(sa.DateTime(timezone=True)))


def _runs(starts: list[datetime], width: timedelta) -> list[tuple[datetime, datetime]]:
    """Sorted bucket starts as [lo, hi) ranges of consecutive buckets."""
    runs: list[tuple[datetime, datetime]] = []
    for start in starts:
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], start + width)
        else:
            runs.append((start, start + width))
    return runs


def recompute_buckets(conn: Connection, model_id: int, bucket_minutes: int,
                      starts: Iterable[datetime]) -> int:
    """Replace the rollup rows of these buckets by fresh counts; returns the buckets redone.

    One statement per run of consecutive buckets, with the range as literals, so the planner
    sees how few articles it covers (a join on an array of starts looks like most of the table).
    """
    starts = sorted(set(starts))
    if not starts:
        return 0
    width = timedelta(minutes=bucket_minutes)
    key = {"model_id": model_id, "bucket_minutes": bucket_minutes}
    conn.execute(sa.text(
        "DELETE FROM alert_rollup WHERE model_id = :model_id AND bucket_minutes = :bucket_minutes "
        "AND bucket_start = ANY(:starts)").bindparams(_starts_param()), {**key, "starts": starts})
    rows = _SEGMENT_ROWS.format(where="a.published_at >= :lo AND a.published_at < :hi")
    insert = sa.text(_INSERT.format(rows=rows))
    for lo, hi in _runs(starts, width):
        conn.execute(insert, {**key, "lo": lo, "hi": hi, "width": width, "origin": ORIGIN})
    return len(starts)


def _build_all(conn: Connection, model_id: int, bucket_minutes: int) -> int:
    key = {"model_id": model_id, "bucket_minutes": bucket_minutes}
    # one large aggregate, once per model: room to sort and hash in memory (this transaction only)
    conn.execute(sa.text("SET LOCAL work_mem = '256MB'"))
    conn.execute(sa.text("DELETE FROM alert_rollup WHERE model_id = :model_id "
                         "AND bucket_minutes = :bucket_minutes"), key)
    conn.execute(sa.text(_INSERT.format(rows=_SEGMENT_ROWS.format(where="true"))),
                 {**key, "width": timedelta(minutes=bucket_minutes), "origin": ORIGIN})
    return conn.scalar(sa.text(
        "SELECT count(DISTINCT bucket_start) FROM alert_rollup WHERE model_id = :model_id "
        "AND bucket_minutes = :bucket_minutes AND segment_kind = 'all'"), key) or 0


def _watermarks(conn: Connection) -> dict[str, Any]:
    """The horizon and snapshot this run folds in up to (see the module docstring). Two
    statements, in this order: the open transactions are seen before the snapshot is taken."""
    oldest_open = conn.scalar(sa.text(
        "SELECT min(xact_start) FROM pg_stat_activity WHERE xact_start IS NOT NULL"))
    now, snapshot = conn.execute(sa.text(
        "SELECT clock_timestamp(), CAST(pg_current_snapshot() AS text)")).one()
    horizon = min(now - OVERLAP, oldest_open or now)
    return {"classified_until": horizon, "articles_until": horizon, "links_until": horizon,
            "snapshot": snapshot}


# The 64-bit id (xid8) of a row's 32-bit xmin: the one within 2**32 below the current snapshot's
# xmax (the rows read here are recent: their stamps are after the previous horizon).
_FULL_XID = ("CAST(CAST(snap.xmax - ((snap.xmax % 4294967296) - CAST(CAST({alias}.xmin AS text) "
             "AS bigint) + 4294967296) % 4294967296 AS text) AS xid8)")


def _unseen(alias: str) -> str:
    """SQL: the row was written by a transaction the previous run's snapshot did not see."""
    return (f"(CAST(:seen AS pg_snapshot) IS NULL OR NOT pg_visible_in_snapshot("
            f"{_FULL_XID.format(alias=alias)}, CAST(:seen AS pg_snapshot)))")


def _changed_buckets(conn: Connection, model_id: int, bucket_minutes: int,
                     since: dict[str, Any]) -> list[datetime]:
    def back(key: str) -> datetime:
        return since[key] or NEVER

    bucket = "date_bin(:width, a.published_at, :origin)"
    return list(conn.scalars(sa.text(f"""
        WITH snap AS (
            SELECT CAST(CAST(pg_snapshot_xmax(pg_current_snapshot()) AS text) AS bigint) AS xmax
        )
        SELECT {bucket} FROM snap, classification AS c JOIN article AS a ON a.id = c.article_id
        WHERE c.model_id = :model_id AND c.created_at >= :classified AND {_unseen("c")}
        UNION
        SELECT {bucket} FROM snap, article AS a
        WHERE a.updated_at >= :articles AND {_unseen("a")}
        UNION
        SELECT {bucket} FROM snap, article_feed AS af JOIN article AS a ON a.id = af.article_id
        WHERE af.first_seen_at >= :links AND {_unseen("af")}
    """), {"model_id": model_id, "width": timedelta(minutes=bucket_minutes), "origin": ORIGIN,
           "classified": back("classified_until"), "articles": back("articles_until"),
           "links": back("links_until"), "seen": since.get("snapshot")}))


def update_rollups(conn: Connection, model_id: int, bucket_minutes: int) -> dict[str, int]:
    """Bring the model's rollups up to date; the first run for a model builds them all."""
    state = conn.execute(sa.text(
        "SELECT classified_until, articles_until, links_until, snapshot FROM rollup_state "
        "WHERE model_id = :m AND bucket_minutes = :b FOR UPDATE"),
        {"m": model_id, "b": bucket_minutes}).mappings().first()
    marks = _watermarks(conn)  # read before the changes, so none is skipped
    if state is None:
        redone, full = _build_all(conn, model_id, bucket_minutes), 1
    else:
        changed = _changed_buckets(conn, model_id, bucket_minutes, dict(state))
        redone, full = recompute_buckets(conn, model_id, bucket_minutes, changed), 0
    conn.execute(sa.text("""
        INSERT INTO rollup_state (model_id, bucket_minutes, classified_until, articles_until,
                                  links_until, snapshot, updated_at)
        VALUES (:m, :b, :classified_until, :articles_until, :links_until, :snapshot, now())
        ON CONFLICT (model_id, bucket_minutes) DO UPDATE SET
            classified_until = excluded.classified_until,
            articles_until = excluded.articles_until, links_until = excluded.links_until,
            snapshot = excluded.snapshot, updated_at = now()
    """), {"m": model_id, "b": bucket_minutes, **marks})
    return {"buckets_recomputed": redone, "rollup_rebuilt": full}


def count_range(conn: Connection, model_id: int, start: datetime,
                end: datetime) -> dict[Segment, tuple[int, int]]:
    """(total, negative) per segment for articles published in [start, end), from the source
    tables: the exact counts of a bucket that is still filling (or of any short range)."""
    rows = _SEGMENT_ROWS.format(where="a.published_at >= :start AND a.published_at < :end")
    result = conn.execute(sa.text(
        f"SELECT kind, value, count(*), count(*) FILTER (WHERE negative) FROM ({rows}) AS r "
        "GROUP BY kind, value"),
        {"model_id": model_id, "start": start, "end": end, "width": end - start,
         "origin": ORIGIN})
    return {(kind, value): (total, negative) for kind, value, total, negative in result}


def load_history(conn: Connection, model_id: int, bucket_minutes: int,
                 segments: Iterable[Segment], start: datetime,
                 end: datetime) -> dict[Segment, dict[datetime, tuple[int, int]]]:
    """Rollup rows (bucket -> (total, negative)) of these segments with start <= bucket < end."""
    segments = sorted(set(segments))
    history: dict[Segment, dict[datetime, tuple[int, int]]] = {s: {} for s in segments}
    if not segments:
        return history
    result = conn.execute(sa.text("""
        SELECT r.segment_kind, r.segment_value, r.bucket_start, r.total, r.negative
        FROM unnest(CAST(:kinds AS text[]), CAST(:values AS text[])) AS s (kind, value)
        JOIN alert_rollup AS r ON r.model_id = :m AND r.bucket_minutes = :b
            AND r.segment_kind = s.kind AND r.segment_value = s.value
            AND r.bucket_start >= :start AND r.bucket_start < :end
    """), {"kinds": [k for k, _ in segments], "values": [v for _, v in segments],
           "m": model_id, "b": bucket_minutes, "start": start, "end": end})
    for kind, value, bucket_start, total, negative in result:
        history[(kind, value)][bucket_start] = (total, negative)
    return history


def first_buckets(conn: Connection, model_id: int, bucket_minutes: int,
                  segments: Iterable[Segment]) -> dict[Segment, datetime]:
    """The first bucket each segment has any article in (an index seek per segment)."""
    segments = sorted(set(segments))
    if not segments:
        return {}
    result = conn.execute(sa.text("""
        SELECT s.kind, s.value, f.bucket_start
        FROM unnest(CAST(:kinds AS text[]), CAST(:values AS text[])) AS s (kind, value)
        CROSS JOIN LATERAL (
            SELECT r.bucket_start FROM alert_rollup AS r
            WHERE r.model_id = :m AND r.bucket_minutes = :b AND r.segment_kind = s.kind
                AND r.segment_value = s.value
            ORDER BY r.bucket_start LIMIT 1
        ) AS f
    """), {"kinds": [k for k, _ in segments], "values": [v for _, v in segments],
           "m": model_id, "b": bucket_minutes})
    return {(kind, value): start for kind, value, start in result}


def segments_with_volume(conn: Connection, model_id: int, bucket_minutes: int, start: datetime,
                         end: datetime, at_least: int) -> set[Segment]:
    """Segments with ``at_least`` negatives in [start, end) in all (the ones a window ending in
    that range could fire on)."""
    result = conn.execute(sa.text(
        "SELECT segment_kind, segment_value FROM alert_rollup WHERE model_id = :m "
        "AND bucket_minutes = :b AND bucket_start >= :start AND bucket_start < :end "
        "GROUP BY segment_kind, segment_value HAVING sum(negative) >= :n"),
        {"m": model_id, "b": bucket_minutes, "start": start, "end": end, "n": at_least})
    return {(kind, value) for kind, value in result}


def count_live_segments(conn: Connection, model_id: int, bucket_minutes: int, start: datetime,
                        end: datetime, at_least: int) -> int:
    """How many segments reached ``at_least`` negatives in one bucket in [start, end): the ones
    that share the channel's false-alarm budget."""
    return conn.scalar(sa.text(
        "SELECT count(DISTINCT (segment_kind, segment_value)) FROM alert_rollup "
        "WHERE model_id = :m AND bucket_minutes = :b AND bucket_start >= :start "
        "AND bucket_start < :end AND negative >= :n"),
        {"m": model_id, "b": bucket_minutes, "start": start, "end": end, "n": at_least}) or 0
