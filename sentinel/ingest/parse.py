"""Parse feed bytes with feedparser, never letting it fetch or open anything itself.

Before feedparser sees the bytes, :func:`prepare_body` makes them safe and honest:

* UTF-16 documents are re-encoded as UTF-8 (so the checks below can read them);
* a document that declares a single-byte encoding (ISO-8859-1, windows-1252, ASCII) but whose
  bytes are valid, non-ASCII UTF-8 is read as UTF-8 (the reverse mistake, Latin-1 bytes declared
  UTF-8, is caught by feedparser itself, which falls back to windows-1252 and says so);
* a DOCTYPE that declares entities (the "billion laughs" bomb, external entities such as
  ``SYSTEM "file:///etc/passwd"``) or names a non-http(s) DTD is removed, decided by defusedxml,
  and references to the entities it declared are deleted, so nothing is expanded or read.

Every repair makes the feed ``bozo`` with the reason recorded; its good entries are still kept.
A document that needed no repair and is plain, well-formed RSS 2.0 or Atom 1.0 is read by
:mod:`sentinel.ingest.fastparse` (expat in C, feedparser's value rules); any other goes to
feedparser.
feedparser is handed a stream, never ``bytes``: given bytes it first tries them as a *file
name*, so a body reading ``/etc/passwd`` would make it read that file.
"""

from __future__ import annotations

import copy
import io
import re
from dataclasses import dataclass, field
from typing import Any

import defusedxml.ElementTree as defused_et
import feedparser
import feedparser.mixin
from defusedxml import DefusedXmlException

from sentinel.ingest.fastparse import fast_parse

XML_DECL = re.compile(rb"^(\s*<\?xml[^>]*?encoding\s*=\s*[\"'])([A-Za-z0-9._:-]+)([\"'])")
SINGLE_BYTE = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "windows-1252", "cp1252",
               "us-ascii", "ascii"}
DOCTYPE = re.compile(rb"<!DOCTYPE", re.I)
ENTITY_NAME = re.compile(rb"<!ENTITY\s+(?:%\s+)?([A-Za-z_][\w.:-]*)")
SYSTEM_ID = re.compile(
    rb"\bSYSTEM\s+[\"']([^\"']*)[\"']|\bPUBLIC\s+[\"'][^\"']*[\"']\s+[\"']([^\"']*)[\"']", re.I
)
ROOT_CLOSED = re.compile(rb"</(?:[\w-]+:)?(?:rss|feed|RDF|channel)\s*>\s*$")
TRAILING_COMMENT = re.compile(rb"(?:\s|<!--.*?-->)*$", re.S)
ENTRY_END = re.compile(rb"</(?:[\w-]+:)?(?:item|entry)\s*>")
PROLOG_NOISE = re.compile(rb"<\?.*?\?>|<!--.*?-->", re.S)
HTML_START = re.compile(rb"^(?:\s|<!--.*?-->|<\?xml[^>]*>)*<(?:!doctype\s+html|html)\b",
                        re.I | re.S)


class _FlatCopy:
    """Stands in for the ``copy`` module inside ``feedparser.mixin``, which deep-copies its small
    content-parameter dict (type, language, base: immutable values) for every title and summary;
    a flat copy is equivalent there and takes a fifth of feedparser's time off. Anything holding
    a mutable value still gets a real deep copy."""

    @staticmethod
    def deepcopy(value: Any) -> Any:
        if isinstance(value, dict) and all(
                v is None or isinstance(v, str | bool | int) for v in value.values()):
            return type(value)(value)
        return copy.deepcopy(value)


if getattr(feedparser.mixin, "copy", None) is copy:
    feedparser.mixin.copy = _FlatCopy


@dataclass
class ParsedFeed:
    entries: list[dict[str, Any]] = field(default_factory=list)
    bozo: bool = False
    bozo_reason: str | None = None
    error: str | None = None  # set when the body is not a feed at all
    version: str | None = None
    title: str | None = None


def _transcode_utf16(body: bytes) -> tuple[bytes, str | None]:
    if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
        codec = "utf-16"
    elif body[:2] == b"<\x00":
        codec = "utf-16-le"
    elif body[:2] == b"\x00<":
        codec = "utf-16-be"
    else:
        return body, None
    if body[:4] in (b"\xff\xfe\x00\x00", b"<\x00\x00\x00"):
        return body, None  # UTF-32: left to feedparser
    try:
        text = body.decode(codec)
    except UnicodeDecodeError:
        return body, None
    utf8 = text.lstrip("\ufeff").encode("utf-8")
    return XML_DECL.sub(rb"\1utf-8\3", utf8, count=1), None


def _fix_declared_encoding(body: bytes) -> tuple[bytes, str | None]:
    match = XML_DECL.match(body)
    if not match or match.group(2).decode("ascii").lower() not in SINGLE_BYTE or body.isascii():
        return body, None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return body, None
    declared = match.group(2).decode("ascii")
    return (XML_DECL.sub(rb"\1utf-8\3", body, count=1),
            f"document declared as {declared}, but its bytes are UTF-8; parsed as utf-8")


