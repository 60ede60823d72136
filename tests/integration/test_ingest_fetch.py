"""Fetching against a real HTTP server on 127.0.0.1: status codes, validators, retries, limits.

Every test serves a well-formed control feed next to the misbehaving one and checks that it was
stored, so one bad feed is shown not to disturb the others, and that the run completed.
"""

from __future__ import annotations

import gzip
import math
import time
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from feedcorpus import corpus
from feedserver import FeedServer, Gauge, Reply
from ingestkit import articles, everything_stored, feed_row, ingest, last_fetch, options, titles

import sentinel.ingest.pool as ingest_pool
from sentinel.ingest.feeds import FeedConfig
from sentinel.ingest.run import load_feed_states

CONTROL = next(c for c in corpus() if c.name == "good-rss20")
CONTROL_TITLES = sorted(CONTROL.expect["Expect-titles"])


def rss(*titles: str, host: str = "wire.example.com") -> bytes:
    items = "".join(f"<item><title>{t}</title><link>https://{host}/{i}</link>"
                    f"<guid isPermaLink='false'>{host}-{i}</guid>"
                    f"<pubDate>Sun, 29 Nov 2026 0{i % 10}:00:00 +0000</pubDate></item>"
                    for i, t in enumerate(titles))
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            f"<title>t</title><link>https://{host}/</link>{items}</channel></rss>").encode()


GOOD = rss("Ferro Mining expands", "Ferro Mining hires")


@pytest.fixture
def server():
    with FeedServer() as server:
        server.route("/control.xml", Reply(body=CONTROL.body()))
        yield server


def run_with_control(db, server, url: str, **fetch):
    totals = ingest(db, {"control": server.url("/control.xml"), "subject": url},
                    options(**fetch))
    assert titles(db, "control") == CONTROL_TITLES
    assert last_fetch(db, "control")["error"] is None
    assert totals["feeds"] == 2
    return totals


def assert_failed(db, totals, needle: str, status: int | None = None):
    fetch, feed = last_fetch(db, "subject"), feed_row(db, "subject")
    assert totals["failed"] == 1 and totals["fetched"] == 1
    assert needle in fetch["error"], fetch["error"]
    assert fetch["http_status"] == status
    assert fetch["items_seen"] == 0 and articles(db, "subject") == []
    assert feed["consecutive_failures"] == 1 and needle in feed["last_error"]
    assert feed["last_success_at"] is None


def test_conditional_get_answers_304_and_costs_no_parse(db, server, monkeypatch):
    modified = "Sun, 29 Nov 2026 10:00:00 GMT"
    url = server.route("/feed.xml", Reply(body=GOOD, etag='"v1"', last_modified=modified))
    parses = []
    real = ingest_pool.parse_feed
    monkeypatch.setattr(ingest_pool, "parse_feed",
                        lambda body, **kw: parses.append(1) or real(body, **kw))

    first = run_with_control(db, server, url)
    assert first["new"] == 5 and len(parses) == 2
    assert feed_row(db, "subject")["etag"] == '"v1"'
    second = run_with_control(db, server, url)

    assert len(parses) == 3  # the control feed only: the 304 was not parsed
    assert second["not_modified"] == 1 and second["new"] == 0
    fetch = last_fetch(db, "subject")
    assert fetch["http_status"] == 304 and fetch["not_modified"]
    assert fetch["items_seen"] == 0 and fetch["error"] is None
    conditional = server.hits("/feed.xml")[-1].headers
    assert conditional["If-None-Match"] == '"v1"'
    assert conditional["If-Modified-Since"] == modified
    feed = feed_row(db, "subject")
    assert feed["consecutive_failures"] == 0 and feed["last_http_status"] == 304
    assert feed["etag"] == '"v1"' and feed["last_modified"] == modified


def test_last_modified_alone_also_gives_304(db, server):
    modified = "Sat, 28 Nov 2026 10:00:00 GMT"
    url = server.route("/feed.xml", Reply(body=GOOD, last_modified=modified))
    run_with_control(db, server, url)
    assert run_with_control(db, server, url)["not_modified"] == 1


def test_honest_user_agent_and_gzip(db, server):
    url = server.route("/feed.xml", Reply(body=GOOD, gzip=True))
    totals = run_with_control(db, server, url)
    assert totals["new"] == 5
    headers = server.hits("/feed.xml")[0].headers
    assert headers["User-Agent"].startswith("Sentinel-tests/1.0 (+https://")
    assert "gzip" in headers["Accept-Encoding"]
    assert titles(db, "subject") == ["Ferro Mining expands", "Ferro Mining hires"]


def test_gzip_file_served_without_content_encoding(db, server):
    url = server.route("/feed.xml.gz", Reply(body=gzip.compress(GOOD),
                                             content_type="application/gzip"))
    assert run_with_control(db, server, url)["new"] == 5


