"""Parse feed bytes with feedparser (never letting it fetch anything itself)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import feedparser


@dataclass
class ParsedFeed:
    entries: list[dict[str, Any]] = field(default_factory=list)
    bozo: bool = False
    bozo_reason: str | None = None
    title: str | None = None


def parse_feed(body: bytes) -> ParsedFeed:
    """Liberal parse: a bozo feed still yields its good entries, with the reason kept."""
    parsed = feedparser.parse(body)
    reason = None
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        reason = f"{type(exc).__name__}: {exc}" if exc else "malformed feed"
    return ParsedFeed(entries=list(parsed.entries), bozo=bool(parsed.get("bozo")),
                      bozo_reason=reason, title=parsed.feed.get("title"))
