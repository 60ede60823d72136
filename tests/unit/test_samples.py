from datetime import UTC, datetime, timedelta

import feedparser

from sentinel.samples import bundled_sample_feeds, shift_feed_text, stage_sample_feeds

SAMPLES = bundled_sample_feeds()


def test_shift_moves_rss_and_atom_dates_by_the_same_offset():
    text = ("<pubDate>Sun, 29 Nov 2026 12:00:00 +0000</pubDate>"
            "<updated>2026-11-29T11:00:00Z</updated><published>2026-11-28T11:00:00+01:00</published>")
    moved = shift_feed_text(text, timedelta(hours=2, minutes=30))
    assert "<pubDate>Sun, 29 Nov 2026 14:30:00 +0000</pubDate>" in moved
    assert "<updated>2026-11-29T13:30:00Z</updated>" in moved
    assert "<published>2026-11-28T12:30:00Z</published>" in moved


def test_staged_samples_end_now_and_span_a_week(tmp_path):
    now = datetime(2027, 3, 4, 9, 17, tzinfo=UTC)
    feeds_file = stage_sample_feeds(SAMPLES, tmp_path, now)
    stamps = []
    for xml in tmp_path.glob("*.xml"):
        parsed = feedparser.parse(xml.read_bytes())
        assert not parsed.bozo, xml
        stamps += [datetime(*e.published_parsed[:6], tzinfo=UTC) for e in parsed.entries]
    assert timedelta(0) <= now - max(stamps) < timedelta(minutes=15)
    assert timedelta(days=6) < now - min(stamps) <= timedelta(days=7, hours=1)
    assert "file://" in feeds_file.read_text()
    assert len(list(tmp_path.glob("*.xml"))) == len(list(SAMPLES.glob("*.xml"))) >= 4


def test_samples_hold_a_recent_negative_burst_about_one_ticker():
    recent_hlvp = 0
    for xml in SAMPLES.glob("*.xml"):
        for entry in feedparser.parse(xml.read_bytes()).entries:
            when = datetime(*entry.published_parsed[:6], tzinfo=UTC)
            if "Halvorsen" in entry.title and when > datetime(2026, 11, 29, 10, tzinfo=UTC):
                recent_hlvp += 1
    assert recent_hlvp >= 15


def test_the_package_reads_the_repository_samples_and_queries_through_its_links():
    from pathlib import Path

    from sentinel.report.queries import queries_dir

    repo = Path(__file__).resolve().parents[2]
    assert SAMPLES.resolve() == repo / "examples" / "feeds"
    assert queries_dir().resolve() == repo / "sql" / "queries"
