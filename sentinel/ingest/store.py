"""Set-based, idempotent storage of normalised articles (one statement per batch, not per row)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection

from sentinel.db.models import Article, ArticleFeed
from sentinel.ingest.normalize import ArticleRecord


def upsert_articles(conn: Connection, feed_id: int, records: list[ArticleRecord],
                    fetched_at: datetime) -> dict[str, int]:
    """Insert new articles, update changed ones, link every one to ``feed_id``.

    Rerunning the same records inserts and updates nothing. An article whose title or summary
    changed gets a new ``content_hash``, which makes its classifications stale (reclassified).
    Returns counts: new, updated, duplicates (unchanged or repeated within the batch).
    """
    unique: dict[str, ArticleRecord] = {}
    for record in records:
        unique.setdefault(record.identity, record)
    counts = {"new": 0, "updated": 0, "duplicates": len(records) - len(unique)}
    if not unique:
        return counts

    rows = [{**asdict(r), "fetched_at": fetched_at} for r in unique.values()]
    stmt = insert(Article).values(rows)
    changed = Article.content_hash.is_distinct_from(stmt.excluded.content_hash)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Article.identity],
        set_={
            "title": stmt.excluded.title,
            "summary": stmt.excluded.summary,
            "content_hash": stmt.excluded.content_hash,
            "tickers": stmt.excluded.tickers,
            "url": stmt.excluded.url,
            "updated_at": sa.func.now(),
        },
        where=changed,
    ).returning(Article.id, sa.literal_column("xmax = 0").label("inserted"))
    written = conn.execute(stmt).all()
    counts["new"] = sum(1 for row in written if row.inserted)
    counts["updated"] = len(written) - counts["new"]
    counts["duplicates"] += len(unique) - len(written)

    ids = conn.scalars(sa.select(Article.id).where(Article.identity.in_(list(unique)))).all()
    link = insert(ArticleFeed).values([{"article_id": i, "feed_id": feed_id} for i in ids])
    conn.execute(link.on_conflict_do_nothing())
    return counts