@pytest.mark.parametrize("kind", ["content-length", "streamed", "gzip-bomb"])
def test_body_over_the_size_cap(db, server, kind):
    padded = GOOD.replace(b"</channel>", b" " * 1_500_000 + b"</channel>")
    reply = {"content-length": Reply(body=padded),
             "streamed": Reply(body=padded, content_length=False),
             "gzip-bomb": Reply(body=padded * 20, gzip=True)}[kind]
    url = server.route("/big.xml", reply)
    totals = run_with_control(db, server, url, max_bytes=1_000_000)
    assert_failed(db, totals, "larger than the 1000000-byte cap", status=200)
    assert len(server.hits("/big.xml")) == 1  # not retried


def test_server_that_never_answers(db, server):
    url = server.route("/hang.xml", Reply(hang=True))
    totals = run_with_control(db, server, url, read_timeout_s=0.5, attempts=2)
    assert_failed(db, totals, "timed out (read timeout) (after 2 attempts)")
    assert len(server.hits("/hang.xml")) == 2


def test_body_that_drips_in_hits_the_attempt_deadline(db, server):
    url = server.route("/drip.xml", Reply(body=GOOD, drip=0.1))
    totals = run_with_control(db, server, url, attempt_deadline_s=0.5, attempts=1)
    assert_failed(db, totals, "body still arriving after 0.5s", status=200)


def test_redirect_loop(db, server):
    url = server.route("/loop", Reply(status=302, headers={"Location": "/loop"}))
    totals = run_with_control(db, server, url, max_redirects=3)
    assert_failed(db, totals, "redirect loop or more than 3 redirects")
    assert len(server.hits("/loop")) == 4  # the first request and three redirects, no retry


def test_redirect_is_followed_and_relative_links_resolve_against_the_final_url(db, server):
    body = GOOD.replace(b"https://wire.example.com/0", b"/articles/zero")
    server.route("/new-home.xml", Reply(body=body))
    url = server.route("/old.xml", Reply(status=301, headers={"Location": "/new-home.xml"}))
    assert run_with_control(db, server, url)["new"] == 5
    urls = sorted(a["url"] for a in articles(db, "subject"))
    assert urls == sorted(["https://wire.example.com/1", server.url("/articles/zero")])


@pytest.mark.parametrize("status", [404, 403])
def test_client_errors_are_not_retried(db, server, status):
    url = server.route("/missing.xml", Reply(status=status, body=b"nope"))
    totals = run_with_control(db, server, url)
    assert_failed(db, totals, f"HTTP {status}", status=status)
    assert len(server.hits("/missing.xml")) == 1
    assert feed_row(db, "subject")["enabled"]
    run_with_control(db, server, url)
    assert feed_row(db, "subject")["consecutive_failures"] == 2


def test_410_gone_disables_the_feed_until_its_url_changes(db, server):
    url = server.route("/gone.xml", Reply(status=410, body=b"gone"))
    totals = run_with_control(db, server, url)
    assert_failed(db, totals, "HTTP 410", status=410)
    feed = feed_row(db, "subject")
    assert not feed["enabled"] and "no longer fetched" in feed["last_error"]
    assert len(server.hits("/gone.xml")) == 1

    again = ingest(db, {"control": server.url("/control.xml"), "subject": url}, options())
    assert again["feeds"] == 1 and len(server.hits("/gone.xml")) == 1

    moved = server.route("/moved.xml", Reply(body=GOOD))
    after = ingest(db, {"control": server.url("/control.xml"), "subject": moved}, options())
    assert after["feeds"] == 2 and after["new"] == 2
    feed = feed_row(db, "subject")
    assert feed["enabled"] and feed["consecutive_failures"] == 0 and feed["last_error"] is None


def test_500_is_retried_then_recorded(db, server):
    url = server.route("/broken.xml", Reply(status=500, body=b"oops"))
    totals = run_with_control(db, server, url, attempts=3)
    assert_failed(db, totals, "HTTP 500 Internal Server Error (after 3 attempts)", status=500)
    assert len(server.hits("/broken.xml")) == 3


def test_503_then_success(db, server):
    url = server.route("/flaky.xml", Reply(status=503), Reply(body=GOOD))
    totals = run_with_control(db, server, url)
    assert totals["failed"] == 0 and totals["new"] == 5
    assert len(server.hits("/flaky.xml")) == 2
    assert last_fetch(db, "subject")["http_status"] == 200


@pytest.mark.parametrize("retry_after", ["1", "http-date"])
def test_429_waits_for_retry_after(db, server, retry_after):
    not_before = None
    if retry_after == "http-date":  # a date has whole seconds: not retried before that second
        not_before = math.floor(time.time()) + 3
        retry_after = format_datetime(datetime.fromtimestamp(not_before, UTC), usegmt=True)
    url = server.route("/busy.xml", Reply(status=429, headers={"Retry-After": retry_after}),
                       Reply(body=GOOD))
    totals = run_with_control(db, server, url, retry_after_cap_s=5)
    assert totals["failed"] == 0 and totals["new"] == 5
    first, second = server.hits("/busy.xml")
    if not_before is None:
        assert second.at - first.at >= 0.9
    else:
        assert second.at >= not_before - 0.05 and second.at - first.at > 0


