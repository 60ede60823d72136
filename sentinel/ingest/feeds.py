"""feeds.yaml: the list of feeds to poll, validated and synced to the ``feed`` table.

The file is the source of truth: ``sentinel feeds add`` appends to it (keeping its comments)
and syncs the table; a feed removed from the file stays in the table, with its articles, but
is no longer fetched. Syncing never resets fetch state, except that a feed whose URL changed
starts afresh (no validators, enabled again, e.g. after its old URL answered 410 Gone).

    feeds:
      - name: ledger-wire                 # unique; renaming keeps the feed's row
        url: https://ledgerwire.example.net/rss
        tags: {publisher: Ledger Wire, region: US, language: en, tickers: [LDGR]}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection

from sentinel.db.models import Feed
from sentinel.errors import ConfigError
from sentinel.redact import mask_secrets

TICKER = re.compile(r"^[A-Z0-9]{1,6}(?:[.-][A-Z0-9]{1,3})?$")


class FeedConfig(BaseModel):
    """One feed: a name, an http(s) (or allowed file://) url, and optional tags."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1)
    tags: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        name = name.strip()
        if not name or any(c in name for c in "\n\r\t"):
            raise ValueError("name must be one line of text, e.g. ledger-wire")
        return name

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return check_url(url)

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, Any]) -> dict[str, Any]:
        tickers = tags.get("tickers")
        if tickers is None:
            return tags
        if isinstance(tickers, str):
            tickers = [t for t in re.split(r"[,\s]+", tickers) if t]
        if not isinstance(tickers, list) or not all(isinstance(t, str) for t in tickers):
            raise ValueError("tags.tickers must be a list of ticker symbols, e.g. [AAPL, MSFT]")
        tickers = [t.strip().lstrip("$").upper() for t in tickers]
        bad = [t for t in tickers if not TICKER.match(t)]
        if bad:
            raise ValueError(f"tags.tickers: {bad[0]!r} is not a ticker symbol (e.g. AAPL, BRK.B)")
        return {**tags, "tickers": tickers}


def check_url(url: str) -> str:
    """``url`` stripped, if it is a URL a feed can have; else a ValueError saying why."""
    url = url.strip()
    shown = mask_secrets(url)
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in {"http", "https", "file"} or not url.split(":", 1)[1].startswith("//"):
        raise ValueError(f"url must start with http:// or https:// (got {shown!r})")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError(f"{shown!r} contains spaces or control characters; "
                         "percent-encode them (%20)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as exc:
        raise ValueError(f"{shown!r} is not a valid URL ({exc}); expected e.g. "
                         "https://news.example.com/rss") from None
    if scheme != "file" and not parts.hostname:
        raise ValueError(f"{shown!r} names no host; expected e.g. "
                         "https://news.example.com/rss")
    return url


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; create it or set SENTINEL_FEEDS_FILE") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None


def validate_feeds(path: Path, raw: Any) -> list[FeedConfig]:
    """Validate the parsed YAML; the first problem is a ConfigError naming the file, the entry
    and the fix."""
    feeds, problems = check_feeds(path, raw)
    if problems:
        raise ConfigError(problems[0])
    return feeds


def check_feeds(path: Path, raw: Any) -> tuple[list[FeedConfig], list[str]]:
    """The valid entries of the parsed YAML, and one line per invalid entry (which is left
    out: one broken entry does not stop the others). A file that is not a list of feeds at
    all is a ConfigError."""
    if raw is None:
        return [], []
    entries = raw.get("feeds") if isinstance(raw, dict) else raw
    if entries is None:
        return [], []
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: expected a list of feeds under 'feeds:', each with a name "
                          "and an http(s) url")
    feeds: list[FeedConfig] = []
    problems: list[str] = []
    names: dict[str, int] = {}
    urls: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        try:
            feed = _check_entry(path, number, entry)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        if feed.name in names:
            problems.append(f"{path}: entry {number} repeats the name {feed.name!r} of entry "
                            f"{names[feed.name]}; feed names must be unique")
            continue
        if feed.url in urls:
            problems.append(f"{path}: entry {number} ({feed.name!r}) repeats the url of entry "
                            f"{urls[feed.url]}; list each feed once")
            continue
        names[feed.name], urls[feed.url] = number, number
        feeds.append(feed)
    return feeds, problems


def _check_entry(path: Path, number: int, entry: Any) -> FeedConfig:
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: entry {number} is not a mapping; "
                          "every feed needs a name and an http(s) url")
    for needed in ("name", "url"):
        if not entry.get(needed):
            raise ConfigError(f"{path}: entry {number} has no {needed!r}; "
                              "every feed needs a name and an http(s) url")
    try:
        return FeedConfig.model_validate(entry)
    except ValidationError as exc:
        problem = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: "
                            f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
        raise ConfigError(f"{path}: entry {number} ({entry.get('name')!r}): "
                          f"{problem}") from None


