"""Every file of the ill-formed corpus, parsed and normalised (no network, no database).

The same files go through HTTP and PostgreSQL in tests/integration/test_ingest_corpus.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from feedcorpus import CorpusFeed, corpus

from sentinel.ingest.normalize import NormalizeContext, normalize_entry
from sentinel.ingest.parse import parse_feed
from sentinel.ingest.store import dedupe_batch

NOW = datetime.now(UTC).replace(microsecond=0)
CASES = corpus()


def stored_text(record) -> str:
    return " ".join(str(v) for v in (record.title, record.summary, record.url, record.guid,
                                      record.identity)).casefold()


def check_records(case: CorpusFeed, kept: list, unique: list, rejected: int) -> None:
    """The Expect-* fields that describe articles, against normalised records."""
    expect = case.expect
    columns = {"Expect-titles": "title", "Expect-urls": "url", "Expect-summaries": "summary",
               "Expect-date-flags": "date_flag", "Expect-tickers": "tickers"}
    for key, column in columns.items():
        if key in expect:
            assert [getattr(r, column) for r in unique] == expect[key], key
    if "Expect-published" in expect:
        assert [r.published_at.isoformat() for r in unique] == expect["Expect-published"]
    if "Expect-identities" in expect:
        for record, prefix in zip(unique, expect["Expect-identities"], strict=True):
            assert record.identity.startswith(prefix.replace("{feed}", case.name)), record.identity
    if "Expect-title-prefixes" in expect:
        for record, prefix in zip(unique, expect["Expect-title-prefixes"], strict=True):
            assert record.title.startswith(prefix)
    if "Expect-title-max" in expect:
        assert max(len(r.title) for r in unique) <= expect["Expect-title-max"]
    if "Expect-count" in expect:
        assert len(unique) == expect["Expect-count"]
    for flag in expect.get("Expect-flags", []):
        assert any(flag in r.flags for r in kept), flag
    assert rejected == expect.get("Expect-rejected", 0)
    assert len(kept) - len(unique) == expect.get("Expect-duplicates", 0)
    for text in expect.get("Expect-absent", []):
        assert not any(text.casefold() in stored_text(r) for r in kept), text


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_file(case: CorpusFeed):
    parsed = parse_feed(case.body(NOW))
    expect = case.expect
    assert (parsed.error is None) == (expect["Expect-status"] == "ok"), parsed.error
    if "Expect-bozo" in expect:
        assert parsed.bozo == (expect["Expect-bozo"] == "yes"), parsed.bozo_reason
    if "Expect-reason" in expect:
        assert expect["Expect-reason"] in f"{parsed.bozo_reason} {parsed.error}"
    context = NormalizeContext(scope=case.name, fetched_at=NOW,
                               feed_url="https://feeds.example.com/feed.xml",
                               future_skew=timedelta(hours=24))
    records = [normalize_entry(entry, context) for entry in parsed.entries]
    kept = [r for r in records if r is not None]
    check_records(case, kept, dedupe_batch(kept), len(records) - len(kept))


def test_corpus_covers_every_bad_input_of_the_issue():
    names = {c.name for c in CASES}
    assert {"malformed-xml", "truncated", "latin1-declared-utf8", "utf8-declared-latin1",
            "billion-laughs", "xxe-local-file", "html-page", "empty-feed", "missing-fields",
            "duplicate-guids", "script-in-titles", "huge-title", "bad-links"} <= names
    assert all("Description" in c.expect and "Expect-status" in c.expect for c in CASES)
