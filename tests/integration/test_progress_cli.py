"""Long work shows progress: a backfill `sentinel classify --since --until` over a few thousand
articles draws tqdm bars on a terminal (run under a pseudo-terminal) and logs progress lines
when its output is not one (a pipe, as in Airflow's task logs)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from sentinel.db.models import Article

ARTICLES = 3000
SINCE = datetime(2026, 11, 2, tzinfo=UTC)
RANGE = ("--since", "2026-11-02T00:00Z", "--until", "2026-11-03T00:00Z")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from sentinel.classify.testing import write_tiny_multitask

    return write_tiny_multitask(tmp_path_factory.mktemp("tiny") / "model", name="tiny", seed=1)


@pytest.fixture
def backlog(db):
    titles = ["shares fall after profit warning", "bank cuts outlook on weak demand",
              "oil jumps as opec deal holds", "tesla names new ceo"]
    with db.begin() as conn:
        conn.execute(sa.insert(Article), [
            {"identity": f"test:{i}", "title": f"{titles[i % 4]} {i}",
             "summary": "", "published_at": SINCE + timedelta(seconds=28 * i),
             "fetched_at": SINCE, "content_hash": f"h{i}", "tickers": []}
            for i in range(ARTICLES)])
    return db


def command(tiny_model, database_url, tmp_path) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    env.update({"SENTINEL_DATABASE_URL": database_url, "SENTINEL_DATA_DIR": str(tmp_path),
                "SENTINEL_THREADS": "1", "SENTINEL_CLASSIFY_CHUNK": "256",
                "SENTINEL_DEVICE": "cpu", "TERM": "xterm"})
    return [sys.executable, "-m", "sentinel", "classify", "--model", str(tiny_model),
            *RANGE], env


def run_in_pty(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run a command with a pseudo-terminal (80x120) as stdin, stdout and stderr."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env,
                               close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return process.wait(timeout=600), b"".join(chunks).decode("utf-8", "replace")


def test_on_a_terminal_a_backfill_draws_progress_bars(backlog, tiny_model, database_url,
                                                     tmp_path):
    args, env = command(tiny_model, database_url, tmp_path)
    code, output = run_in_pty(args, env)
    assert code == 0, output[-3000:]
    states = re.findall(r"classify: +(\d+)%\|[^|]*\| *(\d+)/3000 \[([\d:]+)<([\d:?]+), *"
                        r"([\d.?]+) ?article/s\]", output)
    assert states, output[-3000:]
    assert states[0][1] == "0" and states[-1][:2] == ("100", "3000")
    assert float(states[-1][4]) > 0  # a rate; "<00:00" is the time left
    assert re.search(r"rollup rebuild: 100%\|[^|]*\| 24/24 \[", output)
    assert "reclassify: ok model=tiny version=" in output and f"classified={ARTICLES}" in output
    assert "progress done=" not in output  # on a terminal: the bar, not log lines


def test_without_a_terminal_a_backfill_logs_progress_lines(backlog, tiny_model, database_url,
                                                          tmp_path):
    args, env = command(tiny_model, database_url, tmp_path)
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if "sentinel.progress" in line]
    classify = [line for line in lines if " classify progress " in line]
    assert "done=0 total=3000 pct=0" in classify[0]
    assert re.search(r"done=3000 total=3000 pct=100 rate=[\d.]+/s elapsed=", classify[-1])
    assert all(re.search(r"^\S+ \S+ INFO sentinel\.progress classify progress done=\d+ "
                         r"total=3000 pct=\d+ rate=", line) for line in classify), classify
    rebuild = [line for line in lines if " rollup rebuild progress " in line]
    assert "done=0 total=24" in rebuild[0] and "done=24 total=24 pct=100" in rebuild[-1]
    assert "%|" not in done.stderr  # no bar in a log
    assert f"classified={ARTICLES}" in done.stdout
