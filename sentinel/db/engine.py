"""Engine helpers: one code path for the embedded server and any configured URL."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, DBAPIError

from sentinel.errors import ConfigError, DatabaseUnavailable

if TYPE_CHECKING:
    from sentinel.settings import Settings

URL_VARIABLE = "SENTINEL_DATABASE_URL"


def resolve_database_url(configured: str | None, pgdata: Path) -> str:
    """The configured URL, or the URL of the embedded server started in ``pgdata``."""
    if configured:
        return configured
    from sentinel.db.embedded import start_embedded

    return start_embedded(pgdata)


def make_engine(url: str) -> Engine:
    """Create an engine, check the connection, and turn failures into one readable line."""
    try:
        parsed = sa.make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"{URL_VARIABLE} is not a database URL; expected "
            "postgresql+psycopg2://USER:PASSWORD@HOST:5432/DBNAME"
        ) from None
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(
            f"{URL_VARIABLE} names a {parsed.get_backend_name()!r} database; Sentinel needs "
            "PostgreSQL (postgresql+psycopg2://...)"
        )
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    engine = sa.create_engine(
        parsed,
        pool_pre_ping=True,
        connect_args={"options": "-c timezone=UTC", "connect_timeout": 10},
    )
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except DBAPIError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        where = parsed.render_as_string(hide_password=True)
        raise DatabaseUnavailable(f"{URL_VARIABLE}: cannot connect to {where}: {reason}") from None
    return engine


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    """The process-wide engine for the configured (or embedded) database."""
    from sentinel.settings import get_settings

    settings = get_settings()
    configured = settings.database_url.get_secret_value() if settings.database_url else None
    return make_engine(resolve_database_url(configured, settings.pgdata_dir))


def engine_and_settings() -> tuple[Engine, Settings]:
    """What every entry point (CLI command, DAG task) starts from: the process's engine for
    the configured (or embedded) database and the configured settings."""
    from sentinel.settings import get_settings

    return get_engine(), get_settings()


# SQLSTATE classes of a connection that is gone: 08 (connection exception), 57P01-57P03 (the
# server is shutting down, crashed, or cannot accept connections yet).
_GONE = ("08", "57P01", "57P02", "57P03")


def lost_connection(exc: BaseException) -> str | None:
    """One line for an error that means the database went away mid-command (a restart, a
    crash, a network cut); None for any other error."""
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    code = getattr(orig, "pgcode", None) or ""
    gone = exc.connection_invalidated or code.startswith(_GONE) or (
        not code and type(orig).__name__ in ("OperationalError", "InterfaceError"))
    if not gone:
        return None
    reason = " ".join(str(orig or exc).split()) or type(orig).__name__
    return (f"lost the database connection ({reason[:300]}); what was committed is kept: run "
            "the command again once the database is back")

