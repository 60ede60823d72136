"""The ingest stage: every configured feed fetched, parsed, normalised and stored.

Fetching, parsing and normalising run in worker threads, at most ``concurrency`` feeds at once
and at most ``per_host`` from any one host; each feed's results are written by the calling
thread in one transaction per feed (set-based statements), together with its health record.
One feed's failure is recorded on that feed (and in ``feed_fetch``) and never stops the others.
The stage has a deadline (``deadline_s``): no fetch runs past it, and a feed whose turn comes
after it is recorded as not fetched (its health untouched) and waits for the next run.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from sentinel.db.engine import lost_connection
from sentinel.db.models import Feed, FeedFetch
from sentinel.errors import ConfigError
from sentinel.ingest.feeds import (
    FeedConfig,
    check_feeds,
    load_watchlist,
    read_feeds_file,
    sync_feeds,
)
from sentinel.ingest.fetch import FetchOptions, FetchResult, fetch_feed, make_client
from sentinel.ingest.normalize import ArticleRecord, NormalizeContext, Watchlist
from sentinel.ingest.pool import ParsedBatch, ParsePool
from sentinel.ingest.store import store_articles
from sentinel.progress import track
from sentinel.redact import mask_secrets
from sentinel.samples import bundled_sample_feeds, sample_feed_entries, stage_sample_feeds
from sentinel.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
SUMMARY_KEYS = ("feeds", "fetched", "not_modified", "failed", "items", "new", "updated",
                "duplicates", "rejected", "flagged")


@dataclass
class FeedState:
    """A feed as the stage sees it: identity, URL, validators for the conditional GET."""

    id: int
    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    tags: dict[str, Any] = field(default_factory=dict)


@dataclass
class IngestOptions:
    fetch: FetchOptions = field(default_factory=FetchOptions)
    concurrency: int = 16
    per_host: int = 2
    future_skew: timedelta = timedelta(hours=24)
    watchlist: Watchlist | None = None
    parse_processes: int = 0  # >1: parse in that many processes when a run has enough feeds
    fast_parse: bool = True  # plain RSS 2.0/Atom 1.0 by sentinel.ingest.fastparse
    pool_min_feeds: int = 8
    deadline_s: float | None = None  # the whole stage; None: no deadline

    @classmethod
    def from_settings(cls, settings: Settings, extra_roots: tuple[Path, ...] = ()) -> IngestOptions:
        watchlist_file = settings.watchlist_file
        if watchlist_file is None and polls_samples(settings):  # the bundled samples' own
            sample = sample_feeds_source(settings) / "watchlist.yaml"
            watchlist_file = sample if sample.is_file() else None
        watchlist = Watchlist(load_watchlist(watchlist_file)) if watchlist_file else None
        return cls(fetch=FetchOptions.from_settings(settings, extra_roots),
                   concurrency=settings.fetch_concurrency, per_host=settings.fetch_per_host,
                   future_skew=timedelta(hours=settings.future_skew_hours), watchlist=watchlist,
                   parse_processes=default_parse_processes(), fast_parse=settings.fast_parse,
                   deadline_s=settings.ingest_deadline_s)


def default_parse_processes() -> int:
    """Parse processes for a large run: one core is left to the threads and the database, so
    below four cores parsing stays in threads (measured: a pool is slower on two)."""
    cores = os.cpu_count() or 1
    return min(cores - 1, 8) if cores >= 4 else 0


@dataclass
class Collected:
    """What a worker hands back for one feed: the fetch, the parse, the normalised records."""

    fetched: FetchResult
    fetched_at: datetime
    parsed: ParsedBatch | None = None
    records: list[ArticleRecord | None] = field(default_factory=list)
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    deferred: bool = False  # not fetched: the stage's deadline came first


def host_key(url: str) -> str:
    """What the per-host limit counts by; never raises (a URL it cannot split is its own key)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def run_bounded(items: Iterable[T], key: Callable[[T], Hashable], work: Callable[[T], R], *,
                limit: int, per_key: int) -> Iterator[tuple[T, R]]:
    """Run ``work`` over ``items`` in threads: <= ``limit`` at once, <= ``per_key`` per key.

    Results are yielded in completion order, to the calling thread. Items waiting for their
    key's slot do not occupy a thread, so one slow host never starves the others.
    """
    pending = deque(items)
    running: dict[Future, T] = {}
    active: Counter = Counter()
    pool = ThreadPoolExecutor(max_workers=max(1, limit), thread_name_prefix="ingest")
    try:
        while pending or running:
            waiting: deque = deque()
            while pending and len(running) < limit:
                item = pending.popleft()
                if active[key(item)] >= per_key:
                    waiting.append(item)
                    continue
                active[key(item)] += 1
                running[pool.submit(work, item)] = item
            pending = waiting + pending
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                item = running.pop(future)
                active[key(item)] -= 1
                yield item, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def collect_feed(client: httpx.Client, feed: FeedState, options: IngestOptions,
                 pool: ParsePool | None = None) -> Collected:
    """Fetch, parse and normalise one feed (no database); never raises. Errors are stored and
    shown, so credentials in them are masked."""
    collected = _collect(client, feed, options, pool)
    collected.error = mask_secrets(collected.error) or None
    return collected


