"""What `sentinel feeds list|add|check` do; the CLI only parses arguments and prints.

``feeds.yaml`` (SENTINEL_FEEDS_FILE, or ``--feeds``) is the source of truth for which feeds
are polled: ``add`` appends to it, keeping its comments, and syncs the ``feed`` table in the
same step; the table adds each feed's health and fetch state. ``check`` fetches, parses and
normalises one URL and shows what would be stored, without touching the database.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from sentinel.db.models import Feed
from sentinel.errors import ConfigError
from sentinel.ingest.feeds import (
    FeedConfig,
    append_feed,
    check_url,
    load_feeds_file,
    sync_feeds,
)
from sentinel.ingest.fetch import make_client
from sentinel.ingest.run import (
    Collected,
    FeedState,
    IngestOptions,
    collect_feed,
    configured_feeds,
    staged_samples_dir,
)
from sentinel.ingest.store import dedupe_batch
from sentinel.redact import mask_secrets
from sentinel.settings import Settings
from sentinel.status import format_when


def parse_tags(pairs: list[str]) -> dict[str, Any]:
    """``["region=US", "tickers=AAPL,MSFT"]`` -> a tags mapping (validated by FeedConfig)."""
    tags: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--tag {pair!r}: expected KEY=VALUE, e.g. --tag region=US "
                              "or --tag tickers=AAPL,MSFT")
        tags[key.strip()] = value.strip()
    return tags


def feeds_file_for_edit(settings: Settings, override: Path | None) -> Path:
    path = override or settings.feeds_file
    if path is None:
        raise ConfigError("no feeds file to add to: pass --feeds FILE or set SENTINEL_FEEDS_FILE "
                          "(it is created if missing; the bundled sample feeds are read-only)")
    return path


def add_feed(engine: Engine, path: Path, url: str, name: str, tags: dict[str, Any],
             check: Settings | None = None) -> str:
    """Append the feed to ``path`` and upsert it into the feed table, both or neither. With
    ``check`` (the settings to fetch with), the URL is fetched once first, through the same
    path as ingest (deadline, address guard, caps), and refused unless it answers as a feed."""
    shown = mask_secrets(url)
    try:
        feed = FeedConfig(name=name, url=url, tags=tags)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: "
                             f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
        raise ConfigError(f"cannot add {shown}: {problems}") from None
    with engine.connect() as conn:  # the clashes first: they need no fetch to refuse
        taken = conn.scalar(sa.select(Feed.name).where(Feed.url == feed.url, Feed.name != name))
    if taken:
        raise ConfigError(f"{shown} is already in the feed table as {taken!r}; "
                          "add that name to the feeds file instead")
    existing = load_feeds_file(path) if path.exists() else []
    if any(other.name == feed.name or other.url == feed.url for other in existing):
        append_feed(path, feed)  # raises the error that names the clash
    if check is not None:
        collected = probe(feed.url, check)
        if collected.error:
            raise ConfigError(f"cannot add {shown}: it does not answer as a feed now "
                              f"({collected.error}); `sentinel feeds check URL` shows more, "
                              "--no-check adds it anyway")
    with engine.begin() as conn:
        feed_id = sync_feeds(conn, [feed])[feed.name]
        append_feed(path, feed)
    return (f"added feed {feed.name!r} ({shown}) to {path} and the feed table (id {feed_id}); "
            f"see what it would store with: sentinel feeds check {shown}")


def probe(url: str, settings: Settings) -> Collected:
    """Fetch, parse and normalise ``url`` once, as ingest would; stores nothing."""
    options = IngestOptions.from_settings(settings, (staged_samples_dir(settings),))
    with make_client(options.fetch, max_connections=1) as client:
        return collect_feed(client, FeedState(id=0, name="check", url=url), options)


def list_feeds(engine: Engine, settings: Settings, override: Path | None = None) -> str:
    """Configured feeds with their health, unhealthy first; feeds only in the table at the end."""
    if override is not None:
        settings = settings.model_copy(update={"feeds_file": override})
    configs, _, problems = configured_feeds(settings, datetime.now(UTC), stage=False)
    with engine.connect() as conn:
        rows = {row.name: row for row in conn.execute(sa.select(Feed))}
    source = settings.feeds_file or "the bundled sample feeds (demo)"
    lines = [f"{len(configs)} feeds in {source}:"]
    lines += [f"  INVALID  {problem}" for problem in problems]
    entries = []
    for config in configs:
        row = rows.pop(config.name, None)
        if row is None:
            state, rank = "new", 2
        elif not row.enabled:
            state, rank = "GONE", 0
        elif row.consecutive_failures:
            state, rank = f"FAIL x{row.consecutive_failures}", 0
        elif row.last_success_at is None:
            state, rank = "new", 2
        else:
            state, rank = "ok", 1
        entries.append((rank, config.name, state, row, config))
    for _, name, state, row, config in sorted(entries, key=lambda e: (e[0], e[1])):
        tags = " ".join(f"{k}={','.join(v) if isinstance(v, list) else v}"
                        for k, v in config.tags.items())
        lines.append(f"  {state:<8} {name:<28} last success "
                     f"{format_when(row.last_success_at if row else None)}  "
                     f"{mask_secrets(config.url)}"
                     + (f"  [{tags}]" if tags else ""))
        if row is not None and row.last_error and state != "ok":
            lines.append(f"           last error: {row.last_error}")
    if rows:
        lines.append(f"{len(rows)} feeds in the database but not in the file (not fetched):")
        lines += [f"  {name:<37} {mask_secrets(row.url)}" for name, row in sorted(rows.items())]
    return "\n".join(lines)


@dataclass
class CheckReport:
    ok: bool
    text: str


def check_feed(url: str, settings: Settings, limit: int = 20) -> CheckReport:
    """Fetch + parse + normalise ``url`` and describe what would be stored; stores nothing."""
    try:
        url = check_url(url)
    except ValueError as exc:
        raise ConfigError(f"cannot check {mask_secrets(url)}: {exc}") from None
    collected = probe(url, settings)
    fetched, parsed = collected.fetched, collected.parsed
    lines = [f"{mask_secrets(url)}: HTTP {fetched.status or '-'}"
             + (f" (after redirects: {mask_secrets(fetched.final_url)})"
                if fetched.final_url and fetched.final_url != url else "")
             + (f", {len(fetched.body)} bytes" if fetched.body is not None else "")]
    if parsed is not None:
        lines.append(f"format: {parsed.version or 'unknown'}; bozo: "
                     + (f"yes ({parsed.bozo_reason})" if parsed.bozo else "no"))
    if collected.error:
        lines.append(f"error: {collected.error}")
        return CheckReport(False, "\n".join(lines))
    records = collected.records
    kept = [r for r in records if r is not None]
    unique = dedupe_batch(kept)
    flags = Counter(flag for r in kept for flag in r.flags)
    lines.append(f"entries: {len(records)}; would store {len(unique)} articles "
                 f"({len(records) - len(kept)} rejected without text, "
                 f"{len(kept) - len(unique)} repeated in the feed)"
                 + ("; flags: " + ", ".join(f"{k}={v}" for k, v in sorted(flags.items()))
                    if flags else ""))
    for record in unique[:limit]:
        date = record.published_at.strftime("%Y-%m-%d %H:%M UTC")
        if record.date_flag:
            date += f" ({record.date_flag})"
        lines.append(f"- {date}  {record.title}")
        lines.append(f"    identity: {record.identity}")
        lines.append(f"    url: {record.url or '(none)'}"
                     + (f"  tickers: {', '.join(record.tickers)}" if record.tickers else "")
                     + (f"  flags: {', '.join(record.flags)}" if record.flags else ""))
    if len(unique) > limit:
        lines.append(f"... and {len(unique) - limit} more (--limit to show more)")
    lines.append("(nothing was stored; stored identities of local guids name the feed's id, "
                 "not feed-0)")
    return CheckReport(True, "\n".join(lines))
