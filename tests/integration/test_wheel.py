"""Sentinel as a user installs it: a wheel built from the repository, installed into a fresh
virtual environment outside the checkout, runs `db upgrade`, an ingest of a feed served on
127.0.0.1, `classify` (a one-line error naming SENTINEL_MODEL_DIR without a model, classified
articles with one), `report`, and reads the example queries and sample feeds it ships.

Nothing is downloaded: the wheel is built without build isolation by the test's own setuptools,
the new environment has no packages but the wheel (installed with --no-deps, --no-index) and
reaches its dependencies through a .pth line naming the test environment's site-packages. The
commands run against a database of their own (the test database's name + "_wheel"), created
and dropped here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from feedserver import FeedServer, Reply

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
# What the build reads: the project file, the README (the long description), the package and
# the directories its links point at (sentinel/sql -> sql, sentinel/sample_feeds -> examples/feeds).
BUILD_INPUTS = ("pyproject.toml", "README.md", "sentinel", "sql", "examples")


def feed_xml(now: datetime) -> bytes:
    items = [("Orrin Motors recalls 40,000 SUVs over brake fault", "w-1", 3),
             ("Kestrel Bank beats estimates and raises its dividend", "w-2", 2)]
    body = "".join(f"<item><title>{title}</title><link>https://wire.example/{guid}</link>"
                   f"<guid>{guid}</guid><pubDate>{format_datetime(now - timedelta(hours=h))}"
                   "</pubDate></item>" for title, guid, h in items)
    return (f"<?xml version='1.0'?><rss version='2.0'><channel><title>Wire</title>{body}"
            "</channel></rss>").encode()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the repository's build inputs (the checkout stays clean)."""
    src = tmp_path_factory.mktemp("src")
    for name in BUILD_INPUTS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(REPO / name, src / name)
    dist = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--wheel-dir", str(dist), str(src)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = dist.glob("sentinel-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding only the wheel; the bin directory with its `sentinel`."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    python = env_dir / "bin" / "python"
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([python, "-c", where], capture_output=True, text=True,
                          check=True).stdout.strip()
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    Path(site, "test-dependencies.pth").write_text("".join(f"{p}\n" for p in ours))
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--quiet", str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr
    return python.parent


@pytest.fixture
def wheel_database(database_url: str) -> Iterator[str]:
    """An empty database next to the test database, for the installed Sentinel alone."""
    url = sa.make_url(database_url)
    name = f"{url.database}_wheel"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def run_installed(installed: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run a program of the installed venv in tmp_path (outside the checkout), with nothing of
    the test's environment that could lead it back to the checkout; keyword arguments are
    SENTINEL_ settings."""
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SENTINEL_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(SENTINEL_DATA_DIR=str(tmp_path / "data"),
               SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1", SENTINEL_THREADS="1",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")

    def run(program: str, *args: str, **settings: str) -> subprocess.CompletedProcess:
        extra = {f"SENTINEL_{k.upper()}": str(v) for k, v in settings.items()}
        return subprocess.run([str(installed / program), *args], capture_output=True, text=True,
                              env={**env, **extra}, cwd=work, timeout=300)
    return run


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout


def test_the_wheel_carries_the_queries_views_feeds_and_migrations_and_no_model(wheel):
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"sentinel/sql/{p.relative_to(REPO / 'sql')}" for p in REPO.glob("sql/*/*.sql")}
    expected |= {f"sentinel/sample_feeds/{p.name}" for p in (REPO / "examples" / "feeds").iterdir()
                 if p.suffix in (".xml", ".yaml")}
    expected |= {f"sentinel/db/migrations/versions/{p.name}"
                 for p in REPO.glob("sentinel/db/migrations/versions/*.py")}
    expected |= {"sentinel/db/migrations/env.py", "sentinel/db/migrations/script.py.mako"}
    assert expected <= names, sorted(expected - names)
    assert any(n.startswith("sentinel/sql/views/") for n in names)
    assert not [n for n in names if n.endswith(".safetensors") or n.startswith("models/")]


def test_the_installed_wheel_upgrades_ingests_classifies_and_reports(
        installed, run_installed, wheel_database, tmp_path):
    located = ok(run_installed("python", "-c", "import sentinel; print(sentinel.__file__)"))
    assert Path(located.strip()).is_relative_to(installed.parent), located  # not the checkout

    def sentinel(*args: str, **settings: str) -> subprocess.CompletedProcess:
        return run_installed("sentinel", *args, database_url=wheel_database, **settings)

    assert "empty -> " in ok(sentinel("db", "upgrade"))

    with FeedServer() as server:
        url = server.route("/wire.xml", Reply(body=feed_xml(datetime.now(UTC))))
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text(yaml.safe_dump({"feeds": [{"name": "wire", "url": url}]}))
        ingested = ok(sentinel("ingest", feeds_file=str(feeds)))
    assert "failed=0" in ingested and "new=2" in ingested, ingested

    missing = sentinel("classify")
    assert missing.returncode == 1, (missing.stdout, missing.stderr)
    assert missing.stderr.startswith("error: no classifier model: SENTINEL_MODEL_DIR is not set")
    assert len(missing.stderr.strip().splitlines()) == 1 and "Traceback" not in missing.stderr

    from sentinel.classify.testing import write_tiny_multitask

    model = write_tiny_multitask(tmp_path / "tiny-model", name="tiny", seed=1)
    classified = ok(sentinel("classify", model_dir=str(model)))
    assert "classify: ok" in classified and "classified=2" in classified, classified

    out = tmp_path / "report"
    assert "report written" in ok(sentinel("report", "--out", str(out)))
    assert "wire" in (out / "report.html").read_text(encoding="utf-8")


def test_the_installed_wheel_reads_its_example_queries_and_sample_feeds(run_installed):
    script = (
        "from sentinel.report.queries import load_query, query_names, query_parameters\n"
        "from sentinel.samples import bundled_sample_feeds\n"
        "names = query_names()\n"
        "print(len(names), 'ticker_sentiment_by_hour' in names)\n"
        "print(','.join(query_parameters('ticker_sentiment_by_hour')))\n"
        "print(':ticker' in str(load_query('ticker_sentiment_by_hour')))\n"
        "print(sorted(p.name for p in bundled_sample_feeds().iterdir()))\n")
    counted, parameters, bound, feeds = ok(run_installed("python", "-c", script)).splitlines()
    count, known = counted.split()
    assert int(count) == len(list(REPO.glob("sql/queries/*.sql"))) and known == "True"
    assert set(parameters.split(",")) == {"since", "until", "ticker"} and bound == "True"
    assert "watchlist.yaml" in feeds and "ledger-wire.xml" in feeds
