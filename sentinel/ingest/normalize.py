"""Turn a feedparser entry into a clean article record (pure functions, no I/O).

Identity rule (what makes two entries "the same story"):

1. a guid that is an absolute http(s) URL -> ``url:<canonical URL of the guid>`` (global);
2. a guid that is globally unique by construction (``tag:`` URIs, ``urn:uuid:``) ->
   ``guid:<guid>`` (global);
3. any other guid (``1234``, ``post-77``) -> ``guid:feed-<feed id>:<guid>``: scoped to the
   feed, because two publishers may both number their stories from 1 (the id, not the name,
   so renaming a feed in feeds.yaml changes nothing);
4. no guid: the canonical link -> ``url:<canonical URL>`` (global);
5. neither: ``hash:<sha256 of title + summary>`` (global).

Identities longer than :data:`MAX_KEY_CHARS` are replaced by a hash of themselves (a btree
index entry must stay small). Besides the identity, the store treats two records with the same
canonical (non-root) link as the same story, so a story carried by several feeds is kept once.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from sentinel.ingest.language import identify_language
from sentinel.ingest.repair import repair_mojibake

MAX_TITLE_CHARS = 500
MAX_SUMMARY_CHARS = 20_000
MAX_KEY_CHARS = 1_000  # identity, guid and url: they are indexed

DROP_ELEMENTS = re.compile(
    r"<(script|style|iframe|noscript|object|template|svg|math)\b.*?(?:</\1\s*>|$)", re.I | re.S
)
COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.S)
TAG = re.compile(r"</?[A-Za-z!?][^<>]*>")
# NUL and other C0/C1 controls, lone surrogates and non-characters: PostgreSQL rejects NUL,
# the others are noise (tab and newlines fold into spaces later).
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
TRACKING_NAMES = frozenset({"fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "twclid",
                            "mc_cid", "mc_eid", "igshid", "mkt_tok", "ref_src", "vero_id",
                            "wt.mc_id", "cmpid", "spm"})
TRACKING_QUERY = re.compile(
    r"(?:^|&)(?:utm_|fbclid|gclid|gclsrc|dclid|msclkid|yclid|twclid|mc_[ce]id|igshid|_hs|mkt_tok|"
    r"ref_src|oly_|vero_id|wt\.mc_id|cmpid|spm)", re.I
)
BLANK = re.compile(r"[\s<>\"'`{}|\\^]")
CASHTAG = re.compile(r"(?<![\w$])\$([A-Z]{1,5}(?:\.[A-Z]{1,2})?)(?![\w])")
EXCHANGE = re.compile(  # the lookahead lets the regex engine skip to candidate letters
    r"(?=[ABEFHLNOSTX])\b(?:NASDAQ|Nasdaq|NYSE(?:\s?American|\s?Arca)?|AMEX|LSE|LON|TSX|TSXV|ASX|XETRA|ETR|"
    r"Euronext|EPA|FRA|HKEX|TYO|SGX|NSE|BSE|OTC(?:QX|QB)?)\s*:\s*([A-Z]{1,5}(?:\.[A-Z]{1,2})?)\b"
)
EXCHANGE_WORDS = ("NASDAQ", "Nasdaq", "NYSE", "AMEX", "LSE", "LON", "TSX", "ASX", "XETRA", "ETR",
                  "Euronext", "EPA", "FRA", "HKEX", "TYO", "SGX", "NSE", "BSE", "OTC")
EXCHANGE_HINT = re.compile("|".join(EXCHANGE_WORDS))  # one scan instead of 19 substring tests
# A URL that urlsplit/urlunsplit would leave as it is (lower-case http(s) scheme and host, no
# port, user info, white space or trailing dot): canonical_url builds it without them.
SIMPLE_URL = re.compile(
    r"(https?)://([a-z0-9-]+(?:\.[a-z0-9-]+)*)(/[^?#\s]*)?(?:\?([^#\s]*))?(?:#\S*)?")
GLOBAL_GUID = re.compile(r"^(tag:[^,\s]+,\d{4}|urn:uuid:)", re.I)


@dataclass
class ArticleRecord:
    """One normalised entry: the columns of ``article`` plus flags that describe repairs."""

    identity: str
    guid: str | None
    url: str | None
    title: str
    summary: str
    published_at: datetime
    date_flag: str | None
    content_hash: str
    tickers: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    language: str | None = None  # ISO 639-1, None when it cannot be told (ingest.language)


class Watchlist:
    """Company names -> tickers, matched as whole words, case-insensitively.

    A substring test on the case-folded text picks the candidate names (fast, in C); only those
    are checked for word boundaries.
    """

    def __init__(self, names: Mapping[str, str] | None = None) -> None:
        self.tickers = {name.casefold(): ticker.upper() for name, ticker in (names or {}).items()
                        if name.strip()}
        self.words = {name: re.compile(rf"(?<!\w){re.escape(name)}(?!\w)")
                      for name in self.tickers}

    def find(self, text: str) -> set[str]:
        if not self.tickers:
            return set()
        folded = text.casefold()
        return {self.tickers[name] for name, word in self.words.items()
                if name in folded and word.search(folded)}


@dataclass
class NormalizeContext:
    """What normalising one feed's entries needs to know besides the entries."""

    scope: str  # what scopes local guids: "feed-<feed id>"
    fetched_at: datetime
    feed_url: str | None = None
    future_skew: timedelta = timedelta(hours=24)
    watchlist: Watchlist | None = None
    default_tickers: tuple[str, ...] = ()


