"""SQLAlchemy 2.0 typed models: the schema every stage writes and analysts read.

All timestamps are ``timestamptz`` and stored in UTC. Identities are bigint identity columns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

UtcDateTime = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSONB, list[str]: ARRAY(Text)}


def _pk() -> Mapped[int]:
    return mapped_column(BigInteger, Identity(always=False), primary_key=True)


def _now() -> Any:
    return mapped_column(UtcDateTime, server_default=func.now(), nullable=False)


class Feed(Base):
    """A configured news feed and its fetch state (what the next conditional GET sends)."""

    __tablename__ = "feed"

    id: Mapped[int] = _pk()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    tags: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_http_status: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now()


class Article(Base):
    """One news story, stored once however many feeds carry it.

    ``identity`` is derived from the guid, else the canonical URL, else a content hash;
    ``content_hash`` covers title + summary, so a classification made for other text is stale.
    """

    __tablename__ = "article"

    id: Mapped[int] = _pk()
    identity: Mapped[str] = mapped_column(Text, unique=True)
    guid: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, server_default="")
    published_at: Mapped[datetime]
    date_flag: Mapped[str | None] = mapped_column(
        String(20), comment="null, or why the fetch time was used: 'missing' (no readable "
        "date), 'future' (too far ahead) or 'too_old' (before 1990)"
    )
    fetched_at: Mapped[datetime]
    updated_at: Mapped[datetime] = _now()
    content_hash: Mapped[str] = mapped_column(String(64))
    tickers: Mapped[list[str]] = mapped_column(server_default=text("'{}'::text[]"))
    flags: Mapped[list[str]] = mapped_column(
        server_default=text("'{}'::text[]"),
        comment="repairs made while normalising: title_truncated, title_from_summary, "
        "summary_truncated, link_dropped, guid_too_long, date_missing, date_future, "
        "date_too_old, mojibake_repaired",
    )
    language: Mapped[str | None] = mapped_column(
        String(16), comment="ISO 639-1 code identified at ingest; null when it could not be told"
    )

    feeds: Mapped[list[Feed]] = relationship(secondary="article_feed", viewonly=True)

    __table_args__ = (
        Index("ix_article_published_at", "published_at"),
        Index("ix_article_tickers", "tickers", postgresql_using="gin"),
        Index("ix_article_url", "url"),
        Index("ix_article_updated_at", "updated_at"),  # what changed since the last detect run
        # under v_sentiment_hourly/daily.bucket_start (migration 0002 holds the same expressions)
        Index("ix_article_published_hour", text(
            "date_bin('01:00:00'::interval, published_at, '2000-01-01 00:00:00+00'::timestamptz)")),
        Index("ix_article_published_day", text(
            "date_bin('1 day'::interval, published_at, '2000-01-01 00:00:00+00'::timestamptz)")),
    )


class ArticleFeed(Base):
    """Which feeds carried which article (the same story from several publishers)."""

    __tablename__ = "article_feed"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("article.id", ondelete="CASCADE"), primary_key=True
    )
    feed_id: Mapped[int] = mapped_column(
        ForeignKey("feed.id", ondelete="CASCADE"), primary_key=True
    )
    first_seen_at: Mapped[datetime] = _now()

    __table_args__ = (
        Index("ix_article_feed_feed_id", "feed_id"),
        Index("ix_article_feed_first_seen_at", "first_seen_at"),
    )


class Model(Base):
    """A classifier version: its heads, label maps and evaluation metrics."""

    __tablename__ = "model"

    id: Mapped[int] = _pk()
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(Text, comment="directory or hub id it was loaded from")
    tasks: Mapped[dict[str, Any]] = mapped_column(
        comment='{"sentiment": ["negative", "neutral", "positive"], "topic": [...]}'
    )
    metrics: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    active: Mapped[bool] = mapped_column(
        Boolean, server_default=text("false"),
        comment="the model whose classifications are 'current' (at most one row)",
    )
    created_at: Mapped[datetime] = _now()

    __table_args__ = (
        UniqueConstraint("name", "version"),
        Index("uq_model_active", "active", unique=True, postgresql_where=text("active")),
    )


class Classification(Base):
    """One model version's verdict on one article (several versions may coexist)."""

    __tablename__ = "classification"

    id: Mapped[int] = _pk()
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"))
    model_id: Mapped[int] = mapped_column(ForeignKey("model.id", ondelete="CASCADE"))
    content_hash: Mapped[str] = mapped_column(
        String(64), comment="article.content_hash that was classified; differs => stale"
    )
    sentiment: Mapped[str | None] = mapped_column(String(20))
    p_negative: Mapped[float | None] = mapped_column(Float)
    p_neutral: Mapped[float | None] = mapped_column(Float)
    p_positive: Mapped[float | None] = mapped_column(Float)
    topic: Mapped[str | None] = mapped_column(String(100))
    topic_prob: Mapped[float | None] = mapped_column(Float)
    unread_language: Mapped[str | None] = mapped_column(
        String(16), comment="the article's language when the model does not read it (then no "
        "sentiment or topic); null when classified")
    created_at: Mapped[datetime] = _now()

    __table_args__ = (
        UniqueConstraint("article_id", "model_id"),
        Index("ix_classification_model_id_created_at", "model_id", "created_at"),
        Index("ix_classification_model_id_topic", "model_id", "topic"),
    )


