"""A small, hand-checkable data set for the analyst views, example queries and the report.

Times are fixed (around ``T = 2026-11-20 12:00 UTC``) so every expected row can be written out
by hand; only feed fetches are placed relative to ``now()`` because ``v_feed_health`` looks at
the last 24 hours.

    article  published  feeds                       tickers      active-model verdict
    a1       09:10      Ledger Wire, Harbor Street  HLVP         negative 0.95 Legal
    a2       09:40      Ledger Wire                 HLVP         negative 0.90 Legal
    a3       10:05      Harbor Street               ACME         positive 0.02 Earnings
    a4       10:30      Harbor Street               ACME, HLVP   negative 0.80 Earnings
    a5       10:45      Ledger Wire                 -            neutral  0.10 Markets
    a6       11:15      Ledger Wire                 HLVP         stale (text changed since)
    a7       11:20      Harbor Street               -            only the old model's verdict

The old (inactive) model also calls a1 positive, which no view may show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sentinel.db.models import (
    Alert,
    AlertDelivery,
    Article,
    ArticleFeed,
    Classification,
    Feed,
    FeedFetch,
    Model,
)

T = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TASKS = {"sentiment": ["negative", "neutral", "positive"],
         "topic": ["Legal", "Earnings", "Markets"]}


def at(hour: int, minute: int = 0, day: int = 20) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@dataclass
class Sample:
    feeds: dict[str, int] = field(default_factory=dict)
    articles: dict[str, int] = field(default_factory=dict)
    alerts: dict[str, int] = field(default_factory=dict)
    models: dict[str, int] = field(default_factory=dict)


# name -> (published, title, url, feeds, tickers, (sentiment, p_negative, topic) or None)
ARTICLES = {
    "a1": (at(9, 10), "Attorneys general sue Halvorsen Pharmaceuticals",
           "https://ledgerwire.example.net/a1", ["Ledger Wire", "Harbor Street"], ["HLVP"],
           ("negative", 0.95, "Legal")),
    "a2": (at(9, 40), "Regulators open probe into Halvorsen", "https://ledgerwire.example.net/a2",
           ["Ledger Wire"], ["HLVP"], ("negative", 0.90, "Legal")),
    "a3": (at(10, 5), "Acme Robotics beats estimates", "https://harbor.example.com/a3",
           ["Harbor Street"], ["ACME"], ("positive", 0.02, "Earnings")),
    "a4": (at(10, 30), "Acme cuts guidance as Halvorsen order collapses",
           "https://harbor.example.com/a4", ["Harbor Street"], ["ACME", "HLVP"],
           ("negative", 0.80, "Earnings")),
    "a5": (at(10, 45), "Markets end flat", "https://ledgerwire.example.net/a5", ["Ledger Wire"],
           [], ("neutral", 0.10, "Markets")),
    "a6": (at(11, 15), "Halvorsen statement (updated)", "https://ledgerwire.example.net/a6",
           ["Ledger Wire"], ["HLVP"], None),
    "a7": (at(11, 20), "Old model only", "https://harbor.example.com/a7", ["Harbor Street"], [],
           None),
}


def probabilities(sentiment: str, p_negative: float) -> dict[str, float]:
    rest = 1.0 - p_negative
    if sentiment == "positive":
        return {"p_negative": p_negative, "p_neutral": 0.0, "p_positive": rest}
    return {"p_negative": p_negative, "p_neutral": rest, "p_positive": 0.0}


def insert_feeds(conn: sa.Connection, sample: Sample) -> None:
    now = conn.scalar(sa.select(sa.func.now()))
    rows = [
        {"name": "Ledger Wire", "url": "https://ledgerwire.example.net/feed",
         "last_attempt_at": now - timedelta(hours=1), "last_success_at": now - timedelta(hours=1),
         "last_http_status": 200},
        {"name": "Harbor Street", "url": "https://harbor.example.com/rss",
         "last_attempt_at": now - timedelta(minutes=30),
         "last_success_at": now - timedelta(hours=3), "consecutive_failures": 2,
         "last_http_status": 503, "last_error": "HTTP 503 Service Unavailable"},
        {"name": "Quiet Wire", "url": "https://quiet.example.org/atom"},
        {"name": "Retired Wire", "url": "https://retired.example.org/rss", "enabled": False},
    ]
    for row in rows:
        sample.feeds[row["name"]] = conn.scalar(sa.insert(Feed).values(**row).returning(Feed.id))
    ledger, harbor = sample.feeds["Ledger Wire"], sample.feeds["Harbor Street"]
    fetches = [
        (ledger, timedelta(hours=1), {"http_status": 200, "new": 3, "items_seen": 10,
                                      "duration_ms": 100}),
        (ledger, timedelta(hours=5), {"http_status": 304, "not_modified": True,
                                      "duration_ms": 50}),
        (ledger, timedelta(hours=30), {"http_status": 200, "new": 5, "duration_ms": 900}),
        (harbor, timedelta(hours=3), {"http_status": 200, "new": 2, "bozo": True,
                                      "bozo_reason": "mismatched tag", "duration_ms": 200}),
        (harbor, timedelta(hours=2), {"http_status": 503, "error": "HTTP 503",
                                      "duration_ms": 300}),
        (harbor, timedelta(minutes=30), {"http_status": 503, "error": "HTTP 503",
                                         "duration_ms": 400}),
    ]
    for feed_id, ago, values in fetches:
        conn.execute(sa.insert(FeedFetch).values(feed_id=feed_id, fetched_at=now - ago, **values))


def add_article(conn: sa.Connection, sample: Sample, name: str, published: datetime, title: str,
                url: str | None, feeds: list[str], tickers: list[str],
                verdict: tuple[str, float, str] | None) -> int:
    """One article carried by ``feeds``, classified by the active model when ``verdict``."""
    article_id = conn.scalar(sa.insert(Article).values(
        identity=f"test:{name}", url=url, title=title, published_at=published,
        fetched_at=published + timedelta(minutes=5), content_hash=f"hash-{name}",
        tickers=tickers,
    ).returning(Article.id))
    sample.articles[name] = article_id
    if feeds:
        conn.execute(sa.insert(ArticleFeed), [
            {"article_id": article_id, "feed_id": sample.feeds[feed]} for feed in feeds
        ])
    if verdict is not None:
        sentiment, p_negative, topic = verdict
        conn.execute(sa.insert(Classification).values(
            article_id=article_id, model_id=sample.models["active"],
            content_hash=f"hash-{name}", sentiment=sentiment, topic=topic, topic_prob=0.9,
            **probabilities(sentiment, p_negative)))
    return article_id


def insert_articles(conn: sa.Connection, sample: Sample) -> None:
    sample.models["old"] = conn.scalar(sa.insert(Model).values(
        name="sentinel-minilm", version="1", source="models/old", tasks=TASKS, active=False,
    ).returning(Model.id))
    sample.models["active"] = conn.scalar(sa.insert(Model).values(
        name="sentinel-minilm", version="2", source="models/sentinel-minilm", tasks=TASKS,
        active=True,
    ).returning(Model.id))
    for name, spec in ARTICLES.items():
        add_article(conn, sample, name, *spec)
    # a6 was classified, then its text changed: the classification is stale.
    conn.execute(sa.insert(Classification).values(
        article_id=sample.articles["a6"], model_id=sample.models["active"],
        content_hash="hash-a6-before-edit", sentiment="negative", topic="Legal", topic_prob=0.9,
        **probabilities("negative", 0.99)))
    # The old model's verdicts: a1 (disagrees with the active model) and a7.
    for name in ("a1", "a7"):
        conn.execute(sa.insert(Classification).values(
            article_id=sample.articles[name], model_id=sample.models["old"],
            content_hash=f"hash-{name}", sentiment="positive", topic="Markets", topic_prob=0.5,
            **probabilities("positive", 0.01)))


def insert_alerts(conn: sa.Connection, sample: Sample) -> None:
    alerts = {
        # fired on the 09:00 bucket, detected at its end (started_at = window_end)
        "hlvp": {"dedup_key": "ticker:HLVP", "segment_kind": "ticker", "segment_value": "HLVP",
                 "state": "firing", "window_start": at(9), "window_end": at(10),
                 "observed": 2, "expected": 0.5, "negative_share": 1.0, "expected_share": 0.2,
                 "score": 6.0, "started_at": at(10), "last_firing_at": at(10)},
        # opened at the start of the 10:00 bucket (started_at = window_start), later resolved
        "harbor": {"dedup_key": "source:Harbor Street", "segment_kind": "source",
                   "segment_value": "Harbor Street", "state": "resolved",
                   "window_start": at(10), "window_end": at(11), "observed": 1, "expected": 0.0,
                   "negative_share": 0.5, "expected_share": 0.1, "score": 4.5,
                   "started_at": at(10), "last_firing_at": at(10), "resolved_at": at(11)},
        # a day later: nothing negative in its period
        "all": {"dedup_key": "all", "segment_kind": "all", "segment_value": "all",
                "state": "pending", "window_start": at(9, day=21), "window_end": at(10, day=21),
                "observed": 7, "expected": 2.0, "started_at": at(10, day=21)},
    }
    for name, values in alerts.items():
        sample.alerts[name] = conn.scalar(sa.insert(Alert).values(**values).returning(Alert.id))
    deliveries = [
        ("hlvp", "firing", "sent"), ("hlvp", "repeat", "failed"),
        ("harbor", "firing", "sent"), ("harbor", "resolved", "sent"), ("all", "firing", "dead"),
    ]
    conn.execute(sa.insert(AlertDelivery), [
        {"alert_id": sample.alerts[name], "kind": kind, "interval_end": at(10), "channel": "log",
         "status": status} for name, kind, status in deliveries
    ])




def load_sample(engine: Engine) -> Sample:
    sample = Sample()
    with engine.begin() as conn:
        insert_feeds(conn, sample)
        insert_articles(conn, sample)
        insert_alerts(conn, sample)
    return sample


HOSTILE_TITLES = [
    '<script>document.title="pwned"</script>Halvorsen recalls drug',
    '<img src=x onerror="document.title=1">Halvorsen shares plunge',
    'Halvorsen CEO resigns "amid" probe & <b>audit</b>',
]
TOPICS = ["Legal", "Earnings", "M&A", "Macro", "Markets", "Energy", "Tech", "Analyst Update"]
TICKERS = ["HLVP", "ACME", "NRTH", "ZETA", "KORA", "", "", ""]
FEEDS = ["Ledger Wire", "Harbor Street", "Northgate Markets", "Commodity Desk"]


def load_week(engine: Engine, until: datetime, *, seed: int = 7) -> Sample:
    """Two weeks of hourly news up to ``until`` with a negative burst on HLVP and its alerts.

    The burst (eight negative HLVP stories, three with hostile titles or a javascript: URL)
    falls in the hour ``until - 6h``; a firing alert covers it and a resolved topic alert
    sits two days earlier. Random draws come from ``random.Random(seed)``.
    """
    import random

    rng = random.Random(seed)
    sample = Sample()
    start = until.replace(minute=0, second=0, microsecond=0) - timedelta(days=14)
    burst = until.replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    with engine.begin() as conn:
        insert_feeds(conn, sample)
        for extra in FEEDS[2:]:
            sample.feeds[extra] = conn.scalar(sa.insert(Feed).values(
                name=extra, url=f"https://{extra.split()[0].lower()}.example.com/rss",
                last_attempt_at=until, last_success_at=until).returning(Feed.id))
        sample.models["active"] = conn.scalar(sa.insert(Model).values(
            name="sentinel-minilm", version="2", source="models/sentinel-minilm", tasks=TASKS,
            active=True).returning(Model.id))
        hour, number = start, 0
        while hour < until:
            busy = 7 <= hour.hour <= 20
            for _ in range(rng.randint(2, 6) if busy else rng.randint(0, 2)):
                number += 1
                sentiment = rng.choices(["negative", "neutral", "positive"], [2, 5, 3])[0]
                p_negative = (rng.uniform(0.55, 0.95) if sentiment == "negative"
                              else rng.uniform(0.01, 0.3))
                ticker = rng.choice(TICKERS)
                published = hour + timedelta(minutes=rng.randint(0, 59))
                add_article(conn, sample, f"n{number}", published,
                            f"Story {number} about {ticker or 'the market'}",
                            f"https://news.example.com/{number}", [rng.choice(FEEDS)],
                            [ticker] if ticker else [], (sentiment, p_negative, rng.choice(TOPICS)))
            hour += timedelta(hours=1)
        for i in range(8):
            title = (HOSTILE_TITLES[i] if i < len(HOSTILE_TITLES)
                     else f"Halvorsen sell-off deepens ({i})")
            url = "javascript:alert(1)" if i == 0 else f"https://ledgerwire.example.net/burst/{i}"
            add_article(conn, sample, f"burst{i}", burst + timedelta(minutes=5 * i), title, url,
                        ["Ledger Wire", "Harbor Street"][: 1 + i % 2], ["HLVP"],
                        ("negative", 0.999 - i / 1000, "Legal"))
        sample.alerts["hlvp"] = conn.scalar(sa.insert(Alert).values(
            dedup_key="ticker:HLVP", segment_kind="ticker", segment_value="HLVP", state="firing",
            window_start=burst, window_end=burst + timedelta(hours=1), observed=8,
            expected=0.5, negative_share=0.9, expected_share=0.2, score=9.0,
            started_at=burst + timedelta(hours=1), last_firing_at=burst + timedelta(hours=1),
        ).returning(Alert.id))
        earlier = burst - timedelta(days=2)
        for i in range(4):
            add_article(conn, sample, f"macro{i}", earlier + timedelta(hours=2, minutes=9 * i),
                        f"Central bank warns of slowdown ({i})", None, ["Commodity Desk"], [],
                        ("negative", 0.8, "Macro"))
        sample.alerts["macro"] = conn.scalar(sa.insert(Alert).values(
            dedup_key="topic:Macro", segment_kind="topic", segment_value="Macro",
            state="resolved", window_start=earlier + timedelta(hours=2),
            window_end=earlier + timedelta(hours=3), observed=4, expected=1.0,
            started_at=earlier + timedelta(hours=1), resolved_at=earlier + timedelta(hours=3),
        ).returning(Alert.id))
    return sample
