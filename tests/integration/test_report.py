"""The HTML report: what it reads, what it writes, that hostile feed text stays text, bounded
periods (issue 14: memory does not grow with the range), the unsupported-language seam, the CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from analyst_data import HOSTILE_TITLES, add_article, at, load_sample, load_week
from dbkit import empty_tables

from sentinel.db.models import Alert
from sentinel.errors import SentinelError
from sentinel.report.data import Segment, collect_report_data
from sentinel.report.period import MAX_PERIOD, check_period
from sentinel.report.render import (
    safe_url,
    section_alerts,
    section_feeds,
    section_summary,
    write_report,
)

UNTIL = datetime(2026, 11, 29, 12, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=7)
SECTIONS = ("summary", "alerts", "overview", "topic-sentiment", "headlines", "feed-health")


@pytest.fixture(scope="module")
def week_report(engine, tmp_path_factory):
    """The week's report, written once for the module (then the tables are emptied)."""
    out = tmp_path_factory.mktemp("week-report")
    try:
        load_week(engine, UNTIL)
        report = write_report(engine, SINCE, UNTIL, out)
    finally:
        empty_tables(engine)
    return report, report.html_path.read_text(encoding="utf-8")


@pytest.fixture
def week(db):
    return load_week(db, UNTIL)


def test_report_files_are_self_contained(week_report):
    report, page = week_report
    assert report.html_path.name == "report.html"
    assert [p.name for p in report.chart_paths] == ["overview.svg", "topic_sentiment.svg",
                                                    "alert-0.svg", "alert-1.svg"]
    for path in report.chart_paths:  # the files are the charts the page shows
        svg = path.read_text(encoding="utf-8")
        assert svg.startswith("<?xml") and svg[svg.index("<svg"):] in page
    assert page.count('<figure class="chart"') == 4
    # nothing to fetch: no src; every href is an anchor in the page, a headline's https link
    # (which only a click follows) or an image inside a chart (a colour bar) as a data URI
    assert re.findall(r'src="', page) == []
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(re.match(r"#|https://|data:image/png;base64,", h) for h in hrefs)
    assert "<link" not in page and "<script" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    for section in SECTIONS:
        assert f'<section id="{section}">' in page


def test_hostile_feed_text_is_escaped_and_unsafe_links_are_dropped(week_report):
    _, page = week_report
    for title in HOSTILE_TITLES:
        assert title not in page
        assert title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
            '"', "&quot;") in page
    assert "javascript:" not in page
    # the javascript: headline is still listed, as plain text; https ones are links
    assert "<li>&lt;script&gt;document.title" in page
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
    data = collect_report_data(db, SINCE, UNTIL)
    with db.connect() as conn:
        expected = conn.execute(sa.text(
            "SELECT count(*), count(*) FILTER (WHERE c.sentiment = 'negative') FROM article a "
            "JOIN classification c ON c.article_id = a.id "
            "WHERE a.published_at >= :s AND a.published_at < :u"), {"s": SINCE, "u": UNTIL}).one()
    assert (data.totals["classified"], data.totals["negative"]) == tuple(expected)
    assert data.totals["articles"] == data.totals["classified"]
    # the open alert first, then the resolved one; a panel each, with its evidence
    assert [a["dedup_key"] for a in data.alerts] == ["ticker:HLVP", "topic:Macro"]
    hlvp = data.panels[0]
    burst = UNTIL - timedelta(hours=6)
    assert hlvp.notified is None and hlvp.payload["window_start"] == burst.isoformat()
    assert [h["title"] for h in hlvp.payload["headlines"]][:3] == HOSTILE_TITLES
    assert hlvp.payload["negative"] >= 8 and "tickers @> ARRAY['HLVP']" in hlvp.payload["sql"]
    assert len(hlvp.series) == 48 and hlvp.series["observed"][burst] == hlvp.payload["negative"]
    assert hlvp.series.index[-1] < UNTIL <= hlvp.series.index[-1] + timedelta(hours=1)
    # overview: all news, then the segments that alerted
    assert data.segments == [Segment("all", "all"), Segment("ticker", "HLVP"),
                             Segment("topic", "Macro")]
    overview = data.overview[Segment("ticker", "HLVP")]
    assert overview.index[0] == SINCE and len(overview) == 7 * 24
    assert overview.loc[burst, "observed"] == hlvp.payload["negative"]
    assert int(data.heatmap.to_numpy().sum()) == expected[0]
    assert list(data.heatmap.columns) == ["negative", "neutral", "positive"]
    shares = data.heatmap["negative"] / data.heatmap.sum(axis=1)
    assert list(shares) == sorted(shares, reverse=True)
    # the other headlines: none quoted above, ranked by p(negative) x recency
    quoted = {h["article_id"] for p in data.panels for h in p.payload["headlines"]}
    assert len(data.headlines) == 20 and not quoted & {h["article_id"] for h in data.headlines}
    score = [h["p_negative"] * 0.5 ** ((UNTIL - h["published_at"]) / timedelta(hours=24))
             for h in data.headlines]
    assert score == sorted(score, reverse=True)
    assert data.unsupported_language is None


