"""The report in a real browser (headless Chromium): it renders, charts show, nothing runs."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from analyst_data import load_week
from dbkit import empty_tables
from PIL import Image

from sentinel.report.render import write_report

UNTIL = datetime(2026, 11, 29, 12, tzinfo=UTC)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


@pytest.fixture(scope="module")
def opened(engine, tmp_path_factory):
    """The report of a week with a burst and hostile headlines, as Chromium sees it (once for
    the module: two browser runs, then the tables are emptied as the ``db`` fixture does)."""
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no chromium on PATH; install it with `apt-get install -y chromium` "
                    "(.ci/run does)")
    tmp_path = tmp_path_factory.mktemp("browser")
    try:
        load_week(engine, UNTIL)
        report = write_report(engine, UNTIL - timedelta(days=7), UNTIL, tmp_path / "report")
    finally:
        empty_tables(engine)
    url = report.html_path.as_uri()

    def browse(*args: str) -> subprocess.CompletedProcess[str]:
        profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
        done = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args, url],
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-2000:]
        return done

    dom = browse("--dump-dom").stdout
    screenshot = tmp_path / "screenshot.png"
    browse(f"--screenshot={screenshot}", "--window-size=1280,2000")
    return dom, screenshot


def test_chromium_renders_every_section_and_runs_nothing_from_the_feeds(opened):
    dom, _ = opened
    for section in ("summary", "alerts", "negative-volume", "topic-sentiment", "headlines",
                    "feed-health"):
        assert f'<section id="{section}">' in dom
    assert dom.count('<img src="data:image/png;base64,') == 2
    assert "<h1>Sentinel news sentiment report</h1>" in dom
    # hostile titles stay escaped text, and nothing in them ran (it would rename the page)
    assert "<title>Sentinel report, 2026-11-22 12:00 UTC to 2026-11-29 12:00 UTC</title>" in dom
    assert "&lt;script&gt;document.title" in dom and "<script" not in dom
    assert dom.count("<li>") == 20


def test_screenshot_shows_a_report_not_a_blank_page(opened):
    _, screenshot = opened
    image = Image.open(screenshot).convert("RGB")
    assert image.size == (1280, 2000)
    colours = image.getcolors(maxcolors=1 << 24)
    assert len(colours) > 500, f"only {len(colours)} colours: the page looks blank"
    reds = sum(n for n, (r, g, b) in colours if r > 150 and g < 120 and b < 110)
    assert reds > 2000, "the negative-volume bars (red) are not visible"
    most = max(n for n, _ in colours)
    assert most < 0.9 * 1280 * 2000, "one colour fills the screenshot"
