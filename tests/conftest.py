"""Shared fixtures: a real PostgreSQL for the whole session, clean tables for every test.

The server is ``SENTINEL_TEST_DATABASE_URL`` when set (CI creates its own database on the
machine's PostgreSQL), otherwise an embedded PostgreSQL started in a temporary directory.
Migrations run once per session on a freshly emptied schema. Stage code commits for real (a
crash test needs that), so isolation is by emptying every table after each test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from dbkit import empty_tables
from sqlalchemy.engine import Engine

REPO = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("SENTINEL_DATASETS_DIR", REPO.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("SENTINEL_TEST_DATABASE_URL")
    if url:
        name = sa.make_url(url).database or ""
        if "test" not in name:
            pytest.exit(f"SENTINEL_TEST_DATABASE_URL names database {name!r}; the tests empty "
                        "it, so its name must contain 'test'", returncode=2)
        return url
    from sentinel.db.embedded import start_embedded

    return start_embedded(tmp_path_factory.mktemp("embedded-pg") / "pgdata")


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    from sentinel.db.engine import make_engine
    from sentinel.db.migrate import upgrade

    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Engine]:
    """The session's engine, with every table emptied after the test."""
    yield engine
    empty_tables(engine)


@pytest.fixture
def settings(tmp_path: Path, database_url: str):
    """Settings for a test: no .env, data in tmp_path, the test database; feeds may be
    fetched from the test servers on 127.0.0.1 (and no other internal address)."""
    from sentinel.settings import Settings

    return Settings(_env_file=None, database_url=database_url, data_dir=tmp_path / "data",
                    fetch_allowed_networks=["127.0.0.1"])


@pytest.fixture
def demo_settings(settings):
    """``settings`` in demo mode, as `make demo` asks: ingest polls the bundled sample feeds."""
    return settings.model_copy(update={"demo": True})
