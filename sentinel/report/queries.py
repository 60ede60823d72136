"""The example queries in ``sql/queries/`` for Python callers, and the URL psql and BI tools take.

The queries ship inside the package (``sentinel/sql/queries``, read through importlib.resources),
so an installed wheel has them too; :func:`query_names` lists them.

The queries are written for psql: parameters are psql variables (``:'as_of'``), so
``psql -v as_of=now -f sql/queries/x.sql`` runs them unchanged. :func:`load_query` turns those
variables into bind parameters, so the same file runs from SQLAlchemy or pandas::

    pd.read_sql(load_query("ticker_sentiment_by_hour"), engine,
                params={"ticker": "HLVP", "since": "2026-11-20", "until": "2026-11-21"})
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa

from sentinel.errors import ConfigError
from sentinel.packaged import packaged_dir

PSQL_VARIABLE = re.compile(r":'(\w+)'")


def queries_dir() -> Path:
    """Where the example queries are: ``sql/queries`` inside the installed package."""
    return packaged_dir("sql", "queries")


def query_names() -> list[str]:
    """The example queries' names (their file names without ``.sql``), sorted."""
    return sorted(path.stem for path in queries_dir().glob("*.sql"))


def query_path(name: str | Path) -> Path:
    """``name`` as a path, or the example query ``sql/queries/<name>.sql``."""
    path = Path(name)
    if path.suffix != ".sql":
        path = queries_dir() / f"{name}.sql"
    if not path.is_file():
        known = ", ".join(query_names()) or "none"
        raise ConfigError(f"no query file {path}; expected one of: {known}")
    return path


def query_parameters(name: str | Path) -> list[str]:
    """The psql variables a query needs, in order of first use."""
    return list(dict.fromkeys(PSQL_VARIABLE.findall(query_path(name).read_text())))


def load_query(name: str | Path) -> sa.TextClause:
    """The query as a SQLAlchemy text clause, psql variables turned into bind parameters."""
    return sa.text(PSQL_VARIABLE.sub(r":\1", query_path(name).read_text()))


def libpq_url(url: str | sa.URL, *, hide_password: bool = False) -> str:
    """The URL psql and BI tools take (``postgresql://``, no SQLAlchemy driver suffix).

    The embedded server listens only on a Unix socket, so its URL names the socket directory
    in ``?host=...``; libpq (psql, most BI tools' PostgreSQL drivers) accepts that form.
    """
    parsed = sa.make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=hide_password)
