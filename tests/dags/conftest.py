"""Airflow for the DAG tests: a private AIRFLOW_HOME with a sqlite metadata DB, this repo's dags/.

Airflow reads its configuration when it is first imported, so the environment is set here, at
import time of this conftest — pytest imports it before any test module of this folder, and no
other test folder imports Airflow. Sentinel's own data still goes to the real PostgreSQL of
``tests/conftest.py``. Also here: a feed server and a Slack-compatible server on 127.0.0.1.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

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


# --- HTTP peers ---------------------------------------------------------------------------------

class Server:
    """A ThreadingHTTPServer on 127.0.0.1 in a daemon thread, stopped by the fixture."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FeedHandler(BaseHTTPRequestHandler):
    """Serves ``/feeds/<name>.xml`` from the server's ``files`` mapping (no conditional GET, so
    every run downloads every item again and deduplication is what keeps rows unique)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        owner: FeedServer = self.server.owner  # type: ignore[attr-defined]
        owner.requests.append(self.path)
        body = owner.files.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class FeedServer(Server):
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        super().__init__(FeedHandler)

    def publish_samples(self, now: datetime, workdir: Path) -> Path:
        """Serve the bundled sample feeds shifted so their newest story is at ``now``; returns a
        feeds.yaml that points at them over HTTP."""
        import yaml

        from sentinel.samples import stage_sample_feeds

        staged = stage_sample_feeds(REPO / "examples" / "feeds", workdir / "staged", now)
        feeds = yaml.safe_load(staged.read_text())["feeds"]
        for feed in feeds:
            path = f"/feeds/{feed['name']}.xml"
            self.files[path] = (staged.parent / f"{feed['name']}.xml").read_bytes()
            feed["url"] = self.url + path
        feeds_file = workdir / "feeds.yaml"
        feeds_file.write_text(yaml.safe_dump({"feeds": feeds}, sort_keys=False))
        return feeds_file


class SlackHandler(BaseHTTPRequestHandler):
    """Answers like Slack: Web API methods under /api/ (bot token) and incoming webhooks."""

    def do_POST(self) -> None:  # noqa: N802
        owner: SlackServer = self.server.owner  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if "json" in (self.headers.get("Content-Type") or ""):
            body = json.loads(raw or "{}")
        else:
            body = {k: v[0] for k, v in parse_qs(raw).items()}
        auth = self.headers.get("Authorization") or ""
        owner.messages.append({"path": self.path, "auth": auth, **body})
        if self.path.startswith("/hooks/"):
            self._send(200, b"ok", "text/plain")
            return
        if self.path.startswith("/api/") and not auth.startswith("Bearer "):
            self._send(200, json.dumps({"ok": False, "error": "not_authed"}).encode())
            return
        ts = f"{datetime.now(UTC).timestamp():.6f}"
        reply = {"ok": True, "channel": body.get("channel", "C0SENTINEL"), "ts": ts,
                 "message": {"text": body.get("text", ""), "ts": ts}}
        self._send(200, json.dumps(reply).encode())

    def _send(self, status: int, payload: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


class SlackServer(Server):
    def __init__(self) -> None:
        self.messages: list[dict] = []
        super().__init__(SlackHandler)

    def posts(self) -> list[dict]:
        """Messages posted to a channel (chat.postMessage or a webhook)."""
        return [m for m in self.messages
                if m["path"].endswith("chat.postMessage") or m["path"].startswith("/hooks/")]


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture
def slack_server() -> Iterator[SlackServer]:
    server = SlackServer()
    yield server
    server.close()


@pytest.fixture
def sentinel_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str,
                 slack_server: SlackServer):
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
        "SENTINEL_SLACK_BOT_TOKEN": "xoxb-test-token",
        "SENTINEL_SLACK_CHANNEL": "#sentinel-test",
        "SENTINEL_SLACK_BASE_URL": f"{slack_server.url}/api/",
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