def _collect(client: httpx.Client, feed: FeedState, options: IngestOptions,
             pool: ParsePool | None) -> Collected:
    started = time.monotonic()
    left = options.fetch.time_left()
    if left is not None and left <= 0:
        return Collected(fetched=FetchResult(feed.url), fetched_at=datetime.now(UTC),
                         deferred=True, started=started,
                         error="not fetched: the ingest stage's deadline (SENTINEL_INGEST_"
                               "DEADLINE_S) passed before its turn; the next run fetches it")
    try:
        fetched = fetch_feed(client, feed.url, etag=feed.etag, last_modified=feed.last_modified,
                             options=options.fetch)
    except Exception as exc:  # noqa: BLE001 - one feed must never stop the run
        fetched = FetchResult(feed.url, error=f"fetch failed: {type(exc).__name__}: {exc}")
    collected = Collected(fetched=fetched, fetched_at=datetime.now(UTC), started=started)
    if fetched.error or fetched.body is None:
        collected.error = fetched.error
        return collected
    context = NormalizeContext(
        scope=f"feed-{feed.id}", fetched_at=collected.fetched_at,
        feed_url=fetched.final_url or feed.url, future_skew=options.future_skew,
        watchlist=options.watchlist, default_tickers=tuple(feed.tags.get("tickers") or ()))
    try:
        batch = (pool or ParsePool(0, fast_parse=options.fast_parse)).run(fetched.body, context)
    except Exception as exc:  # noqa: BLE001
        log.exception("feed=%s: parsing failed", feed.name)
        collected.error = f"parse failed: {type(exc).__name__}: {exc}"
        return collected
    collected.parsed, collected.records, collected.error = batch, batch.records, batch.error
    return collected


def store_collected(engine: Engine, feed: FeedState, collected: Collected,
                    run_id: int | None) -> dict[str, int]:
    """Store one feed's records and health in one transaction; a storage error is recorded
    (and when even that fails, e.g. the feed's row was deleted meanwhile, logged). Only a lost
    database connection stops the stage."""
    try:
        with engine.begin() as conn:
            return _store(conn, feed, collected, run_id)
    except DBAPIError as exc:
        if exc.connection_invalidated or lost_connection(exc):
            raise
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        log.error("feed=%s: storing failed: %s", feed.name, reason)
        collected.error, collected.records = f"storage failed: {reason}", []
    try:
        with engine.begin() as conn:
            return _store(conn, feed, collected, run_id)
    except DBAPIError as exc:
        if exc.connection_invalidated or lost_connection(exc):
            raise
        log.error("feed=%s: its failure could not be recorded either: %s", feed.name,
                  str(exc.orig or exc).strip().splitlines()[0])
        return {}


