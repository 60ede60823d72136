"""Run Alembic migrations programmatically (what `sentinel db upgrade` calls)."""

from __future__ import annotations

from collections.abc import Callable

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from sentinel.packaged import packaged_dir


def alembic_config() -> Config:
    """Alembic's configuration: the migrations shipped in the package (no alembic.ini)."""
    config = Config()
    config.set_main_option("script_location", str(packaged_dir("db", "migrations")))
    return config


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Apply migrations up to ``revision``; returns (before, after). A no-op when up to date."""
    before = current_revision(engine)
    _run(engine, command.upgrade, revision)
    return before, current_revision(engine)


def downgrade(engine: Engine, revision: str = "base") -> None:
    _run(engine, command.downgrade, revision)


def _run(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    """One Alembic command in one transaction, on a connection handed to ``env.py``."""
    with engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        step(config, revision)
