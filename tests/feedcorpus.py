"""The ill-formed sample corpus in tests/fixtures/feeds, with what each file should produce.

Every file opens with a comment (after the XML declaration, if any) of ``Key: value`` lines, in
the spirit of feedparser's own test corpus. ``Description`` is prose (indented lines continue
it); ``Expect-status`` is ``ok`` or ``failed``; ``Expect-bozo`` is ``yes`` or ``no``;
``Expect-reason`` is a piece of text the bozo reason (or, for a failed feed, the error) must
contain; every other ``Expect-*`` value is JSON:

=====================  ======================================================================
Expect-titles          the stored titles, in feed order
Expect-urls            the stored canonical URLs (null: none)
Expect-summaries       the stored summaries
Expect-published       the stored publication times (ISO 8601, UTC)
Expect-date-flags      the stored date flags (null, "missing" or "future")
Expect-tickers         the stored tickers of each article
Expect-identities      each article's identity, by prefix; ``{feed}`` stands for the guid scope
Expect-title-prefixes  each stored title starts with this
Expect-title-max       no stored title is longer
Expect-count           how many articles are stored
Expect-flags           repair flags that some entry of the feed must carry
Expect-rejected        entries rejected (no title and no summary)
Expect-duplicates      entries that repeat an identity or a link of an earlier entry
Expect-absent          text that must appear nowhere in what is stored (case-insensitive)
=====================  ======================================================================

``{soon}`` in a file is replaced by an RFC 822 date one hour after the time the test runs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent / "fixtures" / "feeds"
TEXT_KEYS = {"Description", "Expect-status", "Expect-bozo", "Expect-reason"}


@dataclass
class CorpusFeed:
    name: str
    path: Path
    expect: dict[str, Any]

    def body(self, now: datetime | None = None) -> bytes:
        raw = self.path.read_bytes()
        soon = format_datetime((now or datetime.now(UTC)) + timedelta(hours=1)).encode()
        return raw.replace(b"{soon}", soon)

    def __repr__(self) -> str:
        return self.name


def _header(raw: bytes) -> str:
    text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("latin-1")
    match = re.search(r"<!--(.*?)-->", text, re.S)
    if not match:
        raise ValueError("corpus file without a header comment")
    return match.group(1)


def parse_header(raw: bytes) -> dict[str, Any]:
    fields: dict[str, str] = {}
    key = None
    for line in _header(raw).splitlines():
        match = re.match(r"^([A-Z][\w-]*):\s*(.*)$", line)
        if match:
            key = match.group(1)
            fields[key] = match.group(2).strip()
        elif key and line.strip():
            fields[key] += " " + line.strip()
    return {k: v if k in TEXT_KEYS else json.loads(v) for k, v in fields.items()}


def corpus() -> list[CorpusFeed]:
    return [CorpusFeed(path.stem, path, parse_header(path.read_bytes()))
            for path in sorted(CORPUS.iterdir()) if path.suffix in (".xml", ".html")]