def _store(conn: sa.Connection, feed: FeedState, collected: Collected,
           run_id: int | None) -> dict[str, int]:
    if collected.deferred:  # recorded, but the feed's health is not its fault
        conn.execute(sa.insert(FeedFetch).values(run_id=run_id, feed_id=feed.id,
                                                 fetched_at=collected.fetched_at,
                                                 error=collected.error, duration_ms=0))
        return {}
    fetched, parsed = collected.fetched, collected.parsed
    records = collected.records
    kept = [r for r in records if r is not None]
    flags = Counter(flag for r in kept for flag in r.flags)
    counts = {"items": len(records), "new": 0, "updated": 0, "duplicates": 0,
              "rejected": len(records) - len(kept),
              "flagged": sum(1 for r in kept if r.flags)}
    if kept and collected.error is None:
        counts.update(store_articles(conn, feed.id, kept, collected.fetched_at))
    error, ok = collected.error, collected.error is None
    values: dict[str, Any] = {
        "last_attempt_at": collected.fetched_at, "last_http_status": fetched.status,
        "last_success_at": collected.fetched_at if ok else Feed.last_success_at,
        "consecutive_failures": 0 if ok else Feed.consecutive_failures + 1,
        "last_error": None if ok else error,
    }
    if ok and fetched.status == 200:  # a 304 keeps the validators it matched (or new ones)
        values.update(etag=fetched.etag, last_modified=fetched.last_modified)
    elif ok and fetched.not_modified:
        values.update(etag=fetched.etag or Feed.etag,
                      last_modified=fetched.last_modified or Feed.last_modified)
    if fetched.gone:
        values.update(enabled=False, last_error=f"{error}: the feed is gone and is no longer "
                      "fetched; change its url in feeds.yaml to enable it again")
    health = sa.update(Feed).where(Feed.id == feed.id).values(**values).returning(Feed.id)
    conn.execute(sa.insert(FeedFetch).add_cte(health.cte("health")).values(  # one round trip
        run_id=run_id, feed_id=feed.id, fetched_at=collected.fetched_at,
        http_status=fetched.status, not_modified=fetched.not_modified,
        bozo=bool(parsed and parsed.bozo), bozo_reason=parsed.bozo_reason if parsed else None,
        error=error, items_seen=counts["items"], new=counts["new"], updated=counts["updated"],
        duplicates=counts["duplicates"], rejected=counts["rejected"],
        flags=dict(flags), duration_ms=int((time.monotonic() - collected.started) * 1000),
    ))
    log.info("feed=%s status=%s items=%d new=%d updated=%d duplicates=%d rejected=%d bozo=%s%s%s",
             feed.name, fetched.status, counts["items"], counts["new"], counts["updated"],
             counts["duplicates"], counts["rejected"], bool(parsed and parsed.bozo),
             "".join(f" {k}={v}" for k, v in sorted(flags.items())),
             f" error={error!r}" if error else "")
    return counts


@contextmanager
def short_switch_interval(seconds: float = 0.0005) -> Iterator[None]:
    """Hand the GIL between threads every ``seconds`` (CPython's default is 5 ms) while the
    stage runs. The writer thread blocks on PostgreSQL a few times per feed; when the answer
    comes, it must win the GIL back from the threads that parse, and CPython makes it wait up
    to a whole switch interval each time. With 0.5 ms the writer stops idling: bench/ingest.py
    went from about 7,900 to 10,000 entries/s here. The previous interval is restored after."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, seconds))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def ingest_feeds(engine: Engine, feeds: list[FeedState], options: IngestOptions, *,
                 run_id: int | None = None, client: httpx.Client | None = None) -> dict[str, int]:
    """Fetch, parse, normalise and store ``feeds``; returns the stage's summary counts."""
    totals = dict.fromkeys(SUMMARY_KEYS, 0)
    totals["feeds"] = len(feeds)
    if options.deadline_s is not None:  # every fetch ends by then, however it goes
        options = replace(options, fetch=replace(
            options.fetch, stop_at=time.monotonic() + options.deadline_s))
    own_client = client is None
    client = client or make_client(options.fetch, max_connections=options.concurrency)
    processes = options.parse_processes if len(feeds) >= options.pool_min_feeds else 0
    pool = ParsePool(processes, fast_parse=options.fast_parse)
    with short_switch_interval():
        try:
            work = run_bounded(feeds, lambda f: host_key(f.url),
                               lambda f: collect_feed(client, f, options, pool),
                               limit=options.concurrency, per_key=options.per_host)
            progress = track(len(feeds), "ingest", unit="feed", announce_from=100)
            for feed, collected in work:
                counts = store_collected(engine, feed, collected, run_id)
                for key in ("items", "new", "updated", "duplicates", "rejected", "flagged"):
                    totals[key] += counts.get(key, 0)
                if collected.error:
                    totals["failed"] += 1
                    log.warning("feed=%s failed: %s", feed.name, collected.error)
                elif collected.fetched.not_modified:
                    totals["not_modified"] += 1
                else:
                    totals["fetched"] += 1
                progress.update()
            progress.close()
        finally:
            pool.close()
            if own_client:
                client.close()
    return totals


