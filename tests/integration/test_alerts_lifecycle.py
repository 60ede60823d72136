"""Rollups, detection and the alert lifecycle against PostgreSQL, with classified rows written
directly (no real model): firing once, idempotent reruns, repeat interval, hold-down, resolve,
pending, partial buckets, warm-up, share spikes, backfills with another model."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from alertkit import World, at, detect

from sentinel.alerts.rollup import recompute_buckets
from sentinel.alerts.stage import rebuild_rollups
from sentinel.pipeline import run_detect


@pytest.fixture
def world(db):
    w = World(db)
    w.background(at(0), hours=7 * 24)  # a week of ordinary news, Monday to Sunday
    return w


def alerts(world):
    return {r.dedup_key: r for r in world.rows("SELECT * FROM alert ORDER BY id")}


def deliveries(world):
    return world.rows("SELECT d.*, a.dedup_key FROM alert_delivery d JOIN alert a "
                      "ON a.id = d.alert_id ORDER BY d.id")


def test_a_burst_fires_once_with_the_evidence_and_a_rerun_adds_nothing(world, settings):
    world.burst(at(7, 0, 0), 12)  # Monday 00:00-01:00: twelve negative HLVP stories
    now = at(7, 1, 10)
    counts = detect(world.engine, settings, now=now)
    assert counts["rollup_rebuilt"] == 1 and counts["opened"] >= 2
    opened = alerts(world)
    assert {"all", "ticker:HLVP", "topic:Legal"} <= set(opened)
    assert "ticker:ACME" not in opened and "topic:Markets" not in opened
    hlvp = opened["ticker:HLVP"]
    assert hlvp.state == "firing" and hlvp.observed == 12 and hlvp.expected < 0.5
    assert hlvp.window_start == at(7, 0) and hlvp.window_end == at(7, 1)
    sent = deliveries(world)
    assert sorted(d.dedup_key for d in sent) == sorted(opened)
    payload = next(d.payload for d in sent if d.dedup_key == "ticker:HLVP")
    assert payload["kind"] == "firing" and payload["observed"] == 12
    assert payload["spike"] in ("count", "count+share")
    assert len(payload["headlines"]) == 5
    assert all(h["title"].startswith("Regulators probe Halvorsen") for h in payload["headlines"])
    assert "tickers @> ARRAY['HLVP']" in payload["sql"]
    assert payload["trend"][-2] == 12 and len(payload["trend"]) == 24
    # the analyst SQL runs and returns the burst
    with world.engine.connect() as conn:
        detail = conn.execute(sa.text(payload["sql"])).all()
    assert sum(r.sentiment == "negative" for r in detail) == 12

    rollups = rollup_rows(world)
    rows = world.rows("SELECT * FROM alert ORDER BY id")
    again = detect(world.engine, settings, now=now)
    assert again["opened"] == again["queued"] == again["fired"] == 0
    assert rollup_rows(world) == rollups
    assert world.rows("SELECT * FROM alert ORDER BY id") == rows  # not even updated_at moves
    assert len(deliveries(world)) == len(sent)
    assert alerts(world)["ticker:HLVP"].id == hlvp.id


def test_repeat_at_most_every_interval_then_hold_down_then_resolved(world, settings):
    for hour in range(6):  # six hours of bursts
        world.burst(at(7, hour), 10, ticker="HLVP")
    kinds = []
    for hour in range(1, 11):
        detect(world.engine, settings, now=at(7, hour, 5))
        kinds.append([(d.kind, d.interval_end.hour) for d in deliveries(world)
                      if d.dedup_key == "ticker:HLVP"])
    assert kinds[0] == [("firing", 1)]
    assert kinds[3] == [("firing", 1)]                   # not yet 4 hours
    assert kinds[4] == [("firing", 1), ("repeat", 5)]    # 4 hours after the first
    assert kinds[6] == kinds[4]                           # the burst ended at 06:00 (judged 07:05)
    alert = alerts(world)["ticker:HLVP"]
    assert alert.state == "resolved" and alert.resolved_at == at(7, 8, 5)
    # hold-down: 06:00 quiet at 07:05 (one bucket) -> still firing; 07:00 quiet too at 08:05
    assert kinds[6] == [("firing", 1), ("repeat", 5)]
    assert kinds[7][-1] == ("resolved", 8)
    assert kinds[9] == kinds[7]
    # a new, larger burst later opens a new alert: one open alert per segment, never two (the
    # first burst is now part of the ticker's history: one of its size no longer surprises)
    world.burst(at(7, 12), 30)
    detect(world.engine, settings, now=at(7, 13, 5))
    hlvp = world.rows("SELECT state FROM alert WHERE dedup_key = 'ticker:HLVP' ORDER BY id")
    assert [r.state for r in hlvp] == ["resolved", "firing"]


def test_without_resolved_notifications(world, settings):
    settings = settings.model_copy(update={"notify_resolved": False})
    world.burst(at(7, 0), 10)
    for hour in (1, 2, 3, 4):
        detect(world.engine, settings, now=at(7, hour, 5))
    assert alerts(world)["ticker:HLVP"].state == "resolved"
    assert {d.kind for d in deliveries(world)} == {"firing"}


def test_an_older_interval_changes_nothing(world, settings):
    world.burst(at(7, 0), 10)
    detect(world.engine, settings, now=at(7, 3, 5))  # the burst is two buckets back
    assert not alerts(world)
    assert detect(world.engine, settings, now=at(7, 1, 5))["stale_interval"] == 1
    assert not alerts(world) and not deliveries(world)


def test_a_gap_between_runs_judges_every_bucket_in_the_interval(world, settings):
    detect(world.engine, settings, now=at(6, 23, 0))
    world.burst(at(7, 0), 10)
    detect(world.engine, settings, now=at(7, 3, 0))  # 00:00, 01:00 and 02:00 are new
    assert alerts(world)["ticker:HLVP"].state == "firing"


def test_pending_until_enough_buckets_spike(world, settings):
    settings = settings.model_copy(update={"fire_after_buckets": 2})
    world.burst(at(7, 0), 10, ticker="ONCE")
    world.burst(at(7, 0), 10, ticker="TWICE")
    world.burst(at(7, 1), 10, ticker="TWICE")
    detect(world.engine, settings, now=at(7, 1, 0))
    assert {alerts(world)[k].state for k in ("ticker:ONCE", "ticker:TWICE")} == {"pending"}
    detect(world.engine, settings, now=at(7, 2, 0))
    assert alerts(world)["ticker:TWICE"].state == "firing"
    for hour in (3, 4):
        detect(world.engine, settings, now=at(7, hour, 0))
    once = alerts(world)["ticker:ONCE"]
    assert once.state == "resolved" and once.details["outcome"] == "expired"
    assert {d.dedup_key for d in deliveries(world)} >= {"ticker:TWICE"}
    assert "ticker:ONCE" not in {d.dedup_key for d in deliveries(world)}


def test_the_unfinished_bucket_fires_within_the_bucket(world, settings):
    world.burst(at(7, 2), 8, minutes=15)  # 02:00-02:15
    now = at(7, 2, 20)
    later = at(7, 2, 50)  # published after `now`: invisible to the interval ending at `now`
    world.burst(later, 8, ticker="LATE", minutes=5)
    off = settings.model_copy(update={"judge_partial_bucket": False})
    assert detect(world.engine, off, now=now)["opened"] == 0
    counts = detect(world.engine, settings, now=now + timedelta(minutes=1))
    opened = alerts(world)
    assert counts["opened"] >= 1 and "ticker:HLVP" in opened and "ticker:LATE" not in opened
    hlvp = opened["ticker:HLVP"]
    assert hlvp.window_start == at(7, 2) and hlvp.observed == 8
    assert hlvp.expected < 0.2  # a third of an hour's (tiny) expectation


def test_warm_up_for_a_new_source_but_not_for_a_new_ticker(world, settings):
    world.burst(at(7, 0), 10, ticker="NEWCO", feeds=("brand-new-feed",))
    detect(world.engine, settings, now=at(7, 1, 5))
    opened = alerts(world)
    assert "ticker:NEWCO" in opened  # absent all week: its quiet week is real history
    assert "source:brand-new-feed" not in opened  # no history yet: warm-up


def test_share_spike_while_the_count_stays_ordinary(db, settings):
    world = World(db)
    rows = []
    for h in range(7 * 24):  # 40 stories an hour, 4 negative
        rows += [{"published_at": at(0, 0, 0) + timedelta(hours=h, minutes=k * 1.5),
                  "title": f"story {h}-{k}", "sentiment": "negative" if k < 4 else "neutral",
                  "topic": "Markets"} for k in range(40)]
    world.articles(rows)
    # a quiet hour in which most of what comes is bad news: 6 negatives (1.5x the usual count,
    # below the 2x count guard) out of 10 stories (60% against 10%)
    world.articles({"published_at": at(7, 0, 5 * k), "title": f"bad {k}",
                    "sentiment": "negative" if k < 6 else "neutral", "topic": "Markets"}
                   for k in range(10))
    detect(db, settings, now=at(7, 1, 0))
    alert = alerts(world)["all"]
    payload = deliveries(world)[0].payload
    assert payload["spike"] == "share" and alert.observed == 6
    assert alert.negative_share == pytest.approx(0.6) and alert.expected_share == pytest.approx(
        0.1, abs=0.01)


def rollup_rows(world):
    return world.rows("SELECT model_id, bucket_minutes, segment_kind, segment_value, "
                      "bucket_start, total, negative FROM alert_rollup ORDER BY 1, 2, 3, 4, 5")


def test_incremental_rollups_equal_a_full_rebuild(world, settings):
    world.age()
    detect(world.engine, settings, now=at(7, 0, 0))
    before = rollup_rows(world)
    # new classified articles in an old bucket, an edited article (its verdict goes stale),
    # a story picked up by one more feed, an unclassified article
    world.articles([{"published_at": at(2, 5, 30), "title": "late arrival", "sentiment":
                     "negative", "tickers": ["ACME", "ZED"], "topic": "Macro"},
                    {"published_at": at(3, 3, 3), "title": "not classified yet",
                     "sentiment": None}])
    edited, picked_up = world.rows("SELECT id FROM article ORDER BY id LIMIT 2")
    with world.engine.begin() as conn:
        conn.execute(sa.text("UPDATE article SET content_hash = 'edited', updated_at = now() "
                             "WHERE id = :i"), {"i": edited.id})
        conn.execute(sa.text("INSERT INTO article_feed (article_id, feed_id) VALUES (:a, :f)"),
                     {"a": picked_up.id, "f": world.feed("third-feed")})
    counts = detect(world.engine, settings, now=at(7, 0, 30))
    assert counts["rollup_rebuilt"] == 0 and 1 <= counts["buckets_recomputed"] <= 6
    incremental = rollup_rows(world)
    assert incremental != before
    with world.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM rollup_state"))
    assert detect(world.engine, settings, now=at(7, 0, 30))["rollup_rebuilt"] == 1
    assert rollup_rows(world) == incremental
    zed = world.rows("SELECT total, negative FROM alert_rollup WHERE segment_value = 'ZED'")
    assert [tuple(r) for r in zed] == [(1, 1)]


def test_a_backfill_with_another_model_leaves_the_active_rollups_alone(world, settings):
    world.age()
    detect(world.engine, settings, now=at(7, 0, 0))
    before = rollup_rows(world)
    other = world.model("experimental")
    ids = [r.id for r in world.rows("SELECT id, title FROM article")]
    titles = dict(world.rows("SELECT id, title FROM article"))
    with world.engine.begin() as conn:  # the other model calls everything negative
        conn.execute(sa.insert(sa.table("classification", *[sa.column(c) for c in (
            "article_id", "model_id", "content_hash", "sentiment", "p_negative", "topic")])),
            [{"article_id": i, "model_id": other, "content_hash": world_digest(titles[i]),
              "sentiment": "negative", "p_negative": 0.99, "topic": "Legal"} for i in ids])
    counts = detect(world.engine, settings, now=at(7, 0, 30))
    assert counts["buckets_recomputed"] == 0 and counts["opened"] == 0
    assert rollup_rows(world) == before
    rebuild_rollups(world.engine, settings.bucket_minutes, since=at(0), until=at(7))
    assert rollup_rows(world) == before


def world_digest(title: str) -> str:
    from alertkit import digest

    return digest(title)


def test_recomputing_a_bucket_is_idempotent(world, settings):
    detect(world.engine, settings, now=at(7, 0, 0))
    before = rollup_rows(world)
    with world.engine.begin() as conn:
        assert recompute_buckets(conn, world.model_id, 60, [at(3, h) for h in range(24)]) == 24
    assert rollup_rows(world) == before


def test_detect_is_skipped_until_a_model_is_active(db, settings):
    result = run_detect(db, settings, now=at(7))
    assert result.status == "skipped" and "no active model" in result.message
