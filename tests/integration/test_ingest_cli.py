"""`sentinel ingest` and `sentinel feeds list|add|check` as a user runs them (real processes)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
import yaml
from feedserver import FeedServer, Reply

GOOD = (b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>"
        b"<item><title>Orrin Motors ($ORRN) recalls SUVs</title>"
        b"<link>https://w.example/1?utm_source=x</link><guid>w-1</guid>"
        b"<pubDate>Sun, 29 Nov 2026 09:00:00 +0000</pubDate></item>"
        b"<item><title>Kestrel Bank hires</title><link>https://w.example/2</link>"
        b"<guid>w-2</guid></item></channel></rss>")


@pytest.fixture
def server():
    with FeedServer() as server:
        server.route("/good.xml", Reply(body=GOOD))
        server.route("/missing.xml", Reply(status=404))
        yield server


@pytest.fixture
def run(tmp_path, database_url, db):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    env.update(SENTINEL_DATABASE_URL=database_url, SENTINEL_DATA_DIR=str(tmp_path / "data"),
               SENTINEL_FETCH_RETRIES="1", SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1")

    def sentinel(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sentinel", *args], capture_output=True,
                              text=True, env={**env, **extra}, cwd=tmp_path, timeout=120)
    return sentinel


def one_line_error(result, *needles: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def count(db, table: str) -> int:
    with db.connect() as conn:
        return conn.scalar(sa.text(f"SELECT count(*) FROM {table}"))


def test_add_list_ingest_list(run, server, db, tmp_path):
    feeds = tmp_path / "conf" / "feeds.yaml"
    added = run("feeds", "add", server.url("/good.xml"), "--name", "good-wire",
                "--tag", "region=US", "--tag", "tickers=orrn,KBNK", "--feeds", str(feeds))
    assert added.returncode == 0, added.stderr
    assert f"added feed 'good-wire' ({server.url('/good.xml')}) to {feeds}" in added.stdout
    assert yaml.safe_load(feeds.read_text())["feeds"] == [
        {"name": "good-wire", "url": server.url("/good.xml"),
         "tags": {"region": "US", "tickers": ["ORRN", "KBNK"]}}]
    assert count(db, "feed") == 1

    env = {"SENTINEL_FEEDS_FILE": str(feeds)}
    one_line_error(run("feeds", "add", server.url("/missing.xml"), "--name", "gone-wire", **env),
                   "does not answer as a feed now (HTTP 404", "--no-check")
    second = run("feeds", "add", server.url("/missing.xml"), "--name", "gone-wire",
                 "--no-check", **env)
    assert second.returncode == 0, second.stderr
    assert len(server.hits("/missing.xml")) == 1  # --no-check did not fetch it
    listed = run("feeds", "list", **env)
    assert listed.returncode == 0, listed.stderr
    assert "2 feeds in" in listed.stdout and "new" in listed.stdout

    ingested = run("ingest", **env)
    # partial: a feed failed (docs/operations.md, "Exit codes and the failure contract")
    assert ingested.returncode == 3, ingested.stderr
    assert ingested.stdout.startswith("ingest: partial feeds=2 fetched=1 not_modified=0 failed=1 "
                                      "items=2 new=2 updated=0 duplicates=0"), ingested.stdout
    assert "1 of 2 feeds not ingested" in ingested.stdout
    listed = run("feeds", "list", **env).stdout.splitlines()
    assert listed[1].split()[:3] == ["FAIL", "x1", "gone-wire"]
    assert "last error: HTTP 404" in listed[2]
    assert listed[3].split()[:2] == ["ok", "good-wire"]

    again = run("ingest", "--feeds", str(feeds))
    assert "new=0" in again.stdout and "duplicates=2" in again.stdout


def test_add_refuses_duplicates_and_bad_input(run, server, tmp_path):
    feeds = str(tmp_path / "feeds.yaml")
    url = server.url("/good.xml")
    assert run("feeds", "add", url, "--name", "a", "--feeds", feeds).returncode == 0
    one_line_error(run("feeds", "add", url + "?x", "--name", "a", "--feeds", feeds),
                   "a feed named 'a' already exists")
    one_line_error(run("feeds", "add", url, "--name", "b", "--feeds", feeds),
                   "already in the feed table as 'a'")
    one_line_error(run("feeds", "add", "ftp://x.example/rss", "--name", "c", "--feeds", feeds),
                   "url must start with http:// or https://")
    one_line_error(run("feeds", "add", url + "?y", "--name", "d", "--tag", "oops",
                       "--feeds", feeds), "expected KEY=VALUE")
    one_line_error(run("feeds", "add", url + "?z", "--name", "e"),
                   "pass --feeds FILE or set SENTINEL_FEEDS_FILE")
    listed = yaml.safe_load((tmp_path / "feeds.yaml").read_text())["feeds"]
    assert [f["name"] for f in listed] == ["a"]


def test_check_shows_what_would_be_stored_and_stores_nothing(run, server, db):
    result = run("feeds", "check", server.url("/good.xml"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "HTTP 200" in out and "format: rss20; bozo: no" in out
    assert "would store 2 articles" in out
    assert "Orrin Motors ($ORRN) recalls SUVs" in out and "tickers: ORRN" in out
    assert "url: https://w.example/1 " in out + " " and "identity: guid:feed-0:w-1" in out
    assert "(missing)" in out and "(nothing was stored;" in out
    assert count(db, "article") == 0 and count(db, "feed") == 0


def test_check_of_a_broken_feed_exits_1(run, server):
    result = run("feeds", "check", server.url("/missing.xml"))
    assert result.returncode == 1
    assert "error: HTTP 404" in result.stdout


def test_invalid_entry_is_one_line_naming_file_entry_and_fix_and_the_rest_is_ingested(
        run, server, db, tmp_path):
    bad = tmp_path / "feeds.yaml"
    bad.write_text(f"feeds:\n  - name: a\n    url: {server.url('/good.xml')}\n  - name: b\n")
    result = run("ingest", "--feeds", str(bad))
    one_line_error(result, str(bad), "entry 2 has no 'url'",
                   "every feed needs a name and an http(s) url")
    assert result.stdout.startswith("ingest: partial feeds=2 fetched=1 not_modified=0 failed=1 "
                                    "items=2 new=2"), result.stdout
    assert count(db, "article") == 2
