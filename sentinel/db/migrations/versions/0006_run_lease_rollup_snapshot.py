"""run leases, rollup snapshots

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-30 09:00:00

``pipeline_run.heartbeat_at`` is renewed while a stage runs: a row still ``running`` whose
heartbeat is older than the lease belongs to a process that died, and is marked ``abandoned``
(new statuses: ``partial``, ``abandoned``). ``article.date_flag`` may now be ``too_old`` (a
date before 1990). ``rollup_state.snapshot`` keeps the transaction
snapshot of the detect run that last folded changes into the rollups, so the next run skips the
rows it saw and recomputes only what committed since.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUS_BEFORE = "running, ok, failed or skipped"
STATUS_AFTER = "running, ok, partial, failed, skipped or abandoned"
DATE_FLAG_BEFORE = "null, 'missing' (fetch time used) or 'future' (clamped)"
DATE_FLAG_AFTER = ("null, or why the fetch time was used: 'missing' (no readable date), "
                   "'future' (too far ahead) or 'too_old' (before 1990)")
FLAGS_BEFORE = ("repairs made while normalising: title_truncated, title_from_summary, "
                "summary_truncated, link_dropped, guid_too_long, date_missing, date_future, "
                "mojibake_repaired")  # as 0005 left it
FLAGS_AFTER = FLAGS_BEFORE.replace("date_future,", "date_future, date_too_old,")


def upgrade() -> None:
    op.add_column("pipeline_run", sa.Column(
        "heartbeat_at", sa.DateTime(timezone=True), nullable=True,
        comment="renewed while the stage runs; a running row without a recent one is abandoned"))
    op.alter_column("pipeline_run", "status", existing_type=sa.String(length=20),
                    existing_nullable=False, comment=STATUS_AFTER,
                    existing_comment=STATUS_BEFORE)
    op.add_column("rollup_state", sa.Column(
        "snapshot", sa.Text(), nullable=True,
        comment="pg_current_snapshot() of the last run: rows written by transactions visible "
        "in it are folded in"))
    _comments(DATE_FLAG_AFTER, DATE_FLAG_BEFORE, FLAGS_AFTER, FLAGS_BEFORE)


def _comments(date_flag: str, date_flag_was: str, flags: str, flags_was: str) -> None:
    op.alter_column("article", "date_flag", existing_type=sa.String(length=20),
                    existing_nullable=True, comment=date_flag, existing_comment=date_flag_was)
    op.alter_column("article", "flags", existing_type=postgresql.ARRAY(sa.Text()),
                    existing_nullable=False, comment=flags, existing_comment=flags_was)


def downgrade() -> None:
    op.execute("UPDATE article SET date_flag = 'missing' WHERE date_flag = 'too_old'")
    _comments(DATE_FLAG_BEFORE, DATE_FLAG_AFTER, FLAGS_BEFORE, FLAGS_AFTER)
    op.drop_column("rollup_state", "snapshot")
    op.execute("UPDATE pipeline_run SET status = 'failed' WHERE status = 'abandoned'")
    op.execute("UPDATE pipeline_run SET status = 'ok' WHERE status = 'partial'")
    op.alter_column("pipeline_run", "status", existing_type=sa.String(length=20),
                    existing_nullable=False, comment=STATUS_BEFORE,
                    existing_comment=STATUS_AFTER)
    op.drop_column("pipeline_run", "heartbeat_at")
