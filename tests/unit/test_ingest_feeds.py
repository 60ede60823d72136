"""feeds.yaml and the watchlist: validation that names the file, the entry and the fix."""

from __future__ import annotations

import pytest
import yaml

from sentinel.errors import ConfigError
from sentinel.ingest.feeds import FeedConfig, append_feed, load_feeds_file, load_watchlist


def write(tmp_path, text: str):
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_file_with_tags(tmp_path):
    path = write(tmp_path, """
feeds:
  - name: ledger
    url: https://ledger.example.com/rss
    tags: {publisher: Ledger, region: US, language: en, tickers: "$aapl, msft"}
  - {name: other, url: "http://other.example.com/atom"}
""")
    feeds = load_feeds_file(path)
    assert [f.name for f in feeds] == ["ledger", "other"]
    assert feeds[0].tags == {"publisher": "Ledger", "region": "US", "language": "en",
                             "tickers": ["AAPL", "MSFT"]}


@pytest.mark.parametrize("text, message", [
    ("feeds:\n  - url: https://a.example/rss\n", "entry 1 has no 'name'"),
    ("feeds:\n  - name: a\n", "entry 1 has no 'url'"),
    ("feeds:\n  - name: a\n    url: ftp://a.example/rss\n", "url must start with http://"),
    ("feeds:\n  - name: a\n    url: a.example/rss\n", "url must start with http://"),
    ("feeds:\n  - name: a\n    url: https://a.example/1\n  - name: a\n    url: https://a.example/2\n",
     "entry 2 repeats the name 'a' of entry 1"),
    ("feeds:\n  - name: a\n    url: https://a.example/1\n  - name: b\n    url: https://a.example/1\n",
     "entry 2 ('b') repeats the url of entry 1"),
    ("feeds:\n  - name: a\n    url: https://a.example/1\n    colour: red\n", "colour"),
    ("feeds:\n  - name: a\n    url: https://a.example/1\n    tags: {tickers: [not a ticker]}\n",
     "is not a ticker symbol"),
    ("feeds:\n  - just a string\n", "entry 1 is not a mapping"),
    ("feeds: {name: a}\n", "expected a list of feeds"),
    ("feeds:\n  - name: [unclosed\n", "not valid YAML"),
])
def test_errors_name_file_entry_and_fix(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_feeds_file(path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found; create it or set SENTINEL_FEEDS_FILE"):
        load_feeds_file(tmp_path / "nope.yaml")


def test_append_creates_the_file(tmp_path):
    path = tmp_path / "new" / "feeds.yaml"
    append_feed(path, FeedConfig(name="a", url="https://a.example/rss", tags={"region": "EU"}))
    assert load_feeds_file(path)[0].tags == {"region": "EU"}


def test_append_keeps_comments_and_layout(tmp_path):
    path = write(tmp_path, "# my feeds\nfeeds:\n    # the first one\n    - name: a  # inline\n"
                           "      url: https://a.example/rss\n")
    append_feed(path, FeedConfig(name="b", url="https://b.example/rss",
                                 tags={"tickers": ["KO"]}))
    text = path.read_text()
    assert "# my feeds" in text and "# the first one" in text and "# inline" in text
    assert [f.name for f in load_feeds_file(path)] == ["a", "b"]
    assert load_feeds_file(path)[1].tags == {"tickers": ["KO"]}


def test_append_rewrites_a_flow_style_list(tmp_path):
    path = write(tmp_path, "feeds: [{name: a, url: 'https://a.example/rss'}]\nother: 1\n")
    append_feed(path, FeedConfig(name="b", url="https://b.example/rss"))
    assert [f.name for f in load_feeds_file(path)] == ["a", "b"]
    assert yaml.safe_load(path.read_text())["other"] == 1


@pytest.mark.parametrize("feed, message", [
    (FeedConfig(name="a", url="https://z.example/rss"), "a feed named 'a' already exists"),
    (FeedConfig(name="z", url="https://a.example/rss"), "is already listed as 'a'"),
])
def test_append_refuses_duplicates(tmp_path, feed, message):
    path = write(tmp_path, "feeds:\n  - name: a\n    url: https://a.example/rss\n")
    with pytest.raises(ConfigError, match=message):
        append_feed(path, feed)
    assert len(load_feeds_file(path)) == 1


def test_watchlist(tmp_path):
    path = tmp_path / "watch.yaml"
    path.write_text("Apple: aapl\nCoca-Cola: KO\n")
    assert load_watchlist(path) == {"Apple": "AAPL", "Coca-Cola": "KO"}
    path.write_text("- Apple\n")
    with pytest.raises(ConfigError, match="mapping of company names to tickers"):
        load_watchlist(path)
