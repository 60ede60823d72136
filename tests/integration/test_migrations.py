"""Migrations: idempotent upgrade, full downgrade and back, and models in sync with them."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
import sqlalchemy as sa

from sentinel.db.migrate import current_revision, downgrade, head_revision, upgrade
from sentinel.db.models import Base


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
