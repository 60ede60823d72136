"""The ingest stage: every configured feed fetched, parsed, normalised and stored.

One feed's failure is recorded on that feed (and in ``feed_fetch``) and never stops the others.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sentinel.db.models import Feed, FeedFetch
from sentinel.ingest.feeds import FeedConfig, load_feeds_file, sync_feeds
from sentinel.ingest.fetch import FetchResult, fetch_file, fetch_http
from sentinel.ingest.normalize import normalize_entry
from sentinel.ingest.parse import parse_feed
from sentinel.ingest.store import upsert_articles
from sentinel.samples import stage_sample_feeds
from sentinel.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class FeedState:
    id: int
    name: str
    url: str
    etag: str | None
    last_modified: str | None


def configured_feeds(settings: Settings, now: datetime) -> tuple[list[FeedConfig], list[Path]]:
    """The feeds to poll and the directories file:// URLs may read from.

    Without SENTINEL_FEEDS_FILE, the bundled samples are staged (shifted to ``now``) and used.
    """
    roots = list(settings.allowed_file_roots)
    if settings.feeds_file is not None:
        return load_feeds_file(settings.feeds_file), roots
    staged = settings.data_dir / "sample-feeds"
    feeds_file = stage_sample_feeds(settings.sample_feeds_dir, staged, now)
    return load_feeds_file(feeds_file), [*roots, staged]


def ingest_configured_feeds(engine: Engine, settings: Settings, *, run_id: int | None = None,
                            now: datetime | None = None) -> dict[str, int]:
    now = now or datetime.now(UTC)
    configs, roots = configured_feeds(settings, now)
    with engine.begin() as conn:
        ids = sync_feeds(conn, configs)
        rows = conn.execute(sa.select(Feed.id, Feed.name, Feed.url, Feed.etag, Feed.last_modified)
                            .where(Feed.id.in_(list(ids.values())), Feed.enabled)).all()
    feeds = [FeedState(*row) for row in rows]
    return ingest_feeds(engine, feeds, settings, roots=roots, run_id=run_id)


def ingest_feeds(engine: Engine, feeds: list[FeedState], settings: Settings, *,
                 roots: list[Path], run_id: int | None = None) -> dict[str, int]:
    totals = dict.fromkeys(("feeds", "fetched", "not_modified", "failed", "items", "new",
                            "updated", "duplicates"), 0)
    totals["feeds"] = len(feeds)
    timeout = httpx.Timeout(settings.fetch_read_timeout_s, connect=settings.fetch_connect_timeout_s)
    with httpx.Client(timeout=timeout, follow_redirects=True,
                      max_redirects=settings.fetch_max_redirects,
                      headers={"User-Agent": settings.user_agent}) as client:
        for feed in feeds:
            started = time.monotonic()
            if feed.url.startswith("file:"):
                fetched = fetch_file(feed.url, roots, settings.fetch_max_bytes)
            else:
                fetched = fetch_http(client, feed.url, feed.etag, feed.last_modified,
                                     settings.fetch_max_bytes)
            outcome = store_fetch(engine, feed, fetched, settings, run_id, started)
            for key in ("items", "new", "updated", "duplicates"):
                totals[key] += outcome.get(key, 0)
            if fetched.error:
                totals["failed"] += 1
            elif fetched.not_modified:
                totals["not_modified"] += 1
            else:
                totals["fetched"] += 1
    return totals


def store_fetch(engine: Engine, feed: FeedState, fetched: FetchResult, settings: Settings,
                run_id: int | None, started: float) -> dict[str, int]:
    """Parse and store one feed's fetch in one transaction, and record its health."""
    fetched_at = datetime.now(UTC)
    counts = {"items": 0, "new": 0, "updated": 0, "duplicates": 0, "rejected": 0}
    bozo, bozo_reason, error = False, None, fetched.error
    with engine.begin() as conn:
        if fetched.body is not None and not error:
            parsed = parse_feed(fetched.body)
            bozo, bozo_reason = parsed.bozo, parsed.bozo_reason
            skew = timedelta(hours=settings.future_skew_hours)
            records = [normalize_entry(e, fetched_at, future_skew=skew) for e in parsed.entries]
            counts["items"] = len(records)
            counts["rejected"] = sum(r is None for r in records)
            kept = [r for r in records if r is not None]
            counts.update(upsert_articles(conn, feed.id, kept, fetched_at))
            if not parsed.entries and bozo:
                error = f"not a feed: {bozo_reason}"
        ok = error is None
        conn.execute(
            sa.update(Feed).where(Feed.id == feed.id).values(
                last_attempt_at=fetched_at,
                last_http_status=fetched.status,
                last_success_at=fetched_at if ok else Feed.last_success_at,
                consecutive_failures=0 if ok else Feed.consecutive_failures + 1,
                last_error=None if ok else error,
                etag=fetched.etag if ok and fetched.etag else Feed.etag,
                last_modified=fetched.last_modified if ok and fetched.last_modified
                else Feed.last_modified,
            )
        )
        conn.execute(sa.insert(FeedFetch).values(
            run_id=run_id, feed_id=feed.id, http_status=fetched.status,
            not_modified=fetched.not_modified, bozo=bozo, bozo_reason=bozo_reason, error=error,
            items_seen=counts["items"], new=counts["new"], updated=counts["updated"],
            duplicates=counts["duplicates"], rejected=counts["rejected"],
            duration_ms=int((time.monotonic() - started) * 1000),
        ))
    if error:
        log.warning("feed=%s failed: %s", feed.name, error)
    return counts
