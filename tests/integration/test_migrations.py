"""Migrations: idempotent upgrade, full downgrade and back, and models in sync with them."""

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from sentinel.db.migrate import current_revision, downgrade, head_revision, upgrade
from sentinel.db.models import Base

REPO = Path(__file__).resolve().parents[2]


def schema_snapshot(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = 'public' "
            "ORDER BY table_name, column_name")).all()


def test_upgrade_twice_changes_nothing(db):
    assert current_revision(db) == head_revision()
    before = schema_snapshot(db)
    assert upgrade(db) == (head_revision(), head_revision())
    assert schema_snapshot(db) == before


def alembic_cli(*args, url):
    """The alembic command as a user runs it from the repository root (alembic.ini)."""
    env = {**os.environ, "SENTINEL_DATABASE_URL": url}
    result = subprocess.run([sys.executable, "-m", "alembic", *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def test_alembic_cli_downgrade_base_then_upgrade(db, database_url):
    before = schema_snapshot(db)
    alembic_cli("downgrade", "base", url=database_url)
    assert current_revision(db) is None
    alembic_cli("upgrade", "head", url=database_url)
    assert current_revision(db) == head_revision()
    assert schema_snapshot(db) == before


def test_downgrade_to_base_then_upgrade(db):
    before = schema_snapshot(db)
    downgrade(db, "base")
    with db.connect() as conn:
        tables = sa.inspect(conn).get_table_names()
        views = sa.inspect(conn).get_view_names()
    assert set(tables) <= {"alembic_version"} and not views
    upgrade(db)
    assert current_revision(db) == head_revision()
    assert schema_snapshot(db) == before


def test_models_match_migrations(db):
    with db.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations differ; write a migration for: {diff}"


def test_timestamps_are_timezone_aware(db):
    with db.connect() as conn:
        naive = conn.execute(sa.text(
            "SELECT table_name || '.' || column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type = 'timestamp without time zone'")).all()
    assert naive == []