def test_expected_is_the_median_and_the_band_the_range_of_the_previous_seven_days(db):
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
    frame = data.overview[Segment("all", "all")]
    assert frame.loc[at(9), "observed"] == 2 and frame.loc[at(10), "observed"] == 1
    assert tuple(frame.loc[at(9), ["expected", "low", "high"]]) == (2.0, 0.0, 5.0)
    assert tuple(frame.loc[at(10), ["expected", "low", "high"]]) == (0.0, 0.0, 0.0)


def test_empty_database_still_gives_a_report(db, tmp_path):
    page = write_report(db, SINCE, UNTIL, tmp_path).html_path.read_text(encoding="utf-8")
    assert "No alert was open during this period." in page
    assert "No other article in this period is classified negative." in page
    assert "No feeds configured." in page
    assert "<figure" not in page and page.count("No classified articles in this period.") == 2


@pytest.mark.parametrize("since, until, needle", [
    (UNTIL, UNTIL, "period is empty"),
    (UNTIL, SINCE, "pass an earlier --since"),
    (SINCE.replace(tzinfo=None), UNTIL, "timezone-aware"),
    (datetime(1799, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC),
     "report --since 1799-01-01T00:00:00+00:00 is outside the dates a report covers"),
    (datetime(1, 1, 1, tzinfo=UTC), None, "outside the dates a report covers (1970-01-01"),
    (None, datetime(1, 1, 8, tzinfo=UTC), "report --until 0001-01-08"),
    (datetime(1990, 1, 1, tzinfo=UTC), UNTIL, "is 13,481 days long; a report covers at most 366"),
])
def test_bad_periods_are_explained(db, tmp_path, since, until, needle):
    with pytest.raises(SentinelError, match=re.escape(needle)):
        write_report(db, since, until, tmp_path, now=UNTIL)
    assert not (tmp_path / "report.html").exists()


def test_the_period_defaults_to_the_last_seven_days_and_may_be_a_year():
    assert check_period(None, None, now=UNTIL) == (SINCE, UNTIL)
    assert check_period(UNTIL - MAX_PERIOD, UNTIL, now=UNTIL) == (UNTIL - MAX_PERIOD, UNTIL)


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
    assert 'id="alert-1"' in path.read_text(encoding="utf-8")
    default = sentinel("report", env=env, cwd=tmp_path)  # last 7 days into DATA_DIR
    assert default.returncode == 0, default.stderr
    assert default.stdout.strip().endswith(str(tmp_path / "data" / "reports" / "latest" /
                                               "report.html"))
    bad = sentinel("report", "--since", "yesterday", env=env, cwd=tmp_path)
    assert bad.returncode == 2 and "ISO 8601" in bad.stderr
    empty = sentinel("report", "--since", "2026-11-29T12:00Z", "--until", "2026-11-29T12:00Z",
                     env=env, cwd=tmp_path)
    assert empty.returncode == 1 and empty.stderr.startswith("error: report period is empty")


