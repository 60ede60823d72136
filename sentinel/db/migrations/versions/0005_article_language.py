"""article language; classifications withheld for languages the model does not read

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 03:00:00

``article.language`` is the language identified at ingest (ISO 639-1, null when it could not
be told). ``classification.unread_language`` marks a verdict withheld: the article's language
is not one the model declares it reads, so the row has no sentiment and no topic, and the
rollups (which count classifications with a sentiment) leave it out. ``article.flags`` may now
also hold ``mojibake_repaired``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ARTICLE_FLAGS = ("repairs made while normalising: title_truncated, title_from_summary, "
                 "summary_truncated, link_dropped, guid_too_long, date_missing, date_future, "
                 "mojibake_repaired")
ARTICLE_FLAGS_0004 = ("repairs made while normalising: title_truncated, title_from_summary, "
                      "summary_truncated, link_dropped, guid_too_long, date_missing, "
                      "date_future")
LANGUAGE = "ISO 639-1 code identified at ingest; null when it could not be told"
UNREAD = ("the article's language when the model does not read it (then no sentiment or "
          "topic); null when classified")


def upgrade() -> None:
    op.add_column("article", sa.Column("language", sa.String(16), comment=LANGUAGE))
    op.alter_column("article", "flags", comment=ARTICLE_FLAGS,
                    existing_type=sa.ARRAY(sa.Text()), existing_nullable=False)
    op.add_column("classification", sa.Column("unread_language", sa.String(16), comment=UNREAD))


def downgrade() -> None:
    op.drop_column("classification", "unread_language")
    op.alter_column("article", "flags", comment=ARTICLE_FLAGS_0004,
                    existing_type=sa.ARRAY(sa.Text()), existing_nullable=False)
    op.drop_column("article", "language")
