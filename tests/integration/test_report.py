"""The HTML report: what it reads, what it writes, that hostile feed text stays text, the CLI."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from analyst_data import HOSTILE_TITLES, add_article, at, load_sample, load_week

from sentinel.errors import SentinelError
from sentinel.report.data import Segment, collect_report_data
from sentinel.report.render import safe_url, write_report

UNTIL = datetime(2026, 11, 29, 12, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=7)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def week(db):
    return load_week(db, UNTIL)


def test_report_files_are_self_contained(db, week, tmp_path):
    report = write_report(db, SINCE, UNTIL, tmp_path / "out")
    page = report.html_path.read_text(encoding="utf-8")
    assert report.html_path == tmp_path / "out" / "report.html"
    assert [p.name for p in report.png_paths] == ["negative_volume.png", "topic_sentiment.png"]
    embedded = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert [base64.b64decode(e) for e in embedded] == [p.read_bytes() for p in report.png_paths]
    assert all(p.read_bytes().startswith(PNG) for p in report.png_paths)
    # nothing to fetch: every src is a data URI, no stylesheet or script is linked
    assert re.findall(r'src="(?!data:)', page) == []
    assert "<link" not in page and "<script" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    for section in ("summary", "alerts", "negative-volume", "topic-sentiment", "headlines",
                    "feed-health"):
        assert f'<section id="{section}">' in page


def test_hostile_feed_text_is_escaped_and_unsafe_links_are_dropped(db, week, tmp_path):
    page = write_report(db, SINCE, UNTIL, tmp_path).html_path.read_text(encoding="utf-8")
    for title in HOSTILE_TITLES:
        assert title not in page
        assert title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
            '"', "&quot;") in page
    assert "javascript:" not in page
    # the javascript: headline is still listed, as plain text; https ones are links
    assert '<li><span' not in page and "&lt;script&gt;document.title" in page
    assert '<a href="https://ledgerwire.example.net/burst/1" rel="noopener noreferrer nofollow">' \
        in page


@pytest.mark.parametrize("url, safe", [
    ("https://example.com/a?b=1&c=2", True), ("http://example.com", True),
    ("javascript:alert(1)", False), ("JAVASCRIPT:alert(1)", False), (" javascript:x", False),
    ("java\tscript:x", False), ("data:text/html,<b>x</b>", False), ("//evil.example", False),
    ("https:evil", False), (None, False), ("", False),
])
def test_safe_url(url, safe):
    assert safe_url(url) == (url if safe else None)


def test_report_data_reads_the_period(db, week):
    data = collect_report_data(db, SINCE, UNTIL, top_segments=3)
    with db.connect() as conn:
        expected = conn.execute(sa.text(
            "SELECT count(*), count(*) FILTER (WHERE c.sentiment = 'negative') FROM article a "
            "JOIN classification c ON c.article_id = a.id "
            "WHERE a.published_at >= :s AND a.published_at < :u"), {"s": SINCE, "u": UNTIL}).one()
    assert (data.totals["classified"], data.totals["negative"]) == tuple(expected)
    assert data.totals["articles"] == data.totals["classified"]
    # all news first, then the alerted segments (the open HLVP alert's ratio is higher)
    assert data.segments[:3] == [Segment("all", "all"), Segment("ticker", "HLVP"),
                                 Segment("topic", "Macro")]
    assert len(data.segments) == 4
    assert [a["dedup_key"] for a in data.alerts] == ["ticker:HLVP", "topic:Macro"]
    assert int(data.heatmap.to_numpy().sum()) == expected[0]
    assert list(data.heatmap.columns) == ["negative", "neutral", "positive"]
    shares = data.heatmap["negative"] / data.heatmap.sum(axis=1)
    assert list(shares) == sorted(shares, reverse=True)
    p_negative = [h["p_negative"] for h in data.headlines]
    assert len(p_negative) == 20 and p_negative == sorted(p_negative, reverse=True)
    assert data.hourly.index[0] == SINCE and len(data.hourly) == 7 * 24
    burst = UNTIL - timedelta(hours=6)
    assert data.hourly.loc[burst, ("ticker: HLVP", "negative")] >= 8


def test_expected_is_the_median_of_the_same_hour_on_the_previous_seven_days(db):
    sample = load_sample(db)
    with db.begin() as conn:
        for days_back, count in zip(range(1, 8), [1, 2, 3, 0, 0, 5, 4], strict=True):
            for i in range(count):
                add_article(conn, sample, f"h{days_back}-{i}", at(9, 5) - timedelta(days=days_back),
                            "history", None, ["Ledger Wire"], [], ("negative", 0.7, "Macro"))
        # the same hour 8 days back is outside the baseline
        add_article(conn, sample, "old", at(9, 5) - timedelta(days=8), "old", None, [], [],
                    ("negative", 0.7, "Macro"))
    data = collect_report_data(db, at(0), at(12))
    column = data.hourly[("all news", "negative")]
    assert column[at(9)] == 2 and column[at(10)] == 1
    assert data.hourly[("all news", "expected")][at(9)] == 2.0  # median of 1 2 3 0 0 5 4
    assert data.hourly[("all news", "expected")][at(10)] == 0.0


def test_empty_database_still_gives_a_report(db, tmp_path):
    page = write_report(db, SINCE, UNTIL, tmp_path).html_path.read_text(encoding="utf-8")
    assert "No alert was open during this period." in page
    assert "No article in this period is classified negative." in page
    assert "No feeds configured." in page


@pytest.mark.parametrize("since, until, needle", [
    (UNTIL, UNTIL, "period is empty"),
    (UNTIL, SINCE, "pass an earlier --since"),
    (SINCE.replace(tzinfo=None), UNTIL, "timezone-aware"),
])
def test_bad_periods_are_explained(db, tmp_path, since, until, needle):
    with pytest.raises(SentinelError, match=needle):
        write_report(db, since, until, tmp_path)
    assert not (tmp_path / "report.html").exists()


def sentinel(*args: str, env: dict[str, str], cwd: Path):
    base = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    return subprocess.run([sys.executable, "-m", "sentinel", *args], capture_output=True,
                          text=True, env={**base, **env}, cwd=cwd, timeout=300)


def test_cli_writes_the_report_and_prints_its_absolute_path(db, week, database_url, tmp_path):
    env = {"SENTINEL_DATABASE_URL": database_url, "SENTINEL_DATA_DIR": str(tmp_path / "data")}
    done = sentinel("report", "--since", SINCE.isoformat(), "--until", "2026-11-29T12:00Z",
                    "--out", "reports/latest", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "reports" / "latest" / "report.html"
    assert done.stdout == f"report written: {path}\n"
    assert "ticker:HLVP" in path.read_text(encoding="utf-8")
    default = sentinel("report", env=env, cwd=tmp_path)  # last 7 days into DATA_DIR
    assert default.returncode == 0, default.stderr
    assert default.stdout.strip().endswith(str(tmp_path / "data" / "reports" / "latest" /
                                               "report.html"))
    bad = sentinel("report", "--since", "yesterday", env=env, cwd=tmp_path)
    assert bad.returncode == 2 and "ISO 8601" in bad.stderr
    empty = sentinel("report", "--since", "2026-11-29T12:00Z", "--until", "2026-11-29T12:00Z",
                     env=env, cwd=tmp_path)
    assert empty.returncode == 1 and empty.stderr.startswith("error: report period is empty")


def test_unclassified_articles_are_pointed_out(db, tmp_path):
    load_sample(db)  # a6 (stale) and a7 (old model only) have no current classification
    page = write_report(db, at(0), at(0, day=21), tmp_path).html_path.read_text(encoding="utf-8")
    assert "2 of these articles have no classification by the active model yet" in page
    assert '<div class="n">7</div><div class="k">articles</div>' in page
    assert '<div class="n">60%</div><div class="k">negative share</div>' in page  # 3 of 5