class Alert(Base):
    """A spike in one segment, tracked from pending through firing to resolved."""

    __tablename__ = "alert"

    id: Mapped[int] = _pk()
    dedup_key: Mapped[str] = mapped_column(Text, comment="segment identity, e.g. 'ticker:AAPL'")
    segment_kind: Mapped[str] = mapped_column(String(20), comment="all, topic, ticker or source")
    segment_value: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), comment="pending, firing or resolved")
    window_start: Mapped[datetime] = mapped_column(comment="start of the latest bucket judged")
    window_end: Mapped[datetime]
    observed: Mapped[float] = mapped_column(Float)
    expected: Mapped[float] = mapped_column(Float)
    negative_share: Mapped[float | None] = mapped_column(Float)
    expected_share: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)
    details: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    started_at: Mapped[datetime]
    last_firing_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    last_notified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    deliveries: Mapped[list[AlertDelivery]] = relationship(back_populates="alert")

    __table_args__ = (
        Index(
            "uq_alert_open_dedup_key",
            "dedup_key",
            unique=True,
            postgresql_where=text("state <> 'resolved'"),
        ),
        Index("ix_alert_state", "state"),
        Index("ix_alert_started_at", "started_at"),
    )


class AlertDelivery(Base):
    """The outbox: one notification of one alert to one channel, sent at most once."""

    __tablename__ = "alert_delivery"

    id: Mapped[int] = _pk()
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20), comment="firing, repeat or resolved")
    interval_end: Mapped[datetime] = mapped_column(comment="data interval that produced it")
    channel: Mapped[str] = mapped_column(Text, comment="slack-bot:<channel>, slack-webhook or log")
    status: Mapped[str] = mapped_column(
        String(20), comment="pending, in_flight, sent, failed (will retry) or dead (permanent)"
    )
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    remote_id: Mapped[str | None] = mapped_column(Text, comment="Slack message ts")
    remote_channel: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = _now()
    sent_at: Mapped[datetime | None]
    thread_ts: Mapped[str | None] = mapped_column(Text, comment="Slack thread it was posted in")
    last_attempt_at: Mapped[datetime | None]

    alert: Mapped[Alert] = relationship(back_populates="deliveries")

    __table_args__ = (
        UniqueConstraint("alert_id", "kind", "interval_end"),
        Index("ix_alert_delivery_status", "status"),
    )


