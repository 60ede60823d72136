"""The fast path must store exactly what feedparser would, and hand everything unusual over.

Each document is normalised twice: through feedparser (``parse_feed(body, fast=False)``) and
through the default path, which takes :mod:`sentinel.ingest.fastparse` for plain RSS 2.0 and
Atom 1.0. The records (what the store writes) must be equal, field by field.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import pytest
from feedcorpus import corpus

from sentinel.ingest.fastparse import fast_parse
from sentinel.ingest.normalize import NormalizeContext, Watchlist, normalize_entry
from sentinel.ingest.parse import parse_feed, prepare_body

REPO = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC).replace(microsecond=0)
CONTEXT = NormalizeContext(scope="feed-7", fetched_at=NOW,
                           feed_url="https://news.example.com/feeds/markets.xml",
                           watchlist=Watchlist({"Orrin Motors": "ORRN"}))
RSS = "<?xml version='1.0' encoding='UTF-8'?>\n" \
      "<rss version='2.0' xmlns:content='http://purl.org/rss/1.0/modules/content/' " \
      "xmlns:dc='http://purl.org/dc/elements/1.1/'><channel><title>Desk</title>{}</channel></rss>"
ATOM = "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>" \
       "<title type='text'>Desk</title><id>tag:desk.example,2026:feed</id>{}</feed>"


def rss(*items: str) -> bytes:
    return RSS.format("".join(f"<item>{item}</item>" for item in items)).encode()


def atom(*entries: str) -> bytes:
    return ATOM.format("".join(f"<entry>{entry}</entry>" for entry in entries)).encode()


def records(body: bytes, fast: bool) -> tuple:
    parsed = parse_feed(body, fast=fast)
    return (parsed.version, parsed.title, parsed.bozo, parsed.error,
            [normalize_entry(entry, CONTEXT) for entry in parsed.entries])


def assert_same(body: bytes) -> None:
    slow, fast = records(body, fast=False), records(body, fast=True)
    assert fast[:4] == slow[:4]
    assert len(fast[4]) == len(slow[4])
    for ours, theirs in zip(fast[4], slow[4], strict=True):
        assert ours == theirs


PUB = "<pubDate>Sun, 29 Nov 2026 09:00:00 +0100</pubDate>"
PLAIN = {
    "rss: link after a permalink guid": rss(
        f"<title>A</title><guid>https://x.example/a?utm_source=rss</guid>"
        f"<link>https://x.example/a-story</link>{PUB}"),
    "rss: permalink guid, no link": rss(f"<title>B</title><guid>https://x.example/b</guid>{PUB}"),
    "rss: local permalink guid, no link": rss(f"<title>B2</title><guid>4711</guid>{PUB}"),
    "rss: guid not a permalink, no link": rss(
        f"<title>C</title><guid isPermaLink='false'>c-1</guid>{PUB}"),
    "rss: upper-case attribute": rss("<title>C2</title><guid ISPERMALINK='false'>c-2</guid>"),
    "rss: link before guid": rss(
        "<title>D</title><link>https://x.example/d</link><guid>https://x.example/d2</guid>"),
    "rss: relative link, tracking and escaped ampersands": rss(
        "<title>E</title><link>/2026/e?id=1&amp;utm_medium=x&amp;amp;fbclid=2</link>"),
    "rss: doubled slashes after the scheme": rss("<title>E2</title><link>https:////x.example/e2</link>"),
    "rss: C1 controls, mojibake, CDATA, comment": rss(
        "<title>\u0093Quoted\u0094 Caf\u00c3\u00a9 <![CDATA[<b>bold</b>]]> a<!-- c -->b</title>"
        "<description>&lt;p&gt;Orrin Motors rises &amp;amp; NASDAQ: ORRN&lt;/p&gt;</description>"),
    "rss: content before description": rss(
        "<title>F</title><content:encoded>&lt;p&gt;full text&lt;/p&gt;</content:encoded>"
        "<description>short</description>"),
    "rss: content only": rss("<title>G</title><content:encoded>only content $KO</content:encoded>"),
    "rss: empty description, content": rss(
        "<title>H</title><description></description><content:encoded>body</content:encoded>"),
    "rss: ignored elements": rss(
        "<title>I</title><category>Markets</category><category>Autos</category>"
        "<author>desk@x.example</author><dc:creator>Desk</dc:creator><comments>https://x/c"
        "</comments><enclosure url='https://x.example/i.mp3' type='audio/mpeg' length='1'/>"),
    "rss: ISO date in pubDate, no date": rss(
        "<title>J</title><pubDate>2026-11-29T08:00:00Z</pubDate>", "<title>K</title>"),
    "rss: a date far in the future, and one that is not a date": rss(
        "<title>L</title><pubDate>Mon, 01 Jan 2035 00:00:00 GMT</pubDate>",
        "<title>M</title><pubDate>yesterday-ish</pubDate>"),
    "rss: no title, summary only; nothing at all": rss(
        "<description>Only a summary here</description>", "<category>x</category>"),
    "rss: javascript link": rss("<title>N</title><link>javascript:alert(1)</link>"),
    "rss: duplicate guids": rss("<title>O</title><guid>dup</guid>",
                                "<title>O again</title><guid>dup</guid>"),
    "rss: empty channel": rss(),
    "atom: id before link": atom(
        "<title>P</title><id>https://y.example/p</id><link href='https://y.example/p-story'/>"
        "<updated>2026-11-29T08:00:00+02:00</updated>"),
    "atom: link before id": atom(
        "<title>Q</title><link rel='alternate' href='https://y.example/q'/><id>tag:y,2026:q</id>"
        "<published>2026-11-28T08:00:00Z</published><updated>2026-11-29T08:00:00Z</updated>"),
    "atom: several links": atom(
        "<title>R</title><link rel='self' href='https://y.example/self'/>"
        "<link rel='enclosure' href='https://y.example/r.mp3' type='audio/mpeg'/>"
        "<link rel='alternate' type='application/xhtml+xml' href='https://y.example/r'/>"
        "<link rel='alternate' type='application/pdf' href='https://y.example/r.pdf'/>"
        "<id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>"),
    "atom: only non-html links": atom(
        "<title>R2</title><link rel='related' href='https://y.example/r2'/><id>r2</id>"),
    "atom: content, then summary": atom(
        "<title type='html'>&lt;em&gt;S&lt;/em&gt;</title><id>s</id>"
        "<content type='html'>&lt;p&gt;content&lt;/p&gt;</content><summary>summary</summary>"),
    "atom: content only, text": atom("<title>T</title><id>t</id><content>plain text</content>"),
    "atom: authors and categories": atom(
        "<title>U</title><id>u</id><author><name>Desk</name><email>d@y</email></author>"
        "<category term='markets'/><rights>(c)</rights>"
        "<contributor><name>Ed</name></contributor>"),
    "atom: relative href": atom("<title>V</title><id>v</id><link href='/v?gclid=1'/>"),
}


@pytest.mark.parametrize("body", list(PLAIN.values()), ids=list(PLAIN))
def test_plain_documents_take_the_fast_path_and_store_the_same(body):
    assert fast_parse(body) is not None, "expected the fast path to take this document"
    assert_same(body)


UNUSUAL = {
    "doctype": rss("<title>A</title>").replace(b"<rss", b"<!DOCTYPE rss><rss", 1),
    "xml:base": atom("<title>A</title><id>a</id>").replace(
        b"<feed ", b"<feed xml:base='https://z.example/' ", 1),
    "latin-1": RSS.format("<item><title>Z\xfcrich</title></item>").replace(
        "UTF-8", "ISO-8859-1").encode("latin-1"),
    "rss 0.91": rss("<title>A</title>").replace(b"version='2.0'", b"version='0.91'"),
    "rss 1.0": b"<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#' "
               b"xmlns='http://purl.org/rss/1.0/'><item><title>A</title></item></rdf:RDF>",
    "unknown element": rss("<title>A</title><dc:date>2026-11-29</dc:date>"),
    "repeated title": rss("<title>A</title><title>B</title>"),
    "markup inside a title": rss("<title>A <b>bold</b></title>"),
    "atom xhtml content": atom("<title>A</title><id>a</id><content type='xhtml'>"
                               "<div xmlns='http://www.w3.org/1999/xhtml'>x</div></content>"),
    "empty link": rss("<title>A</title><link></link>"),
    "not well-formed": rss("<title>A &amp B</title>"),
    "item outside the channel": RSS.format("").replace(
        "</channel></rss>", "</channel><item><title>A</title></item></rss>").encode(),
}


@pytest.mark.parametrize("body", list(UNUSUAL.values()), ids=list(UNUSUAL))
def test_unusual_documents_go_to_feedparser(body):
    assert fast_parse(prepare_body(body)[0]) is None
    assert_same(body)


@pytest.mark.parametrize("case", corpus(), ids=repr)
def test_the_ill_formed_corpus_stores_the_same_either_way(case):
    assert_same(case.body(NOW))


def bench_feeds() -> list[bytes]:
    spec = importlib.util.spec_from_file_location("bench_ingest", REPO / "bench" / "ingest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [module.generate_feed(index, 40, NOW) for index in range(8)]


@pytest.mark.parametrize("body", [
    *(path.read_bytes() for path in sorted((REPO / "examples" / "feeds").glob("*.xml"))),
    *bench_feeds(),
])
def test_sample_and_benchmark_feeds_take_the_fast_path_and_store_the_same(body):
    assert fast_parse(body) is not None
    assert_same(body)
