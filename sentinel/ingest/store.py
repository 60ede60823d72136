"""Set-based, idempotent storage of normalised articles: a few statements per feed, not per row.

For one feed's batch:

1. records repeating an identity already in the batch are duplicates (the first one wins:
   feeds list their newest version first);
2. one SELECT finds the articles that already exist, by identity or by canonical URL, with each
   one's content hash, its first source (the feed that stored it first) and whether it is
   linked to this feed already;
3. a record whose identity is new but whose (non-root) canonical URL belongs to an article first
   stored by *another* feed is that story carried by this feed: it is only linked to it. (Within
   one feed, distinct guids sharing a URL stay distinct items, e.g. a recurring "markets wrap".)
4. new records, and records whose title or summary changed (a new ``content_hash``, which makes
   the article's classifications stale) coming from the article's first source, go through one
   multi-row ``INSERT ... ON CONFLICT (identity) DO UPDATE``; a changed headline from another
   feed carrying the story is not written, so two feeds never overwrite each other every run;
5. one multi-row insert links the articles not yet linked to the feed.

Unchanged entries, the bulk of every fetch after the first, cost only the SELECT: rerunning
the same batch inserts and updates nothing.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.engine import Connection

from sentinel.db.models import Article, ArticleFeed
from sentinel.ingest.normalize import ArticleRecord, is_root_url


def dedupe_batch(records: list[ArticleRecord]) -> list[ArticleRecord]:
    """The first record of each identity, in feed order."""
    unique: dict[str, ArticleRecord] = {}
    for record in records:
        unique.setdefault(record.identity, record)
    return list(unique.values())


def _first_source_of(article_id: sa.ColumnElement[int]) -> sa.ScalarSelect[int]:
    """The feed that linked the article first (an aggregate over its few links: written with
    ORDER BY ... LIMIT 1, the planner may walk a first_seen_at index over every link)."""
    ordered = sa.func.array_agg(aggregate_order_by(
        ArticleFeed.feed_id, ArticleFeed.first_seen_at, ArticleFeed.feed_id))
    return (sa.select(ordered[1]).where(ArticleFeed.article_id == article_id)
            .scalar_subquery())


def _first_source(feed_id: int) -> sa.ColumnElement[bool]:
    """True when ``feed_id`` is the article's first source (or it has no source left)."""
    return sa.func.coalesce(_first_source_of(Article.id), feed_id) == feed_id


def store_articles(conn: Connection, feed_id: int, records: list[ArticleRecord],
                   fetched_at: datetime) -> dict[str, int]:
    """Insert new articles, update changed ones, link every one to ``feed_id``.

    Returns counts: new, updated, duplicates (repeated in the batch, unchanged, or carried
    under another identity by an article already stored).
    """
    unique = dedupe_batch(records)
    counts = {"new": 0, "updated": 0, "duplicates": len(records) - len(unique)}
    if not unique:
        return counts

    # A few small statements per feed: JIT compilation would cost more than it saves (fresh
    # tables' estimates can trigger it). No waiting for the WAL flush at commit: a crash can
    # only lose a feed's last fetch as a whole (its ETag is in the same transaction), and the
    # next run fetches and stores it again.
    conn.execute(sa.text("SET LOCAL jit = off; SET LOCAL synchronous_commit = off"))
    identities = [r.identity for r in unique]
    urls = [r.url for r in unique if r.url and not is_root_url(r.url)]
    linked = sa.exists().where(ArticleFeed.article_id == Article.id,
                               ArticleFeed.feed_id == feed_id)
    existing = conn.execute(
        sa.select(Article.id, Article.identity, Article.url, Article.content_hash,
                  _first_source_of(Article.id).label("source"), linked.label("linked"))
        .where(sa.or_(Article.identity.in_(identities), Article.url.in_(urls)))
        .order_by(Article.id)
    ).all()
    by_identity = {row.identity: row for row in existing}
    carried: dict[str, sa.Row] = {}  # URL -> an article first stored by another feed
    own_urls: set[str] = set()  # URLs of articles this feed stored first
    for row in existing:
        if not row.url:
            continue
        if row.source == feed_id:
            own_urls.add(row.url)
        else:
            carried.setdefault(row.url, row)

    upserts, to_link = [], set()
    for record in unique:
        row = by_identity.get(record.identity)
        if row is None and record.url in carried and record.url not in own_urls \
                and not is_root_url(record.url):
            row = carried[record.url]  # the same story, stored first by another feed
        elif row is None or (row.content_hash != record.content_hash
                             and row.source in (None, feed_id)):
            upserts.append(record)  # new, or changed by the feed that stored it first
            continue
        counts["duplicates"] += 1
        if not row.linked:
            to_link.add(row.id)

    if upserts:
        upserts.sort(key=lambda r: r.identity)  # one lock order for concurrent writers
        stmt = insert(Article)
        changed = Article.content_hash.is_distinct_from(stmt.excluded.content_hash)
        stmt = stmt.on_conflict_do_update(
            index_elements=[Article.identity],
            set_={"title": stmt.excluded.title, "summary": stmt.excluded.summary,
                  "content_hash": stmt.excluded.content_hash, "tickers": stmt.excluded.tickers,
                  "flags": stmt.excluded.flags,
                  "url": sa.func.coalesce(stmt.excluded.url, Article.url),
                  "updated_at": sa.func.now()},
            where=sa.and_(changed, _first_source(feed_id)),  # rechecked: another run may race
        ).returning(Article.id, sa.literal_column("xmax = 0").label("inserted"))
        written = conn.execute(stmt, [r.row(fetched_at) for r in upserts]).all()
        counts["new"] = sum(1 for row in written if row.inserted)
        counts["updated"] = len(written) - counts["new"]
        counts["duplicates"] += len(upserts) - len(written)
        to_link.update(row.id for row in written)

    if to_link:
        conn.execute(insert(ArticleFeed).on_conflict_do_nothing(),
                     [{"article_id": article_id, "feed_id": feed_id}
                      for article_id in sorted(to_link)])
    return counts
