"""Turn a feedparser entry into a clean article record (pure functions, no I/O)."""

from __future__ import annotations

import calendar
import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TAG = re.compile(r"<[^>]*>")
SPACE = re.compile(r"\s+")
TRACKING = re.compile(r"^(utm_.*|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|igshid|ref_src)$", re.I)
CASHTAG = re.compile(r"(?<![\w$])\$([A-Z]{1,5}(?:\.[A-Z])?)\b")
EXCHANGE = re.compile(
    r"\b(?:NASDAQ|NYSE|NYSE ?American|AMEX|LSE|TSX|ASX|XETRA|Euronext)\s*:\s*([A-Z]{1,5}(?:\.[A-Z])?)\b"
)


@dataclass
class ArticleRecord:
    identity: str
    guid: str | None
    url: str | None
    title: str
    summary: str
    published_at: datetime
    date_flag: str | None
    content_hash: str
    tickers: list[str] = field(default_factory=list)


def clean_text(value: str | None) -> str:
    """Strip markup, unescape entities, fold white space."""
    if not value:
        return ""
    text = TAG.sub(" ", value)
    text = html.unescape(text)
    return SPACE.sub(" ", text).strip()


def canonical_url(url: str | None) -> str | None:
    """Lower-case scheme and host, drop tracking parameters and the fragment; http(s) only."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not TRACKING.match(k)])
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", query, ""))


def extract_tickers(text: str, watchlist: dict[str, str] | None = None) -> list[str]:
    """Cashtags ($AAPL), exchange prefixes (NASDAQ: AAPL, (NYSE:KO)), watchlist names."""
    found = set(CASHTAG.findall(text)) | set(EXCHANGE.findall(text))
    for name, ticker in (watchlist or {}).items():
        if re.search(rf"\b{re.escape(name)}\b", text, re.I):
            found.add(ticker.upper())
    return sorted(found)


def entry_time(entry: dict, fetched_at: datetime,
               future_skew: timedelta) -> tuple[datetime, str | None]:
    """Publication time in UTC; missing -> fetch time ('missing'); far future -> clamped."""
    for key in ("published_parsed", "updated_parsed"):
        parsed = entry.get(key)
        if parsed:
            when = datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
            if when > fetched_at + future_skew:
                return fetched_at, "future"
            return when, None
    return fetched_at, "missing"


def content_hash(title: str, summary: str) -> str:
    return hashlib.sha256(f"{title}\x1f{summary}".encode()).hexdigest()


def normalize_entry(entry: dict, fetched_at: datetime, *, future_skew: timedelta,
                    watchlist: dict[str, str] | None = None) -> ArticleRecord | None:
    """A clean record, or None when the entry has neither a title nor a summary."""
    title = clean_text(entry.get("title"))
    summary = clean_text(entry.get("summary"))
    if not title and not summary:
        return None
    url = canonical_url(entry.get("link"))
    guid = (entry.get("id") or "").strip() or None
    digest = content_hash(title, summary)
    identity = f"guid:{guid}" if guid else f"url:{url}" if url else f"hash:{digest}"
    published_at, flag = entry_time(entry, fetched_at, future_skew)
    return ArticleRecord(
        identity=identity, guid=guid, url=url, title=title or summary[:200], summary=summary,
        published_at=published_at, date_flag=flag, content_hash=digest,
        tickers=extract_tickers(f"{title} {summary}", watchlist),
    )
