"""Database helpers shared by conftest.py and module-scoped fixtures (which cannot use the
``db`` fixture; importing ``conftest`` by name is ambiguous with tests/dags/conftest.py)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def empty_tables(engine: Engine) -> None:
    """Every table of the schema emptied, identities restarted (what ``db`` does per test)."""
    with engine.begin() as conn:
        tables = conn.scalars(sa.text(
            "SELECT quote_ident(tablename) FROM pg_tables "
            "WHERE schemaname = 'public' AND tablename <> 'alembic_version'")).all()
        if tables:
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
