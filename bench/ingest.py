"""Ingest throughput: Sentinel's ingest stage against a naive baseline, on the same feeds.

    python bench/ingest.py                          # 50 feeds x 200 entries, embedded PostgreSQL
    python bench/ingest.py --feeds 100 --entries 200 --naive-feeds 20

Feeds: generated RSS 2.0 and Atom 1.0 (fictional companies, HTML summaries, cashtags and
exchange tickers, tracking parameters, a mix of URL, tag: and local guids), written to a temp
directory. Database: ``SENTINEL_DATABASE_URL`` when set (the bench then works in a schema of its
own, ``sentinel_bench``, dropped at the end), else a throw-away embedded PostgreSQL. Measured:

- sentinel: ``ingest_feeds`` over the feeds as file:// URLs: read, parse (feedparser, with the
  safety checks), normalise, dedupe, one set-based upsert and link per feed, health records;
  best of ``--repeat`` runs, each on emptied tables;
- rerun: the same feeds again (nothing new: the idempotent path);
- naive: ``feedparser.parse`` per feed, then one ORM ``Article`` added and committed per entry
  (on ``--naive-feeds`` of the feeds; entries/s is per entry, so the subset is fair).

Last line: ``RESULT entries_per_s=<n> naive_entries_per_s=<n> ratio=<x>``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import feedparser  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from sentinel.db.migrate import upgrade  # noqa: E402
from sentinel.db.models import Article  # noqa: E402
from sentinel.ingest.feeds import FeedConfig  # noqa: E402
from sentinel.ingest.fetch import FetchOptions  # noqa: E402
from sentinel.ingest.normalize import Watchlist  # noqa: E402
from sentinel.ingest.run import (  # noqa: E402
    IngestOptions,
    default_parse_processes,
    ingest_feeds,
    load_feed_states,
)

COMPANIES = [
    ("Orrin Motors", "ORRN", "NASDAQ"), ("Kestrel Bank", "KBNK", "NYSE"),
    ("Halvorsen Pharmaceuticals", "HLVP", "NYSE"), ("Fenwick Foods", "FNWK", "NASDAQ"),
    ("Brannock Steel", "BRNK", "NYSE"), ("Lumen Bank", "LUMB", "LSE"),
    ("Vantor Energy", "VNTR", "NYSE"), ("Quarry Mining", "QRRY", "TSX"),
    ("Atlas Freight", "ATLF", "NASDAQ"), ("Marlow Chemicals", "MRLW", "LSE"),
    ("Grayline Shipping", "GRAY", "NYSE"), ("Tamsin Retail", "TMSN", "NASDAQ"),
]
EVENTS = [
    "shares jump after earnings beat estimates", "stock falls as revenue misses forecasts",
    "raises quarterly dividend", "announces acquisition of a smaller rival",
    "CEO steps down amid investigation", "faces lawsuit over disclosures",
    "cuts full-year outlook", "wins regulatory approval for new plant",
    "downgraded to sell by analysts", "hits record high on strong demand",
]
# One feed in ten is in another language (language identification runs past its English
# gate), and one English headline in fifty arrives as mojibake (the ftfy repair runs).
FOREIGN = [
    "沪指收跌1.2%，银行板块领跌", "宁德时代第三季度净利润同比增长25%",
    "DAX schließt mit deutlichen Verlusten", "Siemens hebt Prognose für das Gesamtjahr an",
    "Le CAC 40 termine en forte baisse", "LVMH publie un chiffre d'affaires record",
    "El Ibex 35 cierra con una caída del 2%", "Inditex eleva sus ventas y gana más",
]
WORDS = ["market", "investors", "shares", "quarter", "revenue", "guidance", "analysts",
         "outlook", "margin", "demand", "supply", "costs", "growth", "earnings", "forecast",
         "regulators", "board", "deal", "trading", "volume"]


def generate_feed(index: int, entries: int, now: datetime) -> bytes:
    """One feed: RSS 2.0 for three feeds in four, Atom 1.0 for the rest."""
    rng = random.Random(index)
    host = f"news{index}.example.com"
    atom = index % 4 == 3
    items = []
    for i in range(entries):
        name, ticker, exchange = rng.choice(COMPANIES)
        title = f"{name} {rng.choice(EVENTS)}"
        if index % 10 == 9:
            title = f"{name}: {rng.choice(FOREIGN)}"
        elif rng.random() < 0.02:
            title = f"{name}â€™s {rng.choice(EVENTS)}"
        if rng.random() < 0.3:
            title += f" (${ticker})"
        elif rng.random() < 0.3:
            title += f" ({exchange}:{ticker})"
        body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 70)))
        summary = f"<p>{escape(name)} said {body}.</p><p><a href='https://{host}/x'>More</a></p>"
        link = f"https://{host}/{now:%Y/%m}/{index}-{i}-{ticker.lower()}?utm_source=rss&amp;id={i}"
        when = now - timedelta(minutes=7 * i + rng.randint(0, 6))
        guid_kind = (index + i) % 3
        guid = (f"https://{host}/{now:%Y/%m}/{index}-{i}-{ticker.lower()}" if guid_kind == 0
                else f"tag:{host},2026:{i}" if guid_kind == 1 else f"{index}-{i}")
        if atom:
            items.append(
                f"<entry><title>{escape(title)}</title><link rel='alternate' href='{link}'/>"
                f"<id>{guid}</id><published>{when:%Y-%m-%dT%H:%M:%S}+00:00</published>"
                f"<updated>{when:%Y-%m-%dT%H:%M:%S}+00:00</updated>"
                f"<summary type='html'>{escape(summary)}</summary></entry>")
        else:
            items.append(
                f"<item><title>{escape(title)}</title><link>{link}</link>"
                f"<guid isPermaLink='{'true' if guid_kind == 0 else 'false'}'>{guid}</guid>"
                f"<pubDate>{format_datetime(when)}</pubDate><category>Markets</category>"
                f"<description>{escape(summary)}</description></item>")
    if atom:
        return (f"<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
                f"<title>News {index}</title><id>tag:{host},2026:feed</id>"
                f"<updated>{now:%Y-%m-%dT%H:%M:%SZ}</updated>{''.join(items)}</feed>").encode()
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            f"<title>News {index}</title><link>https://{host}/</link><description>Bench"
            f"</description>{''.join(items)}</channel></rss>").encode()


def cpu_seconds() -> float:
    """CPU time of this process, all threads (the database server's is not included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def open_database(url: str | None, workdir: Path) -> tuple[sa.Engine, str]:
    """A migrated, empty database: a schema of its own in ``url``, or an embedded server."""
    if url:
        schema = "sentinel_bench"
        admin = sa.create_engine(url)
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        admin.dispose()
        engine = sa.create_engine(url, connect_args={
            "options": f"-c timezone=UTC -c search_path={schema}"})
        where = f"{sa.make_url(url).render_as_string(hide_password=True)} schema {schema}"
    else:
        from sentinel.db.embedded import start_embedded

        engine = sa.create_engine(start_embedded(workdir / "pgdata"),
                                  connect_args={"options": "-c timezone=UTC"})
        where = "embedded PostgreSQL (temporary)"
    upgrade(engine)
    return engine, where


def empty(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE article, article_feed, feed_fetch, feed "
                             "RESTART IDENTITY CASCADE"))


