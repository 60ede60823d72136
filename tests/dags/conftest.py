"""Airflow for the DAG tests: a private AIRFLOW_HOME with a sqlite metadata DB, this repo's dags/.

Airflow reads its configuration when it is first imported, so the environment is set here, at
import time of this conftest — pytest imports it before any test module of this folder, and no
other test folder imports Airflow. Sentinel's own data still goes to the real PostgreSQL of
``tests/conftest.py``. Also here: the project's feed and Slack test servers, wired up for DAG runs.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from feedserver import FeedServer, Reply
from slackserver import SlackServer

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"

AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="sentinel-airflow-test-"))
atexit.register(shutil.rmtree, AIRFLOW_HOME, ignore_errors=True)
AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
}
if "airflow" in sys.modules:  # pragma: no cover - a guard for whoever reorganises the tests
    raise RuntimeError("Airflow was imported before tests/dags/conftest.py could configure it; "
                       "keep Airflow imports out of other test folders and the root conftest")
os.environ.update(AIRFLOW_ENV)
ROOT_HANDLERS_BEFORE_AIRFLOW = list(logging.getLogger().handlers)

PARSE_TIMES: dict[str, dict[str, float]] = {}  # DAG file -> {how: seconds}, reported at the end


def pytest_terminal_summary(terminalreporter) -> None:
    if PARSE_TIMES:
        terminalreporter.section("DAG file parse times (measured, not asserted)")
        for name, times in sorted(PARSE_TIMES.items()):
            terminalreporter.write_line(f"{name}: " + ", ".join(
                f"{how} {seconds * 1000:.1f} ms" for how, seconds in sorted(times.items())))


@pytest.fixture(scope="session")
def parse_times() -> dict[str, dict[str, float]]:
    return PARSE_TIMES


@pytest.fixture(scope="session", autouse=True)
def _release_airflow_log_handler() -> Iterator[None]:
    """Airflow adds a root log handler bound to pytest's captured stdout; drop it at the end so
    later logging (the embedded PostgreSQL stopping at exit) does not write to a closed file."""
    yield
    root = logging.getLogger()
    for handler in root.handlers[:]:
        if type(handler) is logging.StreamHandler and handler not in ROOT_HANDLERS_BEFORE_AIRFLOW:
            root.removeHandler(handler)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata DB, migrated once, with the `gpu` pool the DAGs use."""
    def airflow(*args: str) -> None:
        done = subprocess.run([sys.executable, "-m", "airflow", *args], capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, f"airflow {' '.join(args)} failed:\n{done.stderr[-3000:]}"

    airflow("db", "migrate")
    airflow("pools", "set", "gpu", "1", "classification: one model in memory at a time")
    return AIRFLOW_HOME


@pytest.fixture(scope="session")
def dagbag(airflow_db: Path):
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=DAGS, bundle_path=DAGS, known_pools={"default_pool", "gpu"})


# --- HTTP peers (the servers of tests/feedserver.py and tests/slackserver.py) ------------------

@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@pytest.fixture
def sample_feeds(feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``sample_feeds(now)``: serve the bundled sample feeds shifted so their newest story is at
    ``now`` and point SENTINEL_FEEDS_FILE at them. No validators are sent, so every run
    downloads every item again and only deduplication keeps the rows unique."""
    import yaml

    from sentinel.samples import stage_sample_feeds

    def publish(now: datetime) -> Path:
        staged = stage_sample_feeds(REPO / "examples" / "feeds", tmp_path / "staged", now)
        feeds = yaml.safe_load(staged.read_text())["feeds"]
        for feed in feeds:
            body = (staged.parent / f"{feed['name']}.xml").read_bytes()
            feed["url"] = feed_server.route(f"/feeds/{feed['name']}.xml", Reply(body=body))
        feeds_file = tmp_path / "feeds.yaml"
        feeds_file.write_text(yaml.safe_dump({"feeds": feeds}, sort_keys=False))
        monkeypatch.setenv("SENTINEL_FEEDS_FILE", str(feeds_file))
        return feeds_file

    return publish


@pytest.fixture
def slack_server() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.fixture
def sentinel_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str,
                 slack_server: SlackServer) -> Iterator[dict[str, str]]:
    """Configure Sentinel the way a deployment does — environment variables read by the DAG
    tasks' ``get_settings()`` — and drop the cached settings and engine around the test."""
    from sentinel.db.engine import get_engine
    from sentinel.settings import get_settings

    for name in [n for n in os.environ if n.startswith("SENTINEL_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env
    values = {
        "SENTINEL_DATABASE_URL": database_url,
        "SENTINEL_DATA_DIR": str(tmp_path / "data"),
        "SENTINEL_SLACK_BOT_TOKEN": slack_server.state.token,
        "SENTINEL_SLACK_CHANNEL": "C0ALERTS",
        "SENTINEL_SLACK_BASE_URL": slack_server.base_url,
        "SENTINEL_FETCH_ALLOWED_NETWORKS": "127.0.0.1",  # the feed server's address
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)

    def reset() -> None:
        get_settings.cache_clear()
        if get_engine.cache_info().currsize:
            get_engine().dispose()
        get_engine.cache_clear()

    reset()
    yield values
    reset()


@pytest.fixture
def no_retries(dagbag, monkeypatch: pytest.MonkeyPatch) -> None:
    """dag.test() waits out every retry delay (1 + 2 + 4 minutes); tests want the first error."""
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            monkeypatch.setattr(task, "retries", 0)
