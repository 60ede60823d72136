"""The bundled sample feeds (examples/feeds), shifted so their newest story is "now".

They ship inside the package (``sentinel/sample_feeds``, read through importlib.resources), so
an installed wheel can ingest them too; :func:`bundled_sample_feeds` says where they are.

The committed files end at a fixed anchor time; staging copies them into the data directory with
every RSS ``pubDate`` and Atom ``published``/``updated``/``lastBuildDate`` moved by the same
offset, and writes a feeds.yaml pointing at the copies (file:// URLs, allowed by construction).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import yaml

from sentinel.packaged import packaged_dir

RFC822 = re.compile(r"<(pubDate|lastBuildDate)>([^<]+)</\1>")
ISO = re.compile(r"<(published|updated)>([^<]+)</\1>")

SAMPLE_TAGS = {
    "harbor-street-journal": {"publisher": "Harbor Street Journal", "region": "US",
                              "language": "en"},
    "ledger-wire": {"publisher": "Ledger Wire", "region": "US", "language": "en"},
    "northgate-markets": {"publisher": "Northgate", "region": "UK", "language": "en"},
    "commodity-desk": {"publisher": "The Commodity Desk", "region": "global", "language": "en"},
}


def bundled_sample_feeds() -> Path:
    """The directory of the sample feeds (and their watchlist.yaml) shipped in the package."""
    return packaged_dir("sample_feeds")


def _newest(text: str) -> datetime | None:
    stamps = [parsedate_to_datetime(m.group(2)) for m in RFC822.finditer(text)]
    stamps += [datetime.fromisoformat(m.group(2).replace("Z", "+00:00"))
               for m in ISO.finditer(text)]
    return max(stamps) if stamps else None


def shift_feed_text(text: str, delta: timedelta) -> str:
    """Move every feed timestamp in ``text`` by ``delta``, keeping each one's format."""
    def rfc(m: re.Match[str]) -> str:
        moved = parsedate_to_datetime(m.group(2)) + delta
        return f"<{m.group(1)}>{format_datetime(moved.astimezone(UTC))}</{m.group(1)}>"

    def iso(m: re.Match[str]) -> str:
        moved = datetime.fromisoformat(m.group(2).replace("Z", "+00:00")) + delta
        return f"<{m.group(1)}>{moved.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}</{m.group(1)}>"

    return ISO.sub(iso, RFC822.sub(rfc, text))


def sample_feed_entries(source: Path, dest: Path) -> list[dict]:
    """The feeds.yaml entries of the staged samples (``dest``/NAME.xml as file:// URLs), without
    writing anything: what ``sentinel feeds list`` shows in demo mode."""
    files = sorted(source.glob("*.xml"))
    if not files:
        raise FileNotFoundError(f"no sample feeds (*.xml) in {source}")
    return [{"name": path.stem, "url": (dest / path.name).resolve().as_uri(),
             "tags": SAMPLE_TAGS.get(path.stem, {})} for path in files]


def stage_sample_feeds(source: Path, dest: Path, now: datetime) -> Path:
    """Copy the samples to ``dest`` shifted so that their newest timestamp is ``now``.

    Returns the path of a feeds.yaml listing the staged copies.
    """
    feeds = sample_feed_entries(source, dest)
    texts = {feed["name"]: (source / f"{feed['name']}.xml").read_text(encoding="utf-8")
             for feed in feeds}
    anchor = max(filter(None, map(_newest, texts.values())))
    delta = now.replace(second=0, microsecond=0) - anchor
    dest.mkdir(parents=True, exist_ok=True)
    for stem, text in texts.items():
        (dest / f"{stem}.xml").write_text(shift_feed_text(text, delta), encoding="utf-8")
    feeds_file = dest / "feeds.yaml"
    feeds_file.write_text(yaml.safe_dump({"feeds": feeds}, sort_keys=False), encoding="utf-8")
    return feeds_file