def test_429_with_a_long_retry_after_gives_up_for_this_run(db, server):
    url = server.route("/busy.xml", Reply(status=429, headers={"Retry-After": "3600"}))
    totals = run_with_control(db, server, url, retry_after_cap_s=2)
    assert_failed(db, totals, "Retry-After 3600s is longer than the 2s this run waits",
                  status=429)
    assert len(server.hits("/busy.xml")) == 1


def test_connection_refused_is_retried_and_recorded(db, server):
    with FeedServer() as closed:
        url = closed.url("/feed.xml")
    totals = run_with_control(db, server, url, attempts=2)
    assert_failed(db, totals, "ConnectError")


@pytest.mark.parametrize("body, needle", [
    (b"", "empty body"),
    (b"<html><body><h1>Moved</h1></body></html>", "an HTML page"),
    (b'{"items": []}', "JSON, not an RSS/Atom feed"),
])
def test_not_a_feed(db, server, body, needle):
    url = server.route("/odd", Reply(body=body, content_type="text/html"))
    totals = run_with_control(db, server, url)
    assert_failed(db, totals, needle, status=200)


def test_body_naming_a_local_file_is_never_opened(db, server, tmp_path):
    secret = tmp_path / "secret-feed.xml"
    secret.write_bytes(rss("TOP SECRET merger memo"))
    url = server.route("/path", Reply(body=str(secret).encode()))
    totals = run_with_control(db, server, url)
    assert_failed(db, totals, "not an RSS/Atom feed", status=200)
    assert "TOP SECRET" not in everything_stored(db)


def test_external_entity_naming_a_local_file_is_never_read(db, server, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-TOKEN-4242")
    body = (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
            '<rss version="2.0"><channel><title>t</title><item><title>Quiet Co &x; reports'
            '</title><link>https://q.example.com/1</link></item></channel></rss>').encode()
    url = server.route("/xxe.xml", Reply(body=body))
    totals = run_with_control(db, server, url)
    assert totals["failed"] == 0
    assert titles(db, "subject") == ["Quiet Co reports"]
    assert last_fetch(db, "subject")["bozo"]
    assert "SECRET-TOKEN" not in everything_stored(db)


def test_file_urls_only_below_allowed_roots(db, server, tmp_path):
    allowed, other = tmp_path / "allowed", tmp_path / "other"
    allowed.mkdir(), other.mkdir()
    (allowed / "feed.xml").write_bytes(GOOD)
    (other / "feed.xml").write_bytes(rss("Should not be read"))
    (allowed / "escape.xml").symlink_to(other / "feed.xml")
    opts = options(allowed_roots=(allowed,))
    feeds = {"inside": (allowed / "feed.xml").as_uri(), "outside": (other / "feed.xml").as_uri(),
             "symlink": (allowed / "escape.xml").as_uri()}
    totals = ingest(db, feeds, opts)
    assert totals["fetched"] == 1 and totals["failed"] == 2
    assert "outside the allowed roots" in last_fetch(db, "outside")["error"]
    assert "outside the allowed roots" in last_fetch(db, "symlink")["error"]
    assert "Should not be read" not in everything_stored(db)


def test_per_host_limit(db):
    with FeedServer() as server:
        feeds = {f"f{i}": server.route(f"/f{i}.xml", Reply(body=rss(f"Story {i}"), delay=0.3))
                 for i in range(6)}
        opts = options()
        opts.concurrency, opts.per_host = 8, 2
        totals = ingest(db, feeds, opts)
    assert totals["fetched"] == 6
    assert server.gauge.peak == 2


def test_global_limit_across_hosts(db):
    shared = Gauge()
    with FeedServer(shared) as a, FeedServer(shared) as b, FeedServer(shared) as c:
        feeds = {f"{name}{i}": srv.route(f"/{i}.xml", Reply(body=rss(f"{name} {i}"), delay=0.3))
                 for name, srv in (("a", a), ("b", b), ("c", c)) for i in range(3)}
        opts = options()
        opts.concurrency, opts.per_host = 4, 3
        totals = ingest(db, feeds, opts)
    assert totals["fetched"] == 9
    assert shared.peak == 4
    assert max(s.gauge.peak for s in (a, b, c)) <= 3


def test_disabled_feeds_are_not_fetched(db, server):
    configs = [FeedConfig(name="control", url=server.url("/control.xml"))]
    assert [f.name for f in load_feed_states(db, configs)] == ["control"]
