"""Normalisation: plain text, canonical URLs, tickers, dates and the identity rule."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from sentinel.ingest.normalize import (
    MAX_TITLE_CHARS,
    NormalizeContext,
    Watchlist,
    article_identity,
    canonical_url,
    clean_text,
    content_hash,
    entry_time,
    extract_tickers,
    normalize_entry,
    truncate,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("raw, clean", [
    ("<p>Shares &amp; bonds <b>fall</b></p>", "Shares & bonds fall"),
    ("<script>alert(1)</script>Lumen <i>Bank</i>", "Lumen Bank"),
    ("&lt;script&gt;alert(1)&lt;/script&gt;Escaped title", "Escaped title"),
    ("Lumen &amp;lt;b&amp;gt;Bank", "Lumen Bank"),
    ("<style>p{color:red}</style><!-- hidden -->Visible", "Visible"),
    ("Before <script>never closed", "Before"),
    ("Profit < 5% and margin > 2%", "Profit < 5% and margin > 2%"),
    ("S&P 500 &#8212; record   high\n\t", "S&P 500 \u2014 record high"),
    ("Null\x00 byte\x01 and \x7fcontrols \ud800", "Null byte and controls"),
    (None, ""),
])
def test_clean_text(raw, clean):
    assert clean_text(raw) == clean


@pytest.mark.parametrize("raw, canonical", [
    ("HTTPS://News.Example.COM/a/b?utm_source=rss&id=7&fbclid=x#frag",
     "https://news.example.com/a/b?id=7"),
    ("http://example.com", "http://example.com/"),
    ("https://example.com:443/x", "https://example.com/x"),
    ("http://example.com:8080/x", "http://example.com:8080/x"),
    ("https://user:pw@example.com/x", "https://example.com/x"),
    ("https://example.com/x?gclid=1&msclkid=2&utm_campaign=3", "https://example.com/x"),
    ("https://example.com/s?q=a%20b&utm_source=x&page=2", "https://example.com/s?q=a%20b&page=2"),
    ("https://example.com/s?q=a%20b", "https://example.com/s?q=a%20b"),
    ("https://example.com/s?utm_source=", "https://example.com/s"),
    ("https://example.com./x", "https://example.com/x"),
    ("  https://example.com/with-space  ", "https://example.com/with-space"),
    ("javascript:alert(1)", None),
    (" JavaScript:alert(1)", None),
    ("data:text/html,<script>", None),
    ("vbscript:x", None),
    ("mailto:a@example.com", None),
    ("ftp://example.com/f", None),
    ("file:///etc/passwd", None),
    ("https://[::1", None),
    ("", None),
])
def test_canonical_url(raw, canonical):
    assert canonical_url(raw) == canonical


URL_SHAPES = [
    "https://pub.example/a/b?x=1&utm_source=rss&y=2#frag", "http://pub.example", "http://a.b.c/",
    "https://pub.example/a?", "https://pub.example/a?#", "https://pub.example?x=1",
    "https://pub.example/a?utm_medium=x", "https://pub.example/a%20b?q=%7E&fbclid=1",
    "https://pub.example/a#b#c", "https://pub.example//double//slash", "https://x-y.example/a.b",
    "https://pub.example/a?&&b=1&", "https://pub.example/path;params?q", "https://pub.example/!$'()*+,",
    "https://Pub.Example/a", "HTTPS://pub.example/a", "https://pub.example:443/a",
    "https://user@pub.example/a", "https://pub.example./a", "https://pub.example/a b",
    "https://pub.example/é", "https://pub..example/a", "https://-pub.example/a",
    "https://pub.example/a\tb", "https://pub.example/a?b\nc", "https://127.0.0.1/a",
    "https://pub_example/a", "http://pub.example/a?q=a:b/c?d", "https://pub.example/a#",
]


@pytest.mark.parametrize("url", URL_SHAPES)
def test_the_simple_url_shortcut_agrees_with_urlsplit(url):
    from sentinel.ingest.normalize import CONTROL, _canonical_url

    assert canonical_url(url) == _canonical_url(CONTROL.sub("", url).strip(), None)


def test_relative_links_resolve_against_an_http_base_only():
    assert canonical_url("/a?b=1#c", "https://pub.example/feed.xml") == "https://pub.example/a?b=1"
    assert canonical_url("story", "https://pub.example/news/feed") == "https://pub.example/news/story"
    assert canonical_url("/a", "file:///tmp/feed.xml") is None
    assert canonical_url("/a") is None


def test_tickers_from_cashtags_exchanges_watchlist_and_defaults():
    text = ("$AAPL and $brk rally; (NYSE:KO) steady, NASDAQ: MSFT up, LSE:VOD down, "
            "price $5 and US$10; Coca-Cola and the apple of my eye")
    assert extract_tickers(text) == ["AAPL", "KO", "MSFT", "VOD"]
    watch = Watchlist({"Coca-Cola": "ko", "Halvorsen Pharmaceuticals": "HLVP", "Apple": "AAPL"})
    assert extract_tickers("coca-cola and Halvorsen Pharmaceuticals", watch) == ["HLVP", "KO"]
    assert extract_tickers("Pineapple prices", watch) == []
    assert extract_tickers("nothing here", watch, default=["ZZZ"]) == ["ZZZ"]


def test_entry_time_in_utc_missing_and_future():
    skew = timedelta(hours=24)
    parsed = time.strptime("2026-11-29 09:00:00", "%Y-%m-%d %H:%M:%S")
    assert entry_time({"published_parsed": parsed}, NOW, skew) == (
        datetime(2026, 11, 29, 9, tzinfo=UTC), None)
    assert entry_time({"updated_parsed": parsed}, NOW, skew)[1] is None
    assert entry_time({}, NOW, skew) == (NOW, "missing")
    future = time.strptime("2099-01-01", "%Y-%m-%d")
    assert entry_time({"published_parsed": future}, NOW, skew) == (NOW, "future")
    soon = (NOW + timedelta(hours=2)).timetuple()
    assert entry_time({"published_parsed": soon}, NOW, skew) == (NOW + timedelta(hours=2), None)


def test_identity_rule():
    digest = content_hash("t", "s")
    # a URL guid is the canonical URL: global, so another feed's copy is the same story
    assert article_identity("https://Pub.example/a?utm_source=x", None, digest, "f1") == \
        article_identity(None, "https://pub.example/a", digest, "f2") == "url:https://pub.example/a"
    # globally unique guids are global; local ones are scoped by feed
    assert article_identity("tag:pub.example,2026:7", None, digest, "f1") == \
        "guid:tag:pub.example,2026:7"
    assert article_identity("urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427", None, digest, "f")\
        .startswith("guid:urn:uuid:")
    assert article_identity("1234", "https://a.example/x", digest, "f1") == "guid:f1:1234"
    assert article_identity("1234", None, digest, "f1") != article_identity("1234", None, digest,
                                                                           "f2")
    assert article_identity(None, None, digest, "f1") == f"hash:{digest}"
    long = article_identity("x" * 5000, None, digest, "f1")
    assert long.startswith("guid:f1:sha256:") and len(long) < 100


def test_truncate_at_a_word_boundary():
    text, cut = truncate("word " * 300, MAX_TITLE_CHARS)
    assert cut and len(text) <= MAX_TITLE_CHARS and text.endswith("word…")
    assert truncate("short", 10) == ("short", False)


def test_entry_whose_guid_is_not_a_link_keeps_no_fake_link():
    # feedparser copies an RSS permalink guid ("1234") into `link`
    entry = {"title": "T", "id": "1234", "link": "1234", "guidislink": True}
    record = normalize_entry(entry, NormalizeContext(scope="feed-7", fetched_at=NOW,
                                                     feed_url="https://pub.example/rss"))
    assert record.url is None and record.identity == "guid:feed-7:1234"


def test_entry_without_text_is_rejected_and_changed_text_changes_the_hash():
    context = NormalizeContext(scope="f", fetched_at=NOW)
    assert normalize_entry({"link": "https://a.example/x"}, context) is None
    one = normalize_entry({"title": "A", "id": "1"}, context)
    two = normalize_entry({"title": "B", "id": "1"}, context)
    assert one.identity == two.identity and one.content_hash != two.content_hash


def test_the_simple_url_shortcut_agrees_on_every_sample_link():
    import html
    import re
    from pathlib import Path

    from sentinel.ingest.normalize import _canonical_url

    feeds = Path(__file__).resolve().parents[2] / "examples" / "feeds"
    links = {html.unescape(m) for path in feeds.glob("*.xml")
             for m in re.findall(r"<link>([^<]+)</link>|href=['\"]([^'\"]+)['\"]",
                                 path.read_text())
             for m in m if m}
    assert len(links) > 100
    for link in links:
        assert canonical_url(link) == _canonical_url(link, None), link
