"""The analyst views (sql/views/*.sql, applied by migration 0002) against hand-checked data."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from analyst_data import ARTICLES, at, load_sample

from sentinel.db.models import Model

VIEWS_DIR = Path(__file__).resolve().parents[2] / "sql" / "views"
VIEW_FILES = sorted(VIEWS_DIR.glob("*.sql"))


def view_name(path: Path) -> str:
    return path.stem.split("_", 1)[1]


def rows(engine, sql, **params):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


@pytest.fixture
def sample(db):
    return load_sample(db)


def view_state(conn) -> dict[str, tuple]:
    """Each v_* view's definition and every comment on it and its columns."""
    result = conn.execute(sa.text("""
        SELECT c.relname, pg_get_viewdef(c.oid), obj_description(c.oid, 'pg_class'),
               array_agg(a.attname || '=' || coalesce(col_description(c.oid, a.attnum), '')
                         ORDER BY a.attnum)
        FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
        WHERE c.relkind = 'v' AND c.relnamespace = 'public'::regnamespace
          AND c.relname LIKE 'v\\_%'
        GROUP BY c.oid, c.relname"""))
    return {name: (definition, comment, columns) for name, definition, comment, columns in result}


def test_migrated_views_are_exactly_the_sql_files(db):
    """The migrations carry a copy of the view SQL; it must agree with sql/views/ (see 0002)."""
    with db.connect() as conn:
        migrated = view_state(conn)
        assert sorted(migrated) == sorted(view_name(p) for p in VIEW_FILES), (
            "every v_* view needs a file in sql/views/ and every file a migration")
        for path in VIEW_FILES:
            conn.exec_driver_sql(path.read_text())
        from_files = view_state(conn)
        conn.rollback()
    for name in migrated:
        assert from_files[name] == migrated[name], (
            f"sql/views/ defines {name} differently from the migrated database; "
            "write a migration that carries the new SQL")


def test_every_view_and_column_is_commented(db):
    with db.connect() as conn:
        state = view_state(conn)
    assert len(state) == 7
    for name, (_definition, comment, columns) in state.items():
        assert comment, f"{name} has no COMMENT ON VIEW"
        undocumented = [c.split("=")[0] for c in columns if c.endswith("=")]
        assert undocumented == [], f"{name}: columns without COMMENT ON COLUMN: {undocumented}"


def test_article_current_shows_the_active_models_verdict_on_the_current_text(db, sample):
    got = rows(db, """SELECT article_id, feeds, tickers, sentiment, p_negative, topic,
                             model_id FROM v_article_current ORDER BY article_id""")
    active, ids = sample.models["active"], sample.articles
    assert got == [
        (ids["a1"], ["Harbor Street", "Ledger Wire"], ["HLVP"], "negative", 0.95, "Legal", active),
        (ids["a2"], ["Ledger Wire"], ["HLVP"], "negative", 0.90, "Legal", active),
        (ids["a3"], ["Harbor Street"], ["ACME"], "positive", 0.02, "Earnings", active),
        (ids["a4"], ["Harbor Street"], ["ACME", "HLVP"], "negative", 0.80, "Earnings", active),
        (ids["a5"], ["Ledger Wire"], [], "neutral", 0.10, "Markets", active),
        (ids["a6"], ["Ledger Wire"], ["HLVP"], None, None, None, None),  # stale
        (ids["a7"], ["Harbor Street"], [], None, None, None, None),  # old model only
    ]
    titles = rows(db, "SELECT title, url, published_at FROM v_article_current ORDER BY article_id")
    assert titles == [(a[1], a[2], a[0]) for a in ARTICLES.values()]


def test_switching_the_active_model_switches_what_is_current(db, sample):
    with db.begin() as conn:
        conn.execute(sa.update(Model).values(active=False))
        conn.execute(sa.update(Model).where(Model.id == sample.models["old"]).values(active=True))
    got = rows(db, "SELECT article_id, sentiment FROM v_article_current "
                   "WHERE sentiment IS NOT NULL ORDER BY article_id")
    assert got == [(sample.articles["a1"], "positive"), (sample.articles["a7"], "positive")]
    with db.begin() as conn:
        conn.execute(sa.update(Model).values(active=False))
    assert rows(db, "SELECT count(*) FROM v_article_current WHERE sentiment IS NOT NULL") == [(0,)]