def _doctype_end(body: bytes, start: int) -> int:
    """Index just past the DOCTYPE starting at ``start`` (quotes and [...] respected)."""
    depth, quote, i, n = 0, 0, start + 9, len(body)
    while i < n:
        c = body[i]
        if quote:
            if c == quote:
                quote = 0
        elif c in (0x22, 0x27):
            quote = c
        elif c == 0x5B:  # [
            depth += 1
        elif c == 0x5D:  # ]
            depth -= 1
        elif c == 0x3E and depth <= 0:  # >
            return i + 1
        i += 1
    return n


def _strip_hostile_doctype(body: bytes) -> tuple[bytes, str | None]:
    head = body[:65536]
    match = DOCTYPE.search(head)
    if not match or b"<" in PROLOG_NOISE.sub(b"", head[:match.start()]):
        return body, None  # no DOCTYPE before the root element
    end = _doctype_end(body, match.start())
    doctype = body[match.start():end]
    refused = None
    try:
        defused_et.fromstring(body[:end] + b"<x/>", forbid_dtd=False, forbid_entities=True,
                              forbid_external=True)
    except DefusedXmlException as exc:
        refused = type(exc).__name__
    except Exception:  # noqa: BLE001 - a DTD expat cannot read is not kept either
        refused = "malformed DTD"
    for system, public_system in SYSTEM_ID.findall(doctype):
        target = (system or public_system).lower()
        if target and not target.startswith((b"http://", b"https://")):
            refused = refused or "non-http DTD"
    if refused is None:
        return body, None
    names = {name for name in ENTITY_NAME.findall(doctype)}
    rest = body[end:]
    if names:
        alternatives = b"|".join(re.escape(name) for name in names)
        rest = re.sub(rb"&(?:" + alternatives + rb");", b"", rest)
    return (body[:match.start()] + rest,
            f"DOCTYPE with entity declarations or an external DTD removed ({refused}); "
            "entities are never expanded or fetched")


def prepare_body(body: bytes) -> tuple[bytes, list[str]]:
    """The repairs of the module docstring; returns the bytes to parse and what was repaired."""
    notes = []
    for step in (_transcode_utf16, _fix_declared_encoding, _strip_hostile_doctype):
        body, note = step(body)
        if note:
            notes.append(note)
    return body, notes


def _not_a_feed(body: bytes, reason: str | None) -> str:
    if not body.strip():
        return "empty body"
    if HTML_START.match(body[:4096]):
        return "an HTML page, not an RSS/Atom feed"
    if body.lstrip()[:1] in (b"{", b"["):
        return "JSON, not an RSS/Atom feed"
    return f"not an RSS/Atom feed ({reason or 'no feed element found'})"


def _complete_entries(body: bytes, entries: list, reasons: list[str]) -> list:
    """A truncated body keeps only the entries whose closing tag arrived."""
    tail = TRAILING_COMMENT.sub(b"", body[-4096:])
    if ROOT_CLOSED.search(tail):
        return entries
    complete = len(ENTRY_END.findall(body))
    if complete < len(entries):
        reasons.append(f"body truncated: {len(entries) - complete} incomplete entry dropped, "
                       f"{complete} kept")
        return entries[:complete]
    reasons.append("body truncated after the last complete entry")
    return entries


def parse_feed(body: bytes, *, fast: bool = True) -> ParsedFeed:
    """Liberal parse: a bozo feed still yields its good entries, with the reasons kept.

    A plain, well-formed RSS 2.0 or Atom 1.0 document takes :func:`fast_parse` (same entries,
    a tenth of the time) unless ``fast`` is False; everything else goes to feedparser.
    """
    body, reasons = prepare_body(body)
    if fast and not reasons:
        plain = fast_parse(body)
        if plain is not None:
            plain_version, plain_title, plain_entries = plain
            return ParsedFeed(entries=plain_entries, version=plain_version, title=plain_title)
    try:
        parsed = feedparser.parse(io.BytesIO(body), sanitize_html=False,
                                  resolve_relative_uris=False)
    except Exception as exc:  # noqa: BLE001 - feedparser is liberal, but not infallible
        return ParsedFeed(bozo=True, bozo_reason=f"{type(exc).__name__}: {exc}",
                          error=f"parser failed: {type(exc).__name__}: {exc}")
    bozo = bool(parsed.get("bozo")) or bool(reasons)
    if parsed.get("bozo"):
        problem = parsed.get("bozo_exception")
        reasons.append(f"{type(problem).__name__}: {problem}" if problem else "malformed feed")
    entries = list(parsed.entries)
    version = parsed.get("version") or None
    if not version and not entries:
        return ParsedFeed(bozo=bozo, bozo_reason="; ".join(reasons) or None,
                          error=_not_a_feed(body, reasons[-1] if reasons else None))
    if parsed.get("bozo"):
        entries = _complete_entries(body, entries, reasons)
    return ParsedFeed(entries=entries, bozo=bozo, bozo_reason="; ".join(reasons) or None,
                      version=version, title=parsed.feed.get("title"))
