"""Fetching without a network: Retry-After, schemes, file:// roots, the bounded scheduler."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from sentinel.ingest.fetch import FetchOptions, fetch_feed, parse_retry_after
from sentinel.ingest.run import host_key, run_bounded


def test_parse_retry_after():
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Sun, 29 Nov 2026 12:01:30 GMT", now) == 90.0
    assert parse_retry_after("Sun, 29 Nov 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize("url", ["ftp://example.com/feed", "gopher://x/", "feed.xml",
                                 "javascript:alert(1)"])
def test_only_http_and_file_schemes(url):
    result = fetch_feed(None, url, options=FetchOptions())
    assert result.error and "feeds must be http(s)" in result.error and result.body is None


def test_file_urls_read_only_below_allowed_roots(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.xml").write_bytes(b"<rss/>")
    (tmp_path / "b.xml").write_bytes(b"<rss/>")
    options = FetchOptions(allowed_roots=(root,))
    assert fetch_feed(None, (root / "a.xml").as_uri(), options=options).body == b"<rss/>"
    outside = fetch_feed(None, (tmp_path / "b.xml").as_uri(), options=options)
    assert "outside the allowed roots" in outside.error and outside.body is None
    dotdot = fetch_feed(None, f"file://{root}/../b.xml", options=options)
    assert "outside the allowed roots" in dotdot.error
    remote = fetch_feed(None, "file://fileserver/share/a.xml", options=options)
    assert "names a host" in remote.error
    big = FetchOptions(allowed_roots=(root,), max_bytes=3)
    assert "cap" in fetch_feed(None, (root / "a.xml").as_uri(), options=big).error
    assert "cannot read" in fetch_feed(None, (root / "nope.xml").as_uri(), options=options).error


def test_host_key():
    assert host_key("https://News.Example.com/a") == host_key("https://news.example.com/b")
    assert host_key("https://news.example.com/a") != host_key("https://news.example.com:8443/a")


def test_run_bounded_respects_both_limits_and_yields_everything():
    items = [("a", i) for i in range(6)] + [("b", i) for i in range(6)] + [("c", 0)]
    lock = threading.Lock()
    now, peak, peak_per = Counter(), Counter(), Counter()

    def work(item):
        host = item[0]
        with lock:
            now[host] += 1
            now["all"] += 1
            peak_per[host] = max(peak_per[host], now[host])
            peak["all"] = max(peak["all"], now["all"])
        time.sleep(0.02)
        with lock:
            now[host] -= 1
            now["all"] -= 1
        return item[1] * 10

    done = list(run_bounded(items, key=lambda i: i[0], work=work, limit=3, per_key=2))
    assert sorted(done) == sorted((i, i[1] * 10) for i in items)
    assert peak["all"] == 3
    assert max(peak_per.values()) == 2


def test_run_bounded_does_not_let_one_host_starve_another():
    started = {}

    def work(item):
        started[item] = time.monotonic()
        time.sleep(0.05 if item[0] == "slow" else 0)
        return item

    items = [("slow", i) for i in range(4)] + [("fast", 0)]
    list(run_bounded(items, key=lambda i: i[0], work=work, limit=4, per_key=1))
    assert started[("fast", 0)] < started[("slow", 1)]
