"""Classified articles written straight into the tables, for the alert tests (no real model).

``World`` inserts feeds, models, articles, their feed links and classifications; ``background``
lays down a deterministic week of ordinary news (3 articles an hour, every fifth negative), the
shape of the demo's sample feeds, only busier.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sentinel.db.models import Article, ArticleFeed, Classification, Feed, Model

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # a Monday, midnight UTC
TOPICS = ["Markets", "Earnings", "Macro"]


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class World:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.feeds: dict[str, int] = {}
        self.serial = 0
        self.model_id = self.model("sentinel-test", active=True)

    def model(self, name: str, active: bool = False) -> int:
        with self.engine.begin() as conn:
            return conn.scalar(sa.insert(Model).values(
                name=name, version="1", source="tests", active=active,
                tasks={"sentiment": ["negative", "neutral", "positive"], "topic": TOPICS},
            ).returning(Model.id))

    def feed(self, name: str) -> int:
        if name not in self.feeds:
            with self.engine.begin() as conn:
                self.feeds[name] = conn.scalar(sa.insert(Feed).values(
                    name=name, url=f"https://{name}.example.com/rss").returning(Feed.id))
        return self.feeds[name]

    def articles(self, rows: Iterable[dict]) -> list[int]:
        """Insert articles; each row: published_at, title, sentiment (None: unclassified),
        optional topic, tickers, feeds, p_negative, url, model_id."""
        rows = list(rows)
        if not rows:
            return []
        feed_ids = {name: self.feed(name) for r in rows for name in r.get("feeds", ["wire"])}
        values = []
        for r in rows:
            self.serial += 1
            values.append({
                "identity": f"test:{self.serial}", "guid": f"g{self.serial}",
                "url": r.get("url", f"https://news.example.com/{self.serial}"),
                "title": r["title"], "summary": "", "published_at": r["published_at"],
                "fetched_at": r["published_at"], "content_hash": digest(r["title"]),
                "tickers": r.get("tickers", [])})
        with self.engine.begin() as conn:
            inserted = sa.insert(Article).returning(Article.id, sort_by_parameter_order=True)
            ids = list(conn.scalars(inserted, values))
            links = [{"article_id": i, "feed_id": feed_ids[name]}
                     for i, r in zip(ids, rows, strict=True) for name in r.get("feeds", ["wire"])]
            conn.execute(sa.insert(ArticleFeed), links)
            verdicts = [self._verdict(i, r) for i, r in zip(ids, rows, strict=True)
                        if r.get("sentiment")]
            if verdicts:
                conn.execute(sa.insert(Classification), verdicts)
        return ids

    def _verdict(self, article_id: int, r: dict) -> dict:
        negative = r["sentiment"] == "negative"
        p_negative = r.get("p_negative", 0.9 if negative else 0.05)
        return {"article_id": article_id, "model_id": r.get("model_id", self.model_id),
                "content_hash": digest(r["title"]), "sentiment": r["sentiment"],
                "p_negative": p_negative, "p_neutral": (1 - p_negative) / 2,
                "p_positive": (1 - p_negative) / 2, "topic": r.get("topic", "Markets"),
                "topic_prob": 0.8}

    def background(self, start: datetime, hours: int, per_hour: int = 3,
                   feeds: tuple[str, ...] = ("wire", "daily")) -> None:
        rows = []
        for h in range(hours):
            for k in range(per_hour):
                n = h * per_hour + k
                rows.append({
                    "published_at": start + timedelta(hours=h, minutes=7 + 17 * k),
                    "title": f"Ordinary story {n}",
                    "sentiment": "negative" if n % 5 == 0 else ("neutral", "positive")[n % 2],
                    "topic": TOPICS[n % 3], "tickers": ["ACME"] if n % 4 == 0 else [],
                    "feeds": [feeds[n % len(feeds)]]})
        self.articles(rows)

    def burst(self, start: datetime, count: int, minutes: int = 60, *, ticker: str = "HLVP",
              topic: str = "Legal", feeds: tuple[str, ...] = ("wire", "daily"),
              sentiment: str = "negative", title: str = "Regulators probe Halvorsen") -> list[int]:
        step = minutes / count
        return self.articles({
            "published_at": start + timedelta(minutes=step * i),
            "title": f"{title} #{self.serial + i}", "sentiment": sentiment, "topic": topic,
            "tickers": [ticker], "feeds": [feeds[i % len(feeds)]], "p_negative": 0.99 - i / 1000}
            for i in range(count))

    def age(self, by: timedelta = timedelta(days=1)) -> None:
        """Move every write stamp back, as if the data had been stored long ago (the rollups'
        change tracking re-reads the last minutes, so fresh rows are always re-read)."""
        with self.engine.begin() as conn:
            conn.execute(sa.text("UPDATE classification SET created_at = created_at - :by"),
                         {"by": by})
            conn.execute(sa.text("UPDATE article SET updated_at = updated_at - :by"), {"by": by})
            conn.execute(sa.text("UPDATE article_feed SET first_seen_at = first_seen_at - :by"),
                         {"by": by})

    def rows(self, sql: str, **params) -> list:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    """``T0`` + day days + hour:minute."""
    return T0 + timedelta(days=day, hours=hour, minutes=minute)



def detect(engine: Engine, settings, **when) -> dict:
    """The detect stage as the pipeline runs it, configured by ``settings``."""
    from sentinel.alerts.stage import detect_alerts
    from sentinel.options import alert_config

    return detect_alerts(engine, alert_config(settings), **when)
