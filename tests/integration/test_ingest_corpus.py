"""The ill-formed corpus through a real HTTP server and the real PostgreSQL.

Each file is served next to a well-formed control feed; the test asserts what was stored for
it, what was recorded in feed_fetch and on the feed, that the control feed was unaffected and
that the run completed. The same files are checked without HTTP or database in
tests/unit/test_ingest_corpus_parsing.py.
"""

from __future__ import annotations

import pytest
from feedcorpus import CorpusFeed, corpus
from feedserver import FeedServer, Reply
from ingestkit import articles, everything_stored, feed_row, ingest, last_fetch, options, titles

CASES = corpus()
CONTROL = next(c for c in CASES if c.name == "good-rss20")


@pytest.fixture
def server():
    with FeedServer() as server:
        yield server


def serve(server: FeedServer, case: CorpusFeed) -> str:
    kind = "text/html" if case.path.suffix == ".html" else "application/xml"
    return server.route(f"/{case.path.name}", Reply(body=case.body(), content_type=kind))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_file_stored_and_recorded(db, server, case: CorpusFeed):
    feeds = {"control": serve(server, CONTROL)}
    if case is not CONTROL:
        feeds[case.name] = serve(server, case)
    totals = ingest(db, feeds)
    expect = case.expect
    ok = expect["Expect-status"] == "ok"

    assert totals["feeds"] == len(feeds)
    assert totals["failed"] == (0 if ok else 1)
    fetch, feed = last_fetch(db, case.name if case is not CONTROL else "control"), None
    feed = feed_row(db, case.name if case is not CONTROL else "control")
    assert fetch["http_status"] == 200
    assert (fetch["error"] is None) == ok, fetch["error"]
    assert feed["consecutive_failures"] == (0 if ok else 1)
    assert (feed["last_success_at"] is not None) == ok
    if "Expect-bozo" in expect:
        assert fetch["bozo"] == (expect["Expect-bozo"] == "yes"), fetch["bozo_reason"]
    if "Expect-reason" in expect:
        assert expect["Expect-reason"] in f"{fetch['bozo_reason']} {fetch['error']}"
        if not ok:
            assert expect["Expect-reason"] in feed["last_error"]

    name = case.name if case is not CONTROL else "control"
    stored = articles(db, name)
    if "Expect-titles" in expect:
        assert sorted(a["title"] for a in stored) == sorted(expect["Expect-titles"])
    if "Expect-urls" in expect:
        assert sorted(map(str, (a["url"] for a in stored))) == sorted(
            map(str, expect["Expect-urls"]))
    if "Expect-date-flags" in expect:
        assert sorted(map(str, (a["date_flag"] for a in stored))) == sorted(
            map(str, expect["Expect-date-flags"]))
    if "Expect-count" in expect:
        assert len(stored) == expect["Expect-count"]
    if "Expect-title-max" in expect:
        assert max(len(a["title"]) for a in stored) <= expect["Expect-title-max"]
    for flag in expect.get("Expect-flags", []):
        assert any(flag in a["flags"] for a in stored), flag
        assert fetch["flags"][flag] >= 1, fetch["flags"]
    if not expect.get("Expect-flags"):
        assert all(a["flags"] == [] or a["date_flag"] for a in stored)
    assert fetch["items_seen"] == (len(stored) + expect.get("Expect-rejected", 0)
                                   + expect.get("Expect-duplicates", 0))
    assert fetch["new"] == len(stored)
    assert fetch["rejected"] == expect.get("Expect-rejected", 0)
    assert fetch["duplicates"] == expect.get("Expect-duplicates", 0)
    everything = everything_stored(db).casefold()
    for text in expect.get("Expect-absent", []):
        assert text.casefold() not in everything, text

    # the control feed next to it was not affected
    assert titles(db, "control") == sorted(CONTROL.expect["Expect-titles"])
    assert last_fetch(db, "control")["error"] is None


@pytest.mark.parametrize("processes", [0, 2], ids=["threads", "process-pool"])
def test_whole_corpus_in_one_run_then_again(db, server, processes):
    feeds = {case.name: serve(server, case) for case in CASES}
    opts = options()
    opts.parse_processes, opts.pool_min_feeds = processes, 1
    first = ingest(db, feeds, opts)
    failing = [c for c in CASES if c.expect["Expect-status"] == "failed"]
    assert first["feeds"] == len(CASES)
    assert first["failed"] == len(failing)
    assert first["fetched"] == len(CASES) - len(failing)
    stored = len(articles(db))
    assert first["new"] == stored > 40
    for case in CASES:
        if "Expect-titles" in case.expect:
            assert titles(db, case.name) == sorted(case.expect["Expect-titles"]), case.name
    second = ingest(db, feeds, opts)
    assert second["new"] == 0 and second["updated"] == 0
    assert second["duplicates"] == first["new"] + first["duplicates"]
    assert len(articles(db)) == stored
