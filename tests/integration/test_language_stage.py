"""End to end (issue 13): a feed of Chinese headlines served on 127.0.0.1 is stored with its
language, gets no classification from the English-only shipped model, is marked as such, is
not counted in the rollups, and `sentinel status` says how many per feed; mojibake from a
badly encoded feed is repaired and flagged."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from feedserver import FeedServer, Reply
from ingestkit import articles, ingest

from sentinel.alerts.rollup import update_rollups
from sentinel.classify.stage import classify_pending
from sentinel.db.models import AlertRollup, Article, Classification
from sentinel.options import classify_options
from sentinel.status import collect_status, render_status, unread_language_counts

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "language" / "headlines.tsv"
CHINESE = [line.split("\t", 1)[1].strip() for line in FIXTURE.read_text().splitlines()
           if line.startswith("zh\t")]
ENGLISH = ["Orrin Motors shares fall after the recall widens",
           "Harbor Bank raises its dividend for the third year",
           "Oil prices slip as stockpiles grow"]


def rss(titles: list[str], prefix: str) -> bytes:
    items = "".join(
        f"<item><title>{t}</title><guid isPermaLink='false'>{prefix}-{i}</guid>"
        f"<pubDate>Sun, 29 Nov 2026 09:{i:02d}:00 +0000</pubDate></item>"
        for i, t in enumerate(titles))
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>{prefix}"
            f"</title>{items}</channel></rss>").encode()


@pytest.fixture
def stage_settings(settings):
    return settings.model_copy(update={"precision": "fp32", "device": "cpu"})


def test_chinese_feed_is_stored_with_its_language_and_left_unclassified(db, stage_settings):
    mojibake = "Americaâ€™s banks face a debt reckoning"
    with FeedServer() as server:
        feeds = {"zh-wire": server.route("/zh", Reply(body=rss(CHINESE, "zh"))),
                 "en-wire": server.route("/en", Reply(body=rss([*ENGLISH, mojibake], "en")))}
        totals = ingest(db, feeds)
    assert totals["new"] == len(CHINESE) + len(ENGLISH) + 1
    assert {a["language"] for a in articles(db, "zh-wire")} == {"zh"}
    english = articles(db, "en-wire")
    assert {a["language"] for a in english} == {"en"}
    repaired = [a for a in english if "mojibake_repaired" in a["flags"]]
    assert [a["title"] for a in repaired] == ["America’s banks face a debt reckoning"]

    counts = classify_pending(db, classify_options(stage_settings))
    assert counts["classified"] == len(ENGLISH) + 1
    assert counts["unread_language"] == len(CHINESE)
    with db.connect() as conn:
        rows = conn.execute(sa.select(Article.language, Classification)
                            .join(Classification, Classification.article_id == Article.id)
                            ).mappings().all()
    for row in rows:
        if row["language"] == "zh":
            assert row["sentiment"] is None and row["topic"] is None
            assert row["p_negative"] is None and row["unread_language"] == "zh"
        else:
            assert row["sentiment"] in ("negative", "neutral", "positive")
            assert row["topic"] is not None and row["unread_language"] is None

    # a rerun classifies nothing again (the withheld verdicts are stored, not pending)
    assert classify_pending(db, classify_options(stage_settings))["classified"] == 0

    with db.begin() as conn:
        model_id = rows[0]["model_id"]
        update_rollups(conn, model_id, stage_settings.bucket_minutes)
        everything = conn.scalar(sa.select(sa.func.sum(AlertRollup.total)).where(
            AlertRollup.model_id == model_id, AlertRollup.segment_kind == "all"))
        sources = dict(conn.execute(
            sa.select(AlertRollup.segment_value, sa.func.sum(AlertRollup.total))
            .where(AlertRollup.segment_kind == "source").group_by(AlertRollup.segment_value)
        ).all())
        assert everything == len(ENGLISH) + 1
        assert sources == {"en-wire": len(ENGLISH) + 1}  # zh-wire counts nowhere
        assert unread_language_counts(conn) == {"zh-wire": {"zh": len(CHINESE)}}
        text = render_status(collect_status(conn))
    assert "not classified, in a language the model does not read:" in text
    assert "zh-wire" in text and f"zh={len(CHINESE)}" in text

    # the report's feed table says it too, for the period asked
    from datetime import UTC, datetime

    from sentinel.report.render import write_report
    from sentinel.status import unread_articles_per_feed

    start, end = datetime(2026, 11, 28, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)
    with db.connect() as conn:
        assert unread_articles_per_feed(conn, start, end) == {"zh-wire": len(CHINESE)}
        assert unread_articles_per_feed(conn, end, end.replace(day=30, hour=1)) == {}
    report = write_report(db, start, end, Path(stage_settings.data_dir) / "report",
                          language_counts=unread_articles_per_feed)
    page = report.html_path.read_text()
    assert "Unsupported language" in page
    row = page[page.index("zh-wire</td>"):]
    assert f'data-label="Unsupported language">{len(CHINESE)}</td>' in row[:row.index("</tr>")]
