"""ingest repair flags on articles and fetches

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 11:00:00

``article.flags`` says what normalisation had to repair in a story (a title cut to 500
characters, a title taken from the summary, a dropped javascript: link, a missing or future
date...); ``feed_fetch.flags`` counts the entries per flag for one fetch.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ARTICLE_FLAGS = ("repairs made while normalising: title_truncated, title_from_summary, "
                 "summary_truncated, link_dropped, guid_too_long, date_missing, date_future")
FETCH_FLAGS = 'entries per repair flag in this fetch, e.g. {"title_truncated": 1}'


def upgrade() -> None:
    op.add_column("article", sa.Column(
        "flags", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"),
        nullable=False, comment=ARTICLE_FLAGS))
    op.add_column("feed_fetch", sa.Column(
        "flags", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
        nullable=False, comment=FETCH_FLAGS))


def downgrade() -> None:
    op.drop_column("feed_fetch", "flags")
    op.drop_column("article", "flags")