class AlertRollup(Base):
    """Classified and negative articles per model, bucket size, segment and bucket (detect)."""

    __tablename__ = "alert_rollup"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("model.id", ondelete="CASCADE"), primary_key=True
    )
    bucket_minutes: Mapped[int] = mapped_column(Integer, primary_key=True)
    segment_kind: Mapped[str] = mapped_column(
        String(20), primary_key=True, comment="all, topic, ticker or source"
    )
    segment_value: Mapped[str] = mapped_column(
        Text, primary_key=True, comment="'all', the topic, the ticker or the feed name"
    )
    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    total: Mapped[int] = mapped_column(Integer, comment="classified articles in the bucket")
    negative: Mapped[int] = mapped_column(Integer, comment="of which the sentiment is negative")

    __table_args__ = (
        Index("ix_alert_rollup_model_id_bucket_minutes_bucket_start",
              "model_id", "bucket_minutes", "bucket_start"),
    )


class RollupState(Base):
    """How far ``alert_rollup`` has folded in each source table (per model and bucket size)."""

    __tablename__ = "rollup_state"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("model.id", ondelete="CASCADE"), primary_key=True
    )
    bucket_minutes: Mapped[int] = mapped_column(Integer, primary_key=True)
    classified_until: Mapped[datetime | None] = mapped_column(
        comment="classification.created_at up to which changes are folded in"
    )
    articles_until: Mapped[datetime | None] = mapped_column(
        comment="article.updated_at up to which changes are folded in"
    )
    links_until: Mapped[datetime | None] = mapped_column(
        comment="article_feed.first_seen_at up to which links are folded in"
    )
    snapshot: Mapped[str | None] = mapped_column(
        Text, comment="pg_current_snapshot() of the last run: rows written by transactions "
        "visible in it are folded in"
    )
    updated_at: Mapped[datetime] = _now()


class DetectState(Base):
    """One row: the latest data interval whose alerts were judged (older ones are not re-judged)."""

    __tablename__ = "detect_state"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, comment="always 1 (one row)")
    judged_from: Mapped[datetime | None] = mapped_column(
        comment="start of that interval (a rerun judges the same buckets)"
    )
    judged_until: Mapped[datetime | None] = mapped_column(
        comment="end of the latest data interval whose alerts were judged"
    )
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)


class PipelineRun(Base):
    """One run of one stage: when, what it counted, how it ended."""

    __tablename__ = "pipeline_run"

    id: Mapped[int] = _pk()
    stage: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(
        String(20), comment="running, ok, partial, failed, skipped or abandoned")
    started_at: Mapped[datetime] = _now()
    heartbeat_at: Mapped[datetime | None] = mapped_column(
        comment="renewed while the stage runs; a running row without a recent one is abandoned")
    finished_at: Mapped[datetime | None]
    interval_start: Mapped[datetime | None]
    interval_end: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_pipeline_run_stage_started_at", "stage", "started_at"),)


class FeedFetch(Base):
    """Per feed and ingest run: what the fetch returned and what it stored."""

    __tablename__ = "feed_fetch"

    id: Mapped[int] = _pk()
    run_id: Mapped[int | None] = mapped_column(ForeignKey("pipeline_run.id", ondelete="SET NULL"))
    feed_id: Mapped[int] = mapped_column(ForeignKey("feed.id", ondelete="CASCADE"))
    fetched_at: Mapped[datetime] = _now()
    http_status: Mapped[int | None] = mapped_column(Integer)
    not_modified: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    items_seen: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    new: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    updated: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    duplicates: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rejected: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    flags: Mapped[dict[str, Any]] = mapped_column(
        server_default=text("'{}'::jsonb"),
        comment='entries per repair flag in this fetch, e.g. {"title_truncated": 1}',
    )
    bozo: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    bozo_reason: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_feed_fetch_feed_id_fetched_at", "feed_id", "fetched_at"),)