PEAK_RSS = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=600)
sys.stderr.write(done.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)  # KiB, the command's peak
sys.exit(done.returncode)
"""


def peak(*args: str, env: dict[str, str], cwd: Path) -> tuple[subprocess.CompletedProcess, int]:
    """Run `sentinel ARGS` in a fresh process and measure its peak resident memory (KiB)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, sys.executable, "-m", "sentinel",
                           *args], capture_output=True, text=True, env={**base, **env}, cwd=cwd,
                          timeout=660)
    return done, int(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [
    ("--since", "1799-01-01T00:00Z", "--until", "2027-01-01T00:00Z"),  # issue 14's probes
    ("--since", "0001-01-01T00:00Z"),
])
def test_an_unbounded_period_is_refused_in_one_line(db, database_url, tmp_path, args):
    env = {"SENTINEL_DATABASE_URL": database_url, "SENTINEL_DATA_DIR": str(tmp_path / "data")}
    done, rss = peak("report", *args, env=env, cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.startswith("error: report ")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert rss < 1024 * 1024, f"peak memory {rss} KiB"


def test_a_year_long_report_stays_small(db, week, database_url, tmp_path):
    """The longest period allowed, over two weeks of data and a year of empty buckets: memory
    follows the buckets drawn (aggregated in SQL), not the period's articles."""
    env = {"SENTINEL_DATABASE_URL": database_url, "SENTINEL_DATA_DIR": str(tmp_path / "data")}
    done, rss = peak("report", "--since", (UNTIL - MAX_PERIOD).isoformat(), "--until",
                     UNTIL.isoformat(), "--out", "year", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "year" / "report.html").read_text(encoding="utf-8")
    assert "per day" in page and page.count('<figure class="chart"') == 4
    assert rss < 1024 * 1024, f"peak memory {rss} KiB"


def test_unclassified_articles_are_pointed_out(db):
    load_sample(db)  # a6 (stale) and a7 (old model only) have no current classification
    page = section_summary(collect_report_data(db, at(0), at(0, day=21)))
    assert "2 of these articles have no classification by the active model yet" in page
    assert '<div class="n">7</div><div class="k">articles</div>' in page
    assert '<div class="n">60%</div><div class="k">negative share</div>' in page  # 3 of 5


def test_unsupported_language_counts_are_shown_only_when_given(db):
    """The seam for language identification: counts per feed come from a function given to
    the report; without one the report shows no such column (nothing made up)."""
    load_sample(db)
    asked = []

    def counts(conn, since, until):
        asked.append((since, until))
        return {"Ledger Wire": 4, "Quiet Wire": 0}

    data = collect_report_data(db, at(0), at(0, day=21), language_counts=counts)
    assert asked == [(at(0), at(0, day=21))] and data.unsupported_language == {
        "Ledger Wire": 4, "Quiet Wire": 0}
    table = section_feeds(data)
    assert "<th>Unsupported language</th>" in table
    cells = re.findall(r'data-label="Feed">([^<]+)</td>.*?'
                       r'data-label="Unsupported language">(\d+)</td>', table)
    assert dict(cells) == {"Harbor Street": "0", "Ledger Wire": "4", "Quiet Wire": "0",
                           "Retired Wire": "0"}
    without = section_feeds(collect_report_data(db, at(0), at(0, day=21)))
    assert "language" not in without.lower() and "Ledger Wire" in without


def test_many_alerts_are_counted_all_drawn_at_most_six_and_listed_at_most_fifty(db):
    sample = load_sample(db)
    with db.begin() as conn:
        conn.execute(sa.insert(Alert), [{
            "dedup_key": f"ticker:T{i}", "segment_kind": "ticker", "segment_value": f"T{i}",
            "state": "resolved", "window_start": at(0) + timedelta(hours=i),
            "window_end": at(1) + timedelta(hours=i), "observed": 5, "expected": 1.0,
            "started_at": at(0) + timedelta(hours=i), "resolved_at": at(2) + timedelta(hours=i)}
            for i in range(55)])
    data = collect_report_data(db, at(0), at(0, day=24))
    assert len(sample.alerts) + 55 == data.alerts[0]["alerts_in_period"] == 58
    assert len(data.alerts) == 50 and len(data.panels) == 6
    assert [p.alert["dedup_key"] for p in data.panels][:2] == ["all", "ticker:HLVP"]  # open
    page = section_alerts(data, [None] * 6)
    assert "Panels for the 6 most recent alerts; the table lists the 50 most recent of 58." \
        in page and "Alerts in this period (58)" in page
    assert page.count('<article class="alert"') == 6
    assert page.count("data-label=\"Segment\"") == 50
