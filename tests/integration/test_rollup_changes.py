"""What the detect stage folds into the rollups on each run (sentinel/alerts/rollup.py): nothing
when nothing changed, and every late commit, however long its transaction took.

Rows are written straight into the tables (tests/alertkit.py); the late commits come from a
second real connection whose transaction stays open across detect runs.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alertkit import World, at, detect, digest

from sentinel.alerts import rollup


@pytest.fixture
def world(db):
    w = World(db)
    w.background(at(0), hours=7 * 24)
    return w


def rollup_rows(world):
    return world.rows("SELECT segment_kind, segment_value, bucket_start, total, negative "
                      "FROM alert_rollup ORDER BY 1, 2, 3")


def full_rebuild(world, settings):
    with world.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM rollup_state"))
    assert detect(world.engine, settings, now=at(7, 1))["rollup_rebuilt"] == 1
    return rollup_rows(world)


def test_a_rerun_without_changes_recomputes_nothing(world, settings):
    # fresh rows, stamped seconds ago: a time-only watermark (with its safety overlap) re-read
    # all of them on every run
    first = detect(world.engine, settings, now=at(7, 0, 0))
    assert first["rollup_rebuilt"] == 1
    for minute in (15, 30):
        again = detect(world.engine, settings, now=at(7, 0, minute))
        assert again["rollup_rebuilt"] == 0 and again["buckets_recomputed"] == 0
    world.articles([{"published_at": at(3, 4, 10), "title": "one more", "sentiment": "neutral"}])
    assert detect(world.engine, settings, now=at(7, 0, 45))["buckets_recomputed"] == 1
    assert detect(world.engine, settings, now=at(7, 0, 50))["buckets_recomputed"] == 0


def late_writer(world):
    """A transaction on its own connection, opened now: its rows are stamped with its start."""
    conn = world.engine.connect()
    transaction = conn.begin()
    conn.execute(sa.text("SELECT 1"))
    return conn, transaction


def write_classified(conn, world, published_at, title: str) -> None:
    article_id = conn.scalar(sa.text(
        "INSERT INTO article (identity, title, summary, published_at, fetched_at, content_hash) "
        "VALUES (:i, :t, '', :p, :p, :h) RETURNING id"),
        {"i": f"late:{title}", "t": title, "p": published_at, "h": digest(title)})
    conn.execute(sa.text("INSERT INTO article_feed (article_id, feed_id) VALUES (:a, :f)"),
                 {"a": article_id, "f": world.feed("wire")})
    conn.execute(sa.text(
        "INSERT INTO classification (article_id, model_id, content_hash, sentiment, topic) "
        "VALUES (:a, :m, :h, 'negative', 'Macro')"),
        {"a": article_id, "m": world.model_id, "h": digest(title)})


def test_a_commit_that_lands_after_a_run_is_folded_in_by_the_next(world, settings):
    detect(world.engine, settings, now=at(7, 0, 0))
    conn, transaction = late_writer(world)
    try:
        write_classified(conn, world, at(2, 5, 30), "late story")
        assert detect(world.engine, settings, now=at(7, 0, 15))["buckets_recomputed"] == 0
        transaction.commit()
    finally:
        conn.close()
    assert detect(world.engine, settings, now=at(7, 0, 30))["buckets_recomputed"] == 1
    incremental = rollup_rows(world)
    assert incremental == full_rebuild(world, settings)


def test_a_transaction_longer_than_the_overlap_is_not_missed(world, settings, monkeypatch):
    # no safety overlap at all: only the open transactions (pg_stat_activity) hold the horizon
    monkeypatch.setattr(rollup, "OVERLAP", timedelta(0))
    detect(world.engine, settings, now=at(7, 0, 0))
    conn, transaction = late_writer(world)
    try:
        time.sleep(0.2)
        for minute in (10, 20):  # runs while it is open: their horizons stay at its start
            detect(world.engine, settings, now=at(7, 0, minute))
        write_classified(conn, world, at(4, 2, 0), "slow story")  # stamped at its start
        transaction.commit()
    finally:
        conn.close()
    assert detect(world.engine, settings, now=at(7, 0, 30))["buckets_recomputed"] == 1
    assert rollup_rows(world) == full_rebuild(world, settings)


def test_the_demo_rerun_recomputes_nothing(db, demo_settings):
    settings = demo_settings
    """The bundled samples, ingested and classified by the shipped model, then detect twice."""
    from sentinel.pipeline import run_classify, run_detect, run_ingest

    if not settings.model_dir.is_dir():
        pytest.skip("the shipped model is not in this checkout")
    settings = settings.model_copy(update={"threads": 1})
    assert run_ingest(db, settings).status == "ok"
    assert run_classify(db, settings).counts["classified"] > 100
    first = run_detect(db, settings).counts
    assert first["rollup_rebuilt"] == 1
    run_ingest(db, settings)  # a rerun of the whole pipeline: nothing new
    assert run_classify(db, settings).status == "skipped"  # nothing pending: model not loaded
    again = run_detect(db, settings).counts
    assert again["rollup_rebuilt"] == 0 and again["buckets_recomputed"] == 0
