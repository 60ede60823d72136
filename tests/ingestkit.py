"""Helpers for the ingest integration tests: quick fetch options, one-call runs, stored rows."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sentinel.db.models import Article, ArticleFeed, Feed, FeedFetch
from sentinel.ingest.feeds import FeedConfig
from sentinel.ingest.fetch import FetchOptions
from sentinel.ingest.run import IngestOptions, ingest_feeds, load_feed_states

LOOPBACK = ("127.0.0.1",)  # the test servers' address: the only internal one feeds may reach
FAST = FetchOptions(user_agent="Sentinel-tests/1.0 (+https://example.invalid/sentinel)",
                    connect_timeout_s=2.0, read_timeout_s=1.0, attempt_deadline_s=4.0,
                    max_bytes=1_000_000, attempts=3, backoff_base_s=0.01, backoff_cap_s=0.05,
                    retry_after_cap_s=2.0, allowed_networks=LOOPBACK)


def options(**fetch: Any) -> IngestOptions:
    """Ingest options with tiny timeouts and backoff (``fetch`` overrides FetchOptions fields)."""
    return IngestOptions(fetch=replace(FAST, **fetch), concurrency=8, per_host=8)


def ingest(engine: Engine, feeds: dict[str, str], opts: IngestOptions | None = None,
           tags: dict[str, dict] | None = None) -> dict[str, int]:
    """Sync ``feeds`` (name -> url) to the feed table and run the ingest stage over them."""
    configs = [FeedConfig(name=name, url=url, tags=(tags or {}).get(name, {}))
               for name, url in feeds.items()]
    return ingest_feeds(engine, load_feed_states(engine, configs), opts or options())


def articles(engine: Engine, feed: str | None = None) -> list[dict[str, Any]]:
    """Stored articles (of one feed, when named), as dicts, in identity order."""
    query = sa.select(Article).order_by(Article.identity)
    if feed is not None:
        query = (query.join(ArticleFeed, ArticleFeed.article_id == Article.id)
                 .join(Feed, Feed.id == ArticleFeed.feed_id).where(Feed.name == feed))
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def titles(engine: Engine, feed: str | None = None) -> list[str]:
    return sorted(a["title"] for a in articles(engine, feed))


def last_fetch(engine: Engine, feed: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(sa.select(FeedFetch).join(Feed, Feed.id == FeedFetch.feed_id)
                           .where(Feed.name == feed).order_by(FeedFetch.id.desc())
                           .limit(1)).mappings().one()
    return dict(row)


def feed_row(engine: Engine, feed: str) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(Feed).where(Feed.name == feed)).mappings().one())


def everything_stored(engine: Engine) -> str:
    """Every text column of article and feed_fetch, for 'this never got in' assertions."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT concat_ws(' ', identity, guid, url, title, summary) FROM article "
            "UNION ALL SELECT concat_ws(' ', bozo_reason, error) FROM feed_fetch")).scalars()
        return "\n".join(rows)