def load_feeds_file(path: Path) -> list[FeedConfig]:
    """Read and validate a feeds.yaml (every entry must be valid)."""
    return validate_feeds(path, _read_yaml(path))


def read_feeds_file(path: Path) -> tuple[list[FeedConfig], list[str]]:
    """Read a feeds.yaml: its valid feeds, and one line per invalid entry."""
    return check_feeds(path, _read_yaml(path))


def load_watchlist(path: Path) -> dict[str, str]:
    """A YAML mapping of company names to tickers, e.g. ``{Apple: AAPL, "Coca-Cola": KO}``."""
    raw = _read_yaml(path)
    if isinstance(raw, dict) and isinstance(raw.get("watchlist"), dict):
        raw = raw["watchlist"]
    if not isinstance(raw, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and k.strip() for k, v in raw.items()):
        raise ConfigError(f"{path}: expected a mapping of company names to tickers, "
                          "e.g. {Apple: AAPL, Coca-Cola: KO}")
    return {k.strip(): v.strip().upper() for k, v in raw.items()}


def sync_feeds(conn: Connection, feeds: list[FeedConfig]) -> dict[str, int]:
    """Upsert the configured feeds by name; returns name -> feed id. Fetch state is kept.

    A feed renamed in the file (same URL, a name the table does not know yet) keeps its row, so
    its history, links and guid scope stay.
    """
    if not feeds:
        return {}
    names = {f.name for f in feeds}
    by_url = {f.url: f.name for f in feeds}
    taken = set(conn.scalars(sa.select(Feed.name).where(Feed.name.in_(names))))
    renamed = conn.execute(sa.select(Feed.id, Feed.url).where(
        Feed.url.in_(list(by_url)), Feed.name.not_in(names))).all()
    for row in renamed:
        if by_url[row.url] not in taken:
            conn.execute(sa.update(Feed).where(Feed.id == row.id).values(name=by_url[row.url]))
    stmt = insert(Feed).values([f.model_dump() for f in feeds])
    moved = Feed.url != stmt.excluded.url
    stmt = stmt.on_conflict_do_update(
        index_elements=[Feed.name],
        set_={"url": stmt.excluded.url, "tags": stmt.excluded.tags,
              "enabled": sa.case((moved, sa.true()), else_=Feed.enabled),
              "etag": sa.case((moved, sa.null()), else_=Feed.etag),
              "last_modified": sa.case((moved, sa.null()), else_=Feed.last_modified)},
    )
    try:
        conn.execute(stmt)
    except sa.exc.IntegrityError as exc:
        raise ConfigError(f"a feed in the database already uses one of these urls under another "
                          f"name; rename it back or remove it: {mask_secrets(str(exc.orig))}"
                          ) from None
    rows = conn.execute(sa.select(Feed.name, Feed.id).where(Feed.name.in_([f.name for f in feeds])))
    return {name: feed_id for name, feed_id in rows}


def append_feed(path: Path, feed: FeedConfig) -> None:
    """Add ``feed`` to the feeds.yaml at ``path`` (created if missing), keeping its comments."""
    existing = load_feeds_file(path) if path.exists() else []
    for other in existing:
        if other.name == feed.name:
            raise ConfigError(f"{path}: a feed named {feed.name!r} already exists "
                              f"({mask_secrets(other.url)}); choose another --name")
        if other.url == feed.url:
            raise ConfigError(f"{path}: {mask_secrets(feed.url)} is already listed as "
                              f"{other.name!r}")
    item = yaml.safe_dump([feed.model_dump(exclude_defaults=True)], sort_keys=False,
                          allow_unicode=True, default_flow_style=False, width=1000)
    if not path.exists() or not path.read_text(encoding="utf-8").strip():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("feeds:\n" + item, encoding="utf-8")
        return
    original = path.read_text(encoding="utf-8")
    raw = yaml.safe_load(original)
    indent = ""
    if isinstance(raw, dict):
        match = re.search(r"^feeds:[ \t]*(?:#.*)?\n(?:[ \t]*(?:#.*)?\n)*([ \t]*)-", original, re.M)
        indent = match.group(1) if match else "  "
    block = "".join(indent + line + "\n" for line in item.splitlines())
    candidate = original + ("" if original.endswith("\n") else "\n") + block
    try:
        appended = validate_feeds(path, yaml.safe_load(candidate))
    except (yaml.YAMLError, ConfigError):
        appended = []
    if [f.name for f in appended] != [*(f.name for f in existing), feed.name]:
        # the list is not the file's last block, or it is written in flow style: rewrite it
        data = raw if isinstance(raw, dict) else {}
        data["feeds"] = [f.model_dump(exclude_defaults=True) for f in [*existing, feed]]
        candidate = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
    path.write_text(candidate, encoding="utf-8")
