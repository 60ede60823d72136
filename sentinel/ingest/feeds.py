"""feeds.yaml: the list of feeds to poll, validated and synced to the ``feed`` table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection

from sentinel.db.models import Feed
from sentinel.errors import ConfigError


class FeedConfig(BaseModel):
    """One feed: a name, an http(s) (or allowed file://) url, and optional tags."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1)
    tags: dict[str, Any] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _scheme(cls, url: str) -> str:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme not in {"http", "https", "file"}:
            raise ValueError(f"url must start with http:// or https:// (got {url!r})")
        return url.strip()


def load_feeds_file(path: Path) -> list[FeedConfig]:
    """Read and validate a feeds.yaml; errors name the file, the entry and the fix."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; create it or set SENTINEL_FEEDS_FILE") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    entries = raw.get("feeds") if isinstance(raw, dict) else raw
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: expected a list of feeds under 'feeds:'")
    feeds: list[FeedConfig] = []
    seen: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: entry {number} is not a mapping; "
                              "every feed needs a name and an http(s) url")
        for needed in ("name", "url"):
            if not entry.get(needed):
                raise ConfigError(f"{path}: entry {number} has no {needed!r}; "
                                  "every feed needs a name and an http(s) url")
        try:
            feed = FeedConfig.model_validate(entry)
        except ValidationError as exc:
            problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"{path}: entry {number} ({entry.get('name')!r}): {problem}") from None
        if feed.name in seen:
            raise ConfigError(f"{path}: entry {number} repeats the name {feed.name!r} of entry "
                              f"{seen[feed.name]}; feed names must be unique")
        seen[feed.name] = number
        feeds.append(feed)
    return feeds


def sync_feeds(conn: Connection, feeds: list[FeedConfig]) -> dict[str, int]:
    """Upsert the configured feeds by name; returns name -> feed id. Fetch state is kept."""
    if not feeds:
        return {}
    stmt = insert(Feed).values([f.model_dump() for f in feeds])
    stmt = stmt.on_conflict_do_update(
        index_elements=[Feed.name], set_={"url": stmt.excluded.url, "tags": stmt.excluded.tags}
    )
    conn.execute(stmt)
    rows = conn.execute(sa.select(Feed.name, Feed.id).where(Feed.name.in_([f.name for f in feeds])))
    return {name: feed_id for name, feed_id in rows}
