"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29 06:54:11.030401
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "dedup_key", sa.Text(), nullable=False, comment="segment identity, e.g. 'ticker:AAPL'"
        ),
        sa.Column(
            "segment_kind",
            sa.String(length=20),
            nullable=False,
            comment="all, topic, ticker or source",
        ),
        sa.Column("segment_value", sa.Text(), nullable=False),
        sa.Column(
            "state", sa.String(length=20), nullable=False, comment="pending, firing or resolved"
        ),
        sa.Column(
            "window_start",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="start of the latest bucket judged",
        ),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("observed", sa.Float(), nullable=False),
        sa.Column("expected", sa.Float(), nullable=False),
        sa.Column("negative_share", sa.Float(), nullable=True),
        sa.Column("expected_share", sa.Float(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_firing_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert")),
    )
    op.create_index("ix_alert_started_at", "alert", ["started_at"], unique=False)
    op.create_index("ix_alert_state", "alert", ["state"], unique=False)
    op.create_index(
        "uq_alert_open_dedup_key",
        "alert",
        ["dedup_key"],
        unique=True,
        postgresql_where=sa.text("state <> 'resolved'"),
    )
    op.create_table(
        "article",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("identity", sa.Text(), nullable=False),
        sa.Column("guid", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), server_default="", nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "date_flag",
            sa.String(length=20),
            nullable=True,
            comment="null, 'missing' (fetch time used) or 'future' (clamped)",
        ),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "tickers",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article")),
        sa.UniqueConstraint("identity", name=op.f("uq_article_identity")),
    )
    op.create_index("ix_article_published_at", "article", ["published_at"], unique=False)
    op.create_index(
        "ix_article_tickers", "article", ["tickers"], unique=False, postgresql_using="gin"
    )
    op.create_index("ix_article_url", "article", ["url"], unique=False)
    op.create_table(
        "feed",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column(
            "tags",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "consecutive_failures", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_http_status", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed")),
        sa.UniqueConstraint("name", name=op.f("uq_feed_name")),
        sa.UniqueConstraint("url", name=op.f("uq_feed_url")),
    )
    op.create_table(
        "model",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column(
            "source", sa.Text(), nullable=False, comment="directory or hub id it was loaded from"
        ),
        sa.Column(
            "tasks",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment='{"sentiment": ["negative", "neutral", "positive"], "topic": [...]}',
        ),
        sa.Column(
            "metrics",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "active",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="the model whose classifications are 'current' (at most one row)",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_model_name_version")),
    )
    op.create_index(
        "uq_model_active", "model", ["active"], unique=True, postgresql_where=sa.text("active")
    )
    op.create_table(
        "pipeline_run",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("stage", sa.String(length=40), nullable=False),
        sa.Column(
            "status", sa.String(length=20), nullable=False, comment="running, ok, failed or skipped"
        ),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("interval_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("interval_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "counts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_run")),
    )
    op.create_index(
        "ix_pipeline_run_stage_started_at", "pipeline_run", ["stage", "started_at"], unique=False
    )
    op.create_table(
        "alert_delivery",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("alert_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind", sa.String(length=20), nullable=False, comment="firing, repeat or resolved"
        ),
        sa.Column(
            "interval_end",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="data interval that produced it",
        ),
        sa.Column(
            "channel",
            sa.Text(),
            nullable=False,
            comment="slack-bot:<channel>, slack-webhook or log",
        ),
        sa.Column(
            "status",
            sa.String(length=20),
            nullable=False,
            comment="pending, in_flight, sent, failed (will retry) or dead (permanent)",
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remote_id", sa.Text(), nullable=True, comment="Slack message ts"),
        sa.Column("remote_channel", sa.Text(), nullable=True),
        sa.Column(
            "payload",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alert.id"],
            name=op.f("fk_alert_delivery_alert_id_alert"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_delivery")),
        sa.UniqueConstraint(
            "alert_id",
            "kind",
            "interval_end",
            name=op.f("uq_alert_delivery_alert_id_kind_interval_end"),
        ),
    )
    op.create_index("ix_alert_delivery_status", "alert_delivery", ["status"], unique=False)
    op.create_table(
        "article_feed",
        sa.Column("article_id", sa.BigInteger(), nullable=False),
        sa.Column("feed_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "first_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["article.id"],
            name=op.f("fk_article_feed_article_id_article"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["feed.id"], name=op.f("fk_article_feed_feed_id_feed"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("article_id", "feed_id", name=op.f("pk_article_feed")),
    )
    op.create_index("ix_article_feed_feed_id", "article_feed", ["feed_id"], unique=False)
    op.create_table(
        "classification",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("article_id", sa.BigInteger(), nullable=False),
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "content_hash",
            sa.String(length=64),
            nullable=False,
            comment="article.content_hash that was classified; differs => stale",
        ),
        sa.Column("sentiment", sa.String(length=20), nullable=True),
        sa.Column("p_negative", sa.Float(), nullable=True),
        sa.Column("p_neutral", sa.Float(), nullable=True),
        sa.Column("p_positive", sa.Float(), nullable=True),
        sa.Column("topic", sa.String(length=100), nullable=True),
        sa.Column("topic_prob", sa.Float(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["article.id"],
            name=op.f("fk_classification_article_id_article"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["model.id"],
            name=op.f("fk_classification_model_id_model"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classification")),
        sa.UniqueConstraint(
            "article_id", "model_id", name=op.f("uq_classification_article_id_model_id")
        ),
    )
    op.create_index(
        "ix_classification_model_id_created_at",
        "classification",
        ["model_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "feed_fetch",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("feed_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "fetched_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("not_modified", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("items_seen", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("new", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("duplicates", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rejected", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("bozo", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("bozo_reason", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["feed.id"], name=op.f("fk_feed_fetch_feed_id_feed"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["pipeline_run.id"],
            name=op.f("fk_feed_fetch_run_id_pipeline_run"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_fetch")),
    )
    op.create_index(
        "ix_feed_fetch_feed_id_fetched_at", "feed_fetch", ["feed_id", "fetched_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_feed_fetch_feed_id_fetched_at", table_name="feed_fetch")
    op.drop_table("feed_fetch")
    op.drop_index("ix_classification_model_id_created_at", table_name="classification")
    op.drop_table("classification")
    op.drop_index("ix_article_feed_feed_id", table_name="article_feed")
    op.drop_table("article_feed")
    op.drop_index("ix_alert_delivery_status", table_name="alert_delivery")
    op.drop_table("alert_delivery")
    op.drop_index("ix_pipeline_run_stage_started_at", table_name="pipeline_run")
    op.drop_table("pipeline_run")
    op.drop_index("uq_model_active", table_name="model", postgresql_where=sa.text("active"))
    op.drop_table("model")
    op.drop_table("feed")
    op.drop_index("ix_article_url", table_name="article")
    op.drop_index("ix_article_tickers", table_name="article", postgresql_using="gin")
    op.drop_index("ix_article_published_at", table_name="article")
    op.drop_table("article")
    op.drop_index(
        "uq_alert_open_dedup_key",
        table_name="alert",
        postgresql_where=sa.text("state <> 'resolved'"),
    )
    op.drop_index("ix_alert_state", table_name="alert")
    op.drop_index("ix_alert_started_at", table_name="alert")
    op.drop_table("alert")