def _strip_markup(text: str) -> str:
    return TAG.sub(" ", COMMENT.sub(" ", DROP_ELEMENTS.sub(" ", text)))


def clean_text(value: str | None) -> str:
    """Plain text: scripts/styles dropped, tags stripped, entities unescaped, spaces folded.

    Markup that only appears after unescaping (``&lt;b&gt;``) is stripped too, and a stray
    ``<`` that starts no tag (``profit < 5%``) is kept.
    """
    if not value:
        return ""
    text = value
    for _ in range(3):  # markup may arrive escaped once or twice more than it should
        if "<" in text:
            text = _strip_markup(text)
        if "&" not in text:
            break
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    if "<" in text:
        text = _strip_markup(text)
    text = CONTROL.sub("", text)
    return " ".join(text.split())


def truncate(text: str, limit: int) -> tuple[str, bool]:
    """Cut ``text`` to at most ``limit`` characters at a word boundary, ending with '…'."""
    if len(text) <= limit:
        return text, False
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…", True


def canonical_url(url: str | None, base: str | None = None) -> str | None:
    """Lower-case scheme and host, no default port, user info, tracking parameters or fragment.

    Relative links are resolved against ``base`` (the feed's own http(s) URL). Anything that is
    not http(s) afterwards (``javascript:``, ``data:``, ``mailto:``, ``file:``) gives None. The
    remaining query parameters keep their order and encoding.
    """
    if not url:
        return None
    url = CONTROL.sub("", url).strip()
    simple = SIMPLE_URL.fullmatch(url) if url.isascii() else None
    if simple:  # already canonical but for the fragment and tracking parameters
        scheme, host, path, query = simple.groups()
        query = _without_tracking(query)
        return f"{scheme}://{host}{path or '/'}{'?' + query if query else ''}"
    return _canonical_url(url, base)


def _canonical_url(url: str, base: str | None) -> str | None:
    try:
        scheme, netloc, path, query, _ = urlsplit(url)
        if not scheme and base and base[:4].lower() == "http":
            scheme, netloc, path, query, _ = urlsplit(urljoin(base, url))
    except ValueError:
        return None
    scheme = scheme.lower()
    if scheme not in ("http", "https") or not netloc:
        return None
    netloc = netloc.rpartition("@")[2].lower()
    host, port = netloc, ""
    if ":" in netloc and not netloc.endswith("]"):
        host, _, port = netloc.rpartition(":")
        if port and not port.isdigit():
            return None
        if (scheme, port) in (("http", "80"), ("https", "443")):
            port = ""
    host = host.rstrip(".")
    if not host or BLANK.search(host):
        return None
    return urlunsplit((scheme, f"{host}:{port}" if port else host, path or "/",
                       _without_tracking(query), ""))


