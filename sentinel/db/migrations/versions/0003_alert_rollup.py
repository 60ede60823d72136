"""alert rollups, detection state, delivery bookkeeping

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 10:00:00

``alert_rollup`` holds negative and total counts per (model, bucket size, segment, bucket), kept
up to date incrementally by the detect stage; ``rollup_state`` holds its watermarks and
``detect_state`` the latest data interval whose alerts were judged. The two indexes on
``article.updated_at`` and ``article_feed.first_seen_at`` let a run find what changed since
the last one without scanning history.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_rollup",
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("bucket_minutes", sa.Integer(), nullable=False),
        sa.Column("segment_kind", sa.String(length=20), nullable=False,
                  comment="all, topic, ticker or source"),
        sa.Column("segment_value", sa.Text(), nullable=False,
                  comment="'all', the topic, the ticker or the feed name"),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False,
                  comment="classified articles in the bucket"),
        sa.Column("negative", sa.Integer(), nullable=False,
                  comment="of which the sentiment is negative"),
        sa.ForeignKeyConstraint(["model_id"], ["model.id"],
                                name=op.f("fk_alert_rollup_model_id_model"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("model_id", "bucket_minutes", "segment_kind", "segment_value",
                                "bucket_start", name=op.f("pk_alert_rollup")),
    )
    op.create_index("ix_alert_rollup_model_id_bucket_minutes_bucket_start", "alert_rollup",
                    ["model_id", "bucket_minutes", "bucket_start"], unique=False)
    op.create_table(
        "rollup_state",
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("bucket_minutes", sa.Integer(), nullable=False),
        sa.Column("classified_until", sa.DateTime(timezone=True), nullable=True,
                  comment="classification.created_at up to which changes are folded in"),
        sa.Column("articles_until", sa.DateTime(timezone=True), nullable=True,
                  comment="article.updated_at up to which changes are folded in"),
        sa.Column("links_until", sa.DateTime(timezone=True), nullable=True,
                  comment="article_feed.first_seen_at up to which links are folded in"),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["model.id"],
                                name=op.f("fk_rollup_state_model_id_model"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("model_id", "bucket_minutes", name=op.f("pk_rollup_state")),
    )
    op.create_table(
        "detect_state",
        sa.Column("id", sa.SmallInteger(), nullable=False, comment="always 1 (one row)"),
        sa.Column("judged_from", sa.DateTime(timezone=True), nullable=True,
                  comment="start of that interval (a rerun judges the same buckets)"),
        sa.Column("judged_until", sa.DateTime(timezone=True), nullable=True,
                  comment="end of the latest data interval whose alerts were judged"),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_detect_state_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detect_state")),
    )
    op.add_column("alert_delivery", sa.Column(
        "thread_ts", sa.Text(), nullable=True, comment="Slack thread it was posted in"))
    op.add_column("alert_delivery", sa.Column(
        "last_attempt_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_article_updated_at", "article", ["updated_at"], unique=False)
    op.create_index("ix_article_feed_first_seen_at", "article_feed", ["first_seen_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_article_feed_first_seen_at", table_name="article_feed")
    op.drop_index("ix_article_updated_at", table_name="article")
    op.drop_column("alert_delivery", "last_attempt_at")
    op.drop_column("alert_delivery", "thread_ts")
    op.drop_table("detect_state")
    op.drop_table("rollup_state")
    op.drop_index("ix_alert_rollup_model_id_bucket_minutes_bucket_start",
                  table_name="alert_rollup")
    op.drop_table("alert_rollup")
