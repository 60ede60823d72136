"""Storage and identity in the real PostgreSQL: idempotence, one story from many feeds, updates
that make classifications stale, feed health, and the stage's summary."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from feedserver import FeedServer, Reply
from ingestkit import articles, feed_row, ingest, last_fetch, options, titles

import sentinel.ingest.run as ingest_run
from sentinel.db.models import ArticleFeed, Classification, Model
from sentinel.ingest.normalize import Watchlist
from sentinel.pipeline import run_ingest
from sentinel.status import collect_status


def rss(*items: dict) -> bytes:
    def item(i: dict) -> str:
        parts = [f"<title>{i['title']}</title>"]
        if "link" in i:
            parts.append(f"<link>{i['link'].replace('&', '&amp;')}</link>")
        if "guid" in i:
            parts.append(f"<guid isPermaLink='false'>{i['guid']}</guid>")
        if "summary" in i:
            parts.append(f"<description>{i['summary']}</description>")
        parts.append("<pubDate>Sun, 29 Nov 2026 09:00:00 +0000</pubDate>")
        return "<item>" + "".join(parts) + "</item>"
    return ("<rss version='2.0'><channel><title>t</title>" + "".join(map(item, items))
            + "</channel></rss>").encode()


@pytest.fixture
def server():
    with FeedServer() as server:
        yield server


def links(db) -> int:
    with db.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(ArticleFeed))


def test_same_story_in_several_feeds_is_stored_once_and_linked_to_each(db, server):
    url = "https://pub.example.com/markets/story-1"
    feeds = {
        "publisher": server.route("/a", Reply(body=rss(
            {"title": "Orrin Motors recalls SUVs", "guid": url, "link": url}))),
        "aggregator": server.route("/b", Reply(body=rss(
            {"title": "Orrin Motors recalls SUVs", "link": url + "?utm_source=agg#top"}))),
        "syndicator": server.route("/c", Reply(body=rss(
            {"title": "Orrin recalls SUVs (syndicated)", "guid": "synd-99", "link": url}))),
    }
    totals = ingest(db, feeds)
    assert totals["new"] == 1 and totals["duplicates"] == 2
    assert len(articles(db)) == 1 and links(db) == 3
    for name in feeds:
        assert len(articles(db, name)) == 1

    again = ingest(db, feeds)
    assert again["new"] == 0 and again["updated"] == 0 and again["duplicates"] == 3
    assert len(articles(db)) == 1 and links(db) == 3


def test_same_guid_in_two_publishers_feeds_is_two_stories(db, server):
    feeds = {
        "first-publisher": server.route("/a", Reply(body=rss(
            {"title": "Kestrel Bank profit up", "guid": "1234"},
            {"title": "Kestrel Bank hires", "guid": "1235", "link": "https://one.example/1235"}))),
        "second-publisher": server.route("/b", Reply(body=rss(
            {"title": "Fenwick Foods profit down", "guid": "1234"},
            {"title": "Fenwick Foods hires", "guid": "1235", "link": "https://two.example/1235"}))),
    }
    assert ingest(db, feeds)["new"] == 4
    assert titles(db, "first-publisher") == ["Kestrel Bank hires", "Kestrel Bank profit up"]
    assert titles(db, "second-publisher") == ["Fenwick Foods hires", "Fenwick Foods profit down"]
    first, second = feed_row(db, "first-publisher")["id"], feed_row(db, "second-publisher")["id"]
    identities = sorted(a["identity"] for a in articles(db))
    assert identities == sorted([f"guid:feed-{first}:1234", f"guid:feed-{first}:1235",
                                 f"guid:feed-{second}:1234", f"guid:feed-{second}:1235"])


def test_renaming_a_feed_keeps_its_row_and_its_stories(db, server):
    url = server.route("/feed.xml", Reply(body=rss({"title": "Kestrel Bank profit up",
                                                     "guid": "1234"})))
    assert ingest(db, {"old-name": url})["new"] == 1
    before = feed_row(db, "old-name")
    totals = ingest(db, {"new-name": url})
    assert totals["new"] == 0 and totals["duplicates"] == 1
    after = feed_row(db, "new-name")
    assert after["id"] == before["id"] and after["last_success_at"] >= before["last_success_at"]
    assert titles(db, "new-name") == ["Kestrel Bank profit up"] and len(articles(db)) == 1


def test_changed_title_updates_the_article_and_makes_its_classification_stale(db, server):
    url = server.route("/feed.xml", Reply(body=rss(
        {"title": "Halvorsen shares slip", "guid": "h-1", "summary": "Early trade."})))
    assert ingest(db, {"wire": url})["new"] == 1
    (before,) = articles(db)
    with db.begin() as conn:
        model_id = conn.scalar(sa.insert(Model).values(
            name="m", version="1", source="test", tasks={}).returning(Model.id))
        conn.execute(sa.insert(Classification).values(
            article_id=before["id"], model_id=model_id, content_hash=before["content_hash"],
            sentiment="neutral"))

    server.route("/feed.xml", Reply(body=rss(
        {"title": "Halvorsen shares plunge 30% on fraud probe", "guid": "h-1",
         "summary": "Early trade. Updated with the probe."})))
    totals = ingest(db, {"wire": url})
    assert totals["new"] == 0 and totals["updated"] == 1
    (after,) = articles(db)
    assert after["id"] == before["id"]
    assert after["title"] == "Halvorsen shares plunge 30% on fraud probe"
    assert after["content_hash"] != before["content_hash"]
    assert after["updated_at"] > before["updated_at"]
    with db.connect() as conn:
        stale = conn.scalar(sa.text(
            "SELECT count(*) FROM classification c JOIN article a ON a.id = c.article_id "
            "WHERE c.content_hash <> a.content_hash"))
    assert stale == 1
    assert last_fetch(db, "wire")["updated"] == 1
    assert ingest(db, {"wire": url})["updated"] == 0


def test_two_feeds_with_different_headlines_never_overwrite_each_other(db, server):
    story = "https://pub.example.com/story-9"
    first = server.route("/first", Reply(body=rss({"title": "Original headline", "guid": story})))
    second = server.route("/second", Reply(body=rss({"title": "Rewritten headline",
                                                      "guid": story})))
    ingest(db, {"first": first})
    feeds = {"first": first, "second": second}
    for _ in range(2):
        totals = ingest(db, feeds)
        assert totals["updated"] == 0 and totals["new"] == 0
    assert titles(db) == ["Original headline"] and links(db) == 2

    server.route("/second", Reply(body=rss({"title": "Rewritten again", "guid": story})))
    assert ingest(db, feeds)["updated"] == 0
    server.route("/first", Reply(body=rss({"title": "Corrected headline", "guid": story})))
    assert ingest(db, feeds)["updated"] == 1
    assert titles(db) == ["Corrected headline"]


def test_feed_health_failures_count_up_and_reset(db, server):
    url = server.route("/feed.xml", Reply(status=500))
    healthy = server.route("/ok.xml", Reply(body=rss({"title": "Fine", "guid": "1"})))
    feeds = {"flaky": url, "healthy": healthy}
    opts = options(attempts=1)
    ingest(db, feeds, opts)
    ingest(db, feeds, opts)
    flaky = feed_row(db, "flaky")
    assert flaky["consecutive_failures"] == 2 and flaky["last_http_status"] == 500
    assert flaky["last_error"].startswith("HTTP 500") and flaky["last_success_at"] is None
    with db.connect() as conn:
        listed = [f["name"] for f in collect_status(conn).feeds]
    assert listed == ["flaky", "healthy"]

    server.route("/feed.xml", Reply(body=rss({"title": "Back", "guid": "2"})))
    ingest(db, feeds, opts)
    flaky = feed_row(db, "flaky")
    assert flaky["consecutive_failures"] == 0 and flaky["last_error"] is None
    assert flaky["last_success_at"] is not None


def test_a_storage_error_is_recorded_and_the_other_feeds_are_stored(db, server, monkeypatch):
    real = ingest_run.store_articles

    def store(conn, feed_id, records, fetched_at):
        if any("poison" in r.title for r in records):
            conn.execute(sa.text("SELECT 1 / 0"))
        return real(conn, feed_id, records, fetched_at)

    monkeypatch.setattr(ingest_run, "store_articles", store)
    feeds = {"bad": server.route("/bad", Reply(body=rss({"title": "poison", "guid": "p"}),
                                                etag='"e1"')),
             "good": server.route("/good", Reply(body=rss({"title": "Fine", "guid": "g"})))}
    totals = ingest(db, feeds)
    assert totals["failed"] == 1 and totals["new"] == 1
    assert titles(db, "good") == ["Fine"] and articles(db, "bad") == []
    assert "storage failed: division by zero" in last_fetch(db, "bad")["error"]
    assert feed_row(db, "bad")["etag"] is None  # so the next run fetches it in full again


def test_tickers_from_the_watchlist_and_the_feeds_default_tickers(db, server):
    url = server.route("/ir.xml", Reply(body=rss(
        {"title": "Coca-Cola bottler results", "guid": "1", "summary": "Talks with NYSE:PEP"})))
    opts = options()
    opts.watchlist = Watchlist({"Coca-Cola": "KO"})
    ingest(db, {"ir": url}, opts, tags={"ir": {"tickers": ["CCEP"]}})
    (article,) = articles(db)
    assert article["tickers"] == ["CCEP", "KO", "PEP"]


def test_items_add_up(db, server):
    body = rss({"title": "One", "guid": "1"}, {"title": "One again", "guid": "1"},
               {"title": "", "guid": "3"}, {"title": "Two", "guid": "2"})
    url = server.route("/feed.xml", Reply(body=body))
    ingest(db, {"wire": url})
    fetch = last_fetch(db, "wire")
    assert (fetch["items_seen"], fetch["new"], fetch["duplicates"], fetch["rejected"]) == (
        4, 2, 1, 1)


def test_the_stage_on_the_bundled_samples_prints_its_summary_and_is_idempotent(db,
                                                                             demo_settings):
    settings = demo_settings
    first = run_ingest(db, settings)
    line = first.line()
    assert re.match(r"ingest: ok feeds=4 fetched=4 not_modified=0 failed=0 items=\d+ "
                    r"new=\d+ updated=0 duplicates=0 rejected=0 flagged=0$", line), line
    assert first.counts["new"] == first.counts["items"] >= 150
    second = run_ingest(db, settings)
    assert second.counts["new"] == 0 and second.counts["duplicates"] == first.counts["new"]


def test_feedparser_for_every_feed_stores_the_same_articles(db, demo_settings):
    """SENTINEL_FAST_PARSE=false reaches the stage, and the bundled samples (which the fast path
    reads) end up stored exactly as feedparser reads them."""
    settings = demo_settings
    now = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    volatile = {"id", "fetched_at", "updated_at"}

    def stored() -> list[dict]:
        return [{k: v for k, v in a.items() if k not in volatile} for a in articles(db)]

    calls = []
    real = ingest_run.ParsePool.run

    def run(pool, body, context):
        calls.append(pool.fast_parse)
        return real(pool, body, context)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ingest_run.ParsePool, "run", run)
        run_ingest(db, settings, now=now)
        fast = stored()
        with db.begin() as conn:
            conn.execute(sa.text("TRUNCATE article, article_feed, feed_fetch, feed "
                                 "RESTART IDENTITY CASCADE"))
        run_ingest(db, settings.model_copy(update={"fast_parse": False}), now=now)
    assert calls == [True] * 4 + [False] * 4
    assert len(fast) >= 150 and stored() == fast


def test_the_bundled_samples_bring_their_own_watchlist(db, demo_settings, tmp_path):
    settings = demo_settings
    run_ingest(db, settings)
    by_title = {a["title"]: a["tickers"] for a in articles(db)}
    assert by_title["Justice Department opens criminal probe into Halvorsen Pharmaceuticals"] == [
        "HLVP"]
    # a configured feeds file without a watchlist gets none (the samples' is theirs alone)
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds: []\n")
    assert ingest_run.IngestOptions.from_settings(
        settings.model_copy(update={"feeds_file": feeds})).watchlist is None
    assert ingest_run.IngestOptions.from_settings(settings).watchlist.find(
        "Halvorsen Pharmaceuticals") == {"HLVP"}