def _without_tracking(query: str | None) -> str | None:
    """The query without tracking parameters (the others keep their order and encoding)."""
    if query and TRACKING_QUERY.search(query):
        return "&".join(pair for pair in query.split("&") if pair and not _tracking(pair))
    return query


def _tracking(pair: str) -> bool:
    key = pair.partition("=")[0]
    if "%" in key or "+" in key:
        key = unquote(key)
    key = key.lower()
    return key.startswith(("utm_", "oly_", "_hs")) or key in TRACKING_NAMES


def is_root_url(url: str | None) -> bool:
    """A site's home page (of a canonical URL): many entries may link to it, so it identifies
    no story."""
    if not url:
        return True
    rest = url.partition("://")[2]
    slash = rest.find("/")
    return slash == -1 or rest[slash:] == "/"


def extract_tickers(text: str, watchlist: Watchlist | None = None,
                    default: Iterable[str] = ()) -> list[str]:
    """Cashtags ($AAPL), exchange prefixes (NASDAQ: AAPL, (NYSE:KO), LSE:VOD), watchlist names."""
    found = set(default)
    if "$" in text:
        found.update(CASHTAG.findall(text))
    if ":" in text and EXCHANGE_HINT.search(text):
        found.update(EXCHANGE.findall(text))
    if watchlist is not None:
        found |= watchlist.find(text)
    return sorted(found)


# Publication dates before this are not news: a feed that says 0001-01-01 or 1800 has a broken
# date, so the story gets the fetch time and the flag 'too_old' (as a far-future one gets
# 'future'), and no report or rollup ever sees year 1.
DATE_FLOOR = datetime(1990, 1, 1, tzinfo=UTC)
# ISO 8601 / W3C-DTF: feedparser rolls impossible fields over (2024-13-45T99:99:99Z becomes
# 2025-01-01), so the written fields are checked here. RFC 822 dates it refuses by itself.
ISO_DATE = re.compile(r"^\s*(\d{4})-?(\d\d)(?:-?(\d\d))?(?:[T ](\d\d):?(\d\d)(?::?(\d\d))?"
                      r"(?:[.,]\d+)?)?\s*(?:Z|[+-](\d\d):?(\d\d)?)?\s*$", re.I)


def impossible_date(text: str | None) -> bool:
    """An ISO 8601 date whose fields are out of range (month 13, day 45, 25:00, +25:00)."""
    match = ISO_DATE.match(text or "")
    if match is None:
        return False
    year, month, day, hour, minute, second, tz_hours, tz_minutes = (
        int(v) if v else None for v in match.groups())
    if month is None or not 1 <= month <= 12:
        return True
    if day is not None and not 1 <= day <= calendar.monthrange(year or 1, month)[1]:
        return True
    end_of_day = (hour, minute, second or 0) == (24, 0, 0)
    if hour is not None and not end_of_day and (hour > 23 or (minute or 0) > 59
                                                 or (second or 0) > 60):
        return True
    return (tz_hours or 0) > 23 or (tz_minutes or 0) > 59


