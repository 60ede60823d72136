"""Parsing from bytes: repairs before feedparser, hostile DTDs, truncation, not-a-feed."""

from __future__ import annotations

import copy
import io

import feedparser
import feedparser.mixin
import pytest
from feedcorpus import corpus

from sentinel.ingest.parse import parse_feed, prepare_body
from sentinel.ingest.pool import ParsePool

ITEM = b"<item><title>Story</title><link>https://a.example/1</link></item>"
RSS = b'<rss version="2.0"><channel><title>t</title>' + ITEM + b"</channel></rss>"


def test_feedparser_is_never_given_a_file_name(tmp_path):
    secret = tmp_path / "feed.xml"
    secret.write_bytes(RSS.replace(b"Story", b"SECRET"))
    parsed = parse_feed(str(secret).encode())
    assert parsed.entries == [] and parsed.error.startswith("not an RSS/Atom feed")


@pytest.mark.parametrize("doctype", [
    b'<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>',
    b'<!DOCTYPE rss [<!ENTITY a SYSTEM "file:///etc/passwd">]>',
    b'<!DOCTYPE rss [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>',
    b'<!DOCTYPE rss [<!ENTITY a PUBLIC "x" "http://attacker.example/x">]>',
    b'<!DOCTYPE rss SYSTEM "file:///etc/passwd">',
    b'<!DOCTYPE rss [<!ENTITY a "]>">]>',
])
def test_hostile_doctypes_are_removed(doctype):
    body = b'<?xml version="1.0"?>\n' + doctype + RSS.replace(b"Story", b"Story &a;")
    prepared, notes = prepare_body(body)
    assert b"<!DOCTYPE" not in prepared
    if b"ENTITY a " in doctype:  # references to the entities it declared are deleted
        assert b"&a;" not in prepared
    parsed = parse_feed(body)
    assert parsed.bozo and "DOCTYPE" in parsed.bozo_reason
    assert [e.title for e in parsed.entries] in (["Story"], ["Story &a;"])


def test_harmless_doctypes_are_kept():
    netscape = (b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
                b'"http://my.netscape.com/publish/formats/rss-0.91.dtd">')
    body = b'<?xml version="1.0"?>' + netscape + RSS.replace(b'"2.0"', b'"0.91"')
    assert prepare_body(body) == (body, [])
    parsed = parse_feed(body)
    assert parsed.version.startswith("rss091") and not parsed.bozo


def test_doctype_inside_content_is_not_touched():
    body = RSS.replace(b"Story", b"&lt;!DOCTYPE html&gt; explained")
    assert prepare_body(body) == (body, [])


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_or_without_bom(codec):
    text = '<?xml version="1.0" encoding="utf-16"?>' + RSS.decode().replace("Story", "Zürich")
    parsed = parse_feed(text.encode(codec))
    assert [e.title for e in parsed.entries] == ["Zürich"] and not parsed.bozo


def test_declared_latin1_but_utf8():
    body = '<?xml version="1.0" encoding="windows-1252"?>' + RSS.decode().replace("Story", "€")
    parsed = parse_feed(body.encode("utf-8"))
    assert [e.title for e in parsed.entries] == ["€"]
    assert "its bytes are UTF-8" in parsed.bozo_reason


def test_declared_latin1_and_really_latin1_is_left_alone():
    body = '<?xml version="1.0" encoding="iso-8859-1"?>' + RSS.decode().replace("Story", "Café")
    parsed = parse_feed(body.encode("latin-1"))
    assert [e.title for e in parsed.entries] == ["Café"] and not parsed.bozo


def test_truncated_body_keeps_complete_entries_only():
    body = RSS.replace(b"</channel></rss>", b"") + ITEM + b"<item><title>Cut off in the mi"
    parsed = parse_feed(body)
    assert len(parsed.entries) == 2 and "truncated" in parsed.bozo_reason


@pytest.mark.parametrize("body, error", [
    (b"", "empty body"),
    (b"\n\n  ", "empty body"),
    (b"<!doctype html><html><body>Sign in</body></html>", "an HTML page"),
    (b'<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>',
     "an HTML page"),
    (b"[1, 2]", "JSON"),
    (b"\x00\x01\x02 binary", "not an RSS/Atom feed"),
])
def test_not_a_feed(body, error):
    parsed = parse_feed(body)
    assert error in parsed.error and parsed.entries == []


def test_valid_feed_without_entries_is_not_an_error():
    parsed = parse_feed(b'<rss version="2.0"><channel><title>t</title></channel></rss>')
    assert parsed.error is None and parsed.entries == [] and parsed.version == "rss20"


def test_feedparser_flat_copy_patch_changes_no_result(monkeypatch):
    bodies = [case.body() for case in corpus()]

    def parse_all():
        return [feedparser.parse(io.BytesIO(b), sanitize_html=False, resolve_relative_uris=False)
                for b in bodies]

    patched = parse_all()
    assert feedparser.mixin.copy is not copy
    monkeypatch.setattr(feedparser.mixin, "copy", copy)
    plain = parse_all()
    assert [(p.feed, p.entries) for p in patched] == [(p.feed, p.entries) for p in plain]


def test_parse_pool_falls_back_to_threads_where_processes_cannot_start(monkeypatch, caplog):
    from datetime import UTC, datetime

    from sentinel.ingest.normalize import NormalizeContext

    pool = ParsePool(2)

    def refuse(*args, **kwargs):
        raise AssertionError("daemonic processes are not allowed to have children")

    monkeypatch.setattr(pool.executor, "submit", refuse)
    context = NormalizeContext(scope="f", fetched_at=datetime.now(UTC))
    batch = pool.run(RSS, context)
    assert [r.title for r in batch.records] == ["Story"]
    assert pool.executor is None and "parsing in threads" in caplog.text
    assert [r.title for r in pool.run(RSS, context).records] == ["Story"]
    pool.close()