COUNTS = """SELECT bucket_start, segment_kind, segment_value, articles, negative, neutral,
                   positive, negative_share FROM {view} ORDER BY 1, 2, 3"""


def test_sentiment_hourly(db, sample):
    assert rows(db, COUNTS.format(view="v_sentiment_hourly")) == [
        (at(9), "all", "all", 2, 2, 0, 0, 1.0),
        (at(9), "source", "Harbor Street", 1, 1, 0, 0, 1.0),
        (at(9), "source", "Ledger Wire", 2, 2, 0, 0, 1.0),
        (at(9), "ticker", "HLVP", 2, 2, 0, 0, 1.0),
        (at(9), "topic", "Legal", 2, 2, 0, 0, 1.0),
        (at(10), "all", "all", 3, 1, 1, 1, 1 / 3),
        (at(10), "source", "Harbor Street", 2, 1, 0, 1, 0.5),
        (at(10), "source", "Ledger Wire", 1, 0, 1, 0, 0.0),
        (at(10), "ticker", "ACME", 2, 1, 0, 1, 0.5),
        (at(10), "ticker", "HLVP", 1, 1, 0, 0, 1.0),
        (at(10), "topic", "Earnings", 2, 1, 0, 1, 0.5),
        (at(10), "topic", "Markets", 1, 0, 1, 0, 0.0),
    ]
    means = rows(db, "SELECT segment_value, mean_p_negative FROM v_sentiment_hourly "
                     "WHERE bucket_start = :hour AND segment_kind = 'ticker' ORDER BY 1",
                 hour=at(10))
    assert means == [("ACME", pytest.approx(0.41)), ("HLVP", pytest.approx(0.80))]


def test_sentiment_daily_buckets_are_utc_days_whatever_the_session_time_zone(db, sample):
    with db.connect() as conn:
        conn.execute(sa.text("SET TIME ZONE 'America/New_York'"))
        got = [tuple(r) for r in conn.execute(sa.text(COUNTS.format(view="v_sentiment_daily")))]
    day = at(0)
    assert got == [
        (day, "all", "all", 5, 3, 1, 1, 0.6),
        (day, "source", "Harbor Street", 3, 2, 0, 1, 2 / 3),
        (day, "source", "Ledger Wire", 3, 2, 1, 0, 2 / 3),
        (day, "ticker", "ACME", 2, 1, 0, 1, 0.5),
        (day, "ticker", "HLVP", 3, 3, 0, 0, 1.0),
        (day, "topic", "Earnings", 2, 1, 0, 1, 0.5),
        (day, "topic", "Legal", 2, 2, 0, 0, 1.0),
        (day, "topic", "Markets", 1, 0, 1, 0, 0.0),
    ]


def test_alert_headline_ranks_the_negative_stories_of_each_alerts_segment(db, sample):
    got = rows(db, "SELECT alert_id, rank, article_id, p_negative FROM v_alert_headline "
                   "ORDER BY alert_id, rank")
    alerts, ids = sample.alerts, sample.articles
    assert got == [
        # ticker HLVP, fired on 09:00-10:00: a1 and a2 (a4 is HLVP too, but at 10:30)
        (alerts["hlvp"], 1, ids["a1"], 0.95),
        (alerts["hlvp"], 2, ids["a2"], 0.90),
        # source Harbor Street, opened at 10:00 on the 10:00 bucket: a1 (09:10) and a4 (10:30)
        (alerts["harbor"], 1, ids["a1"], 0.95),
        (alerts["harbor"], 2, ids["a4"], 0.80),
    ]