def entry_time(entry: dict[str, Any], fetched_at: datetime,
               future_skew: timedelta) -> tuple[datetime, str | None]:
    """Publication time in UTC; missing or impossible -> fetch time ('missing'); far future
    -> fetch time ('future'); before :data:`DATE_FLOOR` -> fetch time ('too_old')."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = dict.get(entry, key)  # not FeedParserDict.get: it warns on a fallback
        if parsed:
            if impossible_date(dict.get(entry, key.removesuffix("_parsed"))):
                continue
            try:
                when = datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
            except (OverflowError, ValueError, OSError):
                continue
            if when > fetched_at + future_skew:
                return fetched_at, "future"
            if when < DATE_FLOOR:
                return fetched_at, "too_old"
            return when, None
    return fetched_at, "missing"


def content_hash(title: str, summary: str) -> str:
    return hashlib.sha256(f"{title}\x1f{summary}".encode()).hexdigest()


def _short_key(prefix: str, value: str) -> str:
    key = prefix + value
    if len(key) <= MAX_KEY_CHARS:
        return key
    return f"{prefix}sha256:{hashlib.sha256(value.encode()).hexdigest()}"


def article_identity(guid: str | None, url: str | None, digest: str, scope: str, *,
                     guid_url: str | None = None) -> str:
    """The identity rule of the module docstring. ``guid_url``: the guid's canonical URL when
    the caller has it already (a permalink guid that is also the entry's link)."""
    if guid:
        as_url = (guid_url or canonical_url(guid)) if guid[:4].lower() == "http" else None
        if as_url:
            return _short_key("url:", as_url)
        if GLOBAL_GUID.match(guid):
            return _short_key("guid:", guid)
        return _short_key(f"guid:{scope}:", guid)
    if url:
        return _short_key("url:", url)
    return f"hash:{digest}"


def entry_link(entry: Mapping, base: str | None) -> tuple[str | None, bool]:
    """The entry's canonical link, and whether a link was there but dropped (unsafe/invalid)."""
    raw = entry.get("link")
    if (raw and entry.get("guidislink") and raw == entry.get("id")
            and not raw.lower().startswith(("http://", "https://"))):
        return None, False  # feedparser copied a permalink guid such as "1234" into `link`
    if not raw:
        for link in entry.get("links") or ():
            if link.get("rel", "alternate") == "alternate" and link.get("href"):
                raw = link["href"]
                break
    if not raw:
        return None, False
    url = canonical_url(raw, base)
    if url is None or len(url) > MAX_KEY_CHARS:
        return None, True
    return url, False


def normalize_entry(entry: dict[str, Any], ctx: NormalizeContext) -> ArticleRecord | None:
    """A clean record, or None when the entry has neither a title nor a summary."""
    flags: list[str] = []
    raw_title, raw_summary = entry.get("title"), entry.get("summary") or entry.get("description")
    if not raw_summary and entry.get("content"):
        raw_summary = entry["content"][0].get("value")
    # issue 13: mojibake ("Americaâ€™s") is repaired before anything else reads the text
    raw_title, title_fixed = repair_mojibake(raw_title)
    raw_summary, summary_fixed = repair_mojibake(raw_summary)
    if title_fixed or summary_fixed:
        flags.append("mojibake_repaired")
    title, summary = clean_text(raw_title), clean_text(raw_summary)
    if not title and not summary:
        return None
    if not title:
        title, _ = truncate(summary, 200)
        flags.append("title_from_summary")
    title, cut = truncate(title, MAX_TITLE_CHARS)
    if cut:
        flags.append("title_truncated")
    summary, cut = truncate(summary, MAX_SUMMARY_CHARS)
    if cut:
        flags.append("summary_truncated")
    url, dropped = entry_link(entry, ctx.feed_url)
    if dropped:
        flags.append("link_dropped")
    guid = CONTROL.sub("", entry.get("id") or "").strip() or None
    if guid and len(guid) > MAX_KEY_CHARS:
        flags.append("guid_too_long")
    digest = content_hash(title, summary)
    published_at, date_flag = entry_time(entry, ctx.fetched_at, ctx.future_skew)
    if date_flag:
        flags.append(f"date_{date_flag}")
    return ArticleRecord(
        identity=article_identity(guid, url, digest, ctx.scope,
                                  guid_url=url if guid == entry.get("link") else None),
        guid=guid[:MAX_KEY_CHARS] if guid else None, url=url, title=title, summary=summary,
        published_at=published_at, date_flag=date_flag, content_hash=digest,
        tickers=extract_tickers(f"{title} {summary}", ctx.watchlist, ctx.default_tickers),
        flags=flags,
        language=identify_language(title, summary),
    )