def run_sentinel(engine: sa.Engine, paths: list[Path], options: IngestOptions) -> dict:
    configs = [FeedConfig(name=p.stem, url=p.as_uri()) for p in paths]
    feeds = load_feed_states(engine, configs)
    return ingest_feeds(engine, feeds, options)


def run_naive(engine: sa.Engine, paths: list[Path]) -> int:
    """feedparser.parse per feed; one ORM insert + commit per entry."""
    stored = 0
    now = datetime.now(UTC)
    for path in paths:
        parsed = feedparser.parse(path.read_bytes())
        for entry in parsed.entries:
            title, summary = entry.get("title", ""), entry.get("summary", "")
            published = entry.get("published_parsed")
            with Session(engine) as session:
                session.add(Article(
                    identity=f"{path.stem}:{entry.get('id') or entry.get('link')}",
                    guid=entry.get("id"), url=entry.get("link"), title=title, summary=summary,
                    published_at=datetime(*published[:6], tzinfo=UTC) if published else now,
                    fetched_at=now, tickers=[],
                    content_hash=hashlib.sha256(f"{title}\x1f{summary}".encode()).hexdigest()))
                session.commit()
            stored += 1
    return stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--entries", type=int, default=200, help="entries per feed")
    parser.add_argument("--naive-feeds", type=int, default=10,
                        help="feeds the (slow) naive baseline ingests")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--processes", type=int, default=default_parse_processes(),
                        help="parse processes (default: what the ingest stage uses here; "
                        "0: threads only)")
    parser.add_argument("--database-url", default=os.environ.get("SENTINEL_DATABASE_URL"))
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="sentinel-bench-ingest-"))
    try:
        engine, where = open_database(args.database_url, workdir)
        now = datetime.now(UTC).replace(microsecond=0)
        feeds_dir = workdir / "feeds"
        feeds_dir.mkdir()
        paths = []
        for i in range(args.feeds):
            path = feeds_dir / f"feed-{i:03d}.xml"
            path.write_bytes(generate_feed(i, args.entries, now))
            paths.append(path)
        total = args.feeds * args.entries
        size = sum(p.stat().st_size for p in paths) / 1e6
        print(f"feeds={args.feeds} entries={total} ({size:.1f} MB) database: {where} "
              f"cpus={os.cpu_count()} parse processes={args.processes}")
        watchlist = Watchlist({name: ticker for name, ticker, _ in COMPANIES})
        options = IngestOptions(fetch=FetchOptions(allowed_roots=(feeds_dir,)),
                                watchlist=watchlist, parse_processes=args.processes)

        best = float("inf")
        for attempt in range(1, args.repeat + 1):
            empty(engine)
            started, cpu = time.perf_counter(), cpu_seconds()
            totals = run_sentinel(engine, paths, options)
            elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
            assert totals["new"] == total and totals["failed"] == 0, totals
            best = min(best, elapsed)
            print(f"sentinel run {attempt}: {total} entries in {elapsed:.2f} s "
                  f"= {total / elapsed:,.0f} entries/s (this process: {cpu / total * 1e6:.0f} "
                  f"us CPU per entry, {cpu / elapsed:.0%} of one core)")
        started = time.perf_counter()
        again = run_sentinel(engine, paths, options)
        rerun = time.perf_counter() - started
        assert again["new"] == 0 and again["duplicates"] == total, again
        print(f"rerun (nothing new, all duplicates): {rerun:.2f} s "
              f"= {total / rerun:,.0f} entries/s")

        empty(engine)
        naive_paths = paths[: max(1, min(args.naive_feeds, len(paths)))]
        started = time.perf_counter()
        naive_total = run_naive(engine, naive_paths)
        naive_elapsed = time.perf_counter() - started
        print(f"naive: {naive_total} entries ({len(naive_paths)} feeds) in {naive_elapsed:.2f} s "
              f"= {naive_total / naive_elapsed:,.0f} entries/s")

        ours, naive = total / best, naive_total / naive_elapsed
        print(f"sentinel best of {args.repeat}: {ours:,.0f} entries/s, "
              f"{ours / naive:.1f}x the naive baseline")
        print(f"RESULT entries_per_s={ours:.0f} naive_entries_per_s={naive:.0f} "
              f"ratio={ours / naive:.1f}")
        if args.database_url:
            with engine.begin() as conn:
                conn.execute(sa.text("DROP SCHEMA IF EXISTS sentinel_bench CASCADE"))
        engine.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