def test_alert_history(db, sample):
    got = rows(db, """SELECT alert_id, state, ratio, notifications_sent,
                             notifications_undelivered, negative_headlines, top_headlines
                      FROM v_alert_history ORDER BY alert_id""")
    title = {name: ARTICLES[name][1] for name in ARTICLES}
    assert got == [
        (sample.alerts["hlvp"], "firing", 4.0, 1, 1, 2, [title["a1"], title["a2"]]),
        (sample.alerts["harbor"], "resolved", None, 2, 0, 2, [title["a1"], title["a4"]]),
        (sample.alerts["all"], "pending", 3.5, 0, 1, 0, []),
    ]


def test_feed_health(db, sample):
    got = rows(db, """SELECT feed_name, status, consecutive_failures, fetches_24h, failed_24h,
                             not_modified_24h, bozo_24h, new_24h, mean_duration_ms_24h,
                             articles, last_published_at
                      FROM v_feed_health ORDER BY feed_id""")
    assert got == [
        ("Ledger Wire", "ok", 0, 2, 0, 1, 0, 3, 75.0, 4, at(11, 15)),
        ("Harbor Street", "failing", 2, 3, 2, 0, 1, 2, 300.0, 4, at(11, 20)),
        ("Quiet Wire", "never fetched", 0, 0, 0, 0, 0, 0, None, 0, None),
        ("Retired Wire", "disabled", 0, 0, 0, 0, 0, 0, None, 0, None),
    ]


@pytest.mark.parametrize("query, index", [
    ("SELECT * FROM v_sentiment_hourly WHERE bucket_start >= :t AND bucket_start < :t2 "
     "AND segment_kind = 'ticker' AND segment_value = 'HLVP'", "ix_article_published_hour"),
    ("SELECT * FROM v_sentiment_daily WHERE bucket_start >= :t AND segment_kind = 'topic'",
     "ix_article_published_day"),
    ("SELECT * FROM v_article_current WHERE published_at >= :t AND published_at < :t2",
     "ix_article_published_at"),
    ("SELECT * FROM v_article_current WHERE topic = 'Legal'", "ix_classification_model_id_topic"),
    ("SELECT * FROM v_article_current WHERE tickers @> ARRAY['HLVP']", "ix_article_tickers"),
    ("SELECT * FROM v_alert_history WHERE started_at >= :t", "ix_alert_started_at"),
])
def test_view_filters_can_use_an_index(db, query, index):
    """The filter reaches its index through the view: with every other index of that table
    dropped (in a transaction that is rolled back) and sequential scans priced out, the plan
    scans the index *with the filter as its condition*. Which index the planner prefers when
    several could serve is its own business (it changes with statistics and load), so the
    competing indexes are taken away rather than the choice asserted."""
    with db.connect() as conn:  # rolled back when the block ends: the drops never commit
        table = conn.scalar(sa.text("SELECT indrelid::regclass::text FROM pg_index "
                                    "WHERE indexrelid = to_regclass(:i)"), {"i": index})
        assert table is not None, f"index {index} does not exist; see migrations 0002+"
        for other, constraint in conn.execute(sa.text(
                "SELECT i.indexrelid::regclass::text, c.conname FROM pg_index i "
                "LEFT JOIN pg_constraint c "
                "ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid "
                "WHERE i.indrelid = to_regclass(:t) AND i.indexrelid <> to_regclass(:i)"),
                {"t": table, "i": index}).all():
            conn.execute(sa.text(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}" CASCADE'
                                 if constraint else f'DROP INDEX "{other}"'))
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = conn.scalar(sa.text(f"EXPLAIN (FORMAT JSON) {query}"),
                           {"t": at(0), "t2": at(0) + timedelta(days=1)})
    nodes = list(plan_nodes(plan[0]["Plan"]))
    scans = [(n["Node Type"], n.get("Relation Name") or n.get("Index Name"), n.get("Index Cond"))
             for n in nodes if "Scan" in n["Node Type"]]
    assert any(n.get("Index Name") == index and "Index Cond" in n for n in nodes), (
        f"{query!r} does not reach {index} on {table} as an index condition; scans: {scans}")


def plan_nodes(node: dict):
    """Every node of an EXPLAIN (FORMAT JSON) plan tree."""
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)