NO_FEEDS_FILE = ("no feeds file: set SENTINEL_FEEDS_FILE to your feeds.yaml (or pass --feeds), "
                 "or ask for the demo (--demo or SENTINEL_DEMO=true) to poll the bundled "
                 "fictional sample feeds")


def polls_samples(settings: Settings) -> bool:
    """Whether ingest polls the bundled samples: asked for (demo) and no feeds file set."""
    return settings.feeds_file is None and settings.demo


def require_feeds(settings: Settings) -> None:
    """A ConfigError naming the setting when there is nothing to poll: no feeds file, no demo."""
    if settings.feeds_file is None and not settings.demo:
        raise ConfigError(NO_FEEDS_FILE)


def sample_feeds_source(settings: Settings) -> Path:
    """Where the sample feeds are read from: SENTINEL_SAMPLE_FEEDS_DIR, else the packaged ones."""
    return settings.sample_feeds_dir or bundled_sample_feeds()


def staged_samples_dir(settings: Settings) -> Path:
    """Where the bundled samples are staged (shifted to now) for file:// reading."""
    return settings.data_dir / "sample-feeds"


class ConfiguredFeeds(NamedTuple):
    feeds: list[FeedConfig]
    roots: list[Path]  # directories file:// URLs may read from
    problems: list[str]  # one line per invalid entry of the feeds file (left out)


def configured_feeds(settings: Settings, now: datetime, *, stage: bool = True) -> ConfiguredFeeds:
    """The feeds to poll, the directories file:// URLs may read from, and the entries of the
    feeds file that are invalid (each left out, with the reason).

    Without SENTINEL_FEEDS_FILE, only in demo mode, the bundled samples: staged (shifted to
    ``now``) when ``stage``, else only described (``sentinel feeds list`` writes nothing).
    Neither: a ConfigError naming the setting.
    """
    require_feeds(settings)
    if settings.feeds_file is not None:
        feeds, problems = read_feeds_file(settings.feeds_file)
        return ConfiguredFeeds(feeds, [], problems)
    staged = staged_samples_dir(settings)
    source = sample_feeds_source(settings)
    if not stage:
        entries = sample_feed_entries(source, staged)
        feeds, problems = check_feeds(source, {"feeds": entries})
        return ConfiguredFeeds(feeds, [staged], problems)
    feeds, problems = read_feeds_file(stage_sample_feeds(source, staged, now))
    return ConfiguredFeeds(feeds, [staged], problems)


def load_feed_states(engine: Engine, configs: list[FeedConfig]) -> list[FeedState]:
    """Sync ``configs`` to the feed table and return the enabled ones with their fetch state."""
    with engine.begin() as conn:
        ids = sync_feeds(conn, configs)
        rows = conn.execute(
            sa.select(Feed.id, Feed.name, Feed.url, Feed.etag, Feed.last_modified, Feed.tags)
            .where(Feed.id.in_(list(ids.values())), Feed.enabled).order_by(Feed.id)).all()
    return [FeedState(*row) for row in rows]


def ingest_configured_feeds(engine: Engine, settings: Settings, *, run_id: int | None = None,
                            now: datetime | None = None) -> tuple[dict[str, int], list[str]]:
    """Ingest the configured feeds: the summary counts, and one line per invalid entry of the
    feeds file (counted as failed; the valid feeds are ingested all the same)."""
    configs, extra_roots, problems = configured_feeds(settings, now or datetime.now(UTC))
    for problem in problems:  # the caller reports them (the CLI as `error:` lines)
        log.info("left out: %s", problem)
    options = IngestOptions.from_settings(settings, tuple(extra_roots))
    feeds = load_feed_states(engine, configs)
    totals = ingest_feeds(engine, feeds, options, run_id=run_id)
    totals["feeds"] += len(problems)
    totals["failed"] += len(problems)
    return totals, problems
