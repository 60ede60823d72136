"""The report in a real browser (headless Chromium) at 1400 px and at a phone's 390 px, for a
week with hostile headlines and for the demo (the bundled samples through the real stages): it
renders, every chart shows labelled axes, nothing scrolls sideways, the alert's stories come
first, and nothing from the feeds runs.

The measurements come from a small harness page (ours, not the report) that loads the report in
two iframes of those widths and reads their layout; the report itself runs no script (its
Content-Security-Policy forbids any)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from analyst_data import HOSTILE_TITLES, load_week
from dbkit import empty_tables
from PIL import Image

from sentinel.report.render import write_report

UNTIL = datetime(2026, 11, 29, 12, tzinfo=UTC)
WIDTHS = (1400, 390)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
HARNESS = """<!doctype html><html><body>
%(frames)s
<pre id="out">pending</pre>
<script>
function look(frame) {
  const doc = frame.contentDocument, root = doc.documentElement;
  const charts = [...doc.querySelectorAll('figure.chart')].map(f => {
    const shown = [...f.querySelectorAll('svg')].filter(s => s.getBoundingClientRect().width > 0);
    return {name: f.dataset.chart, axes: f.dataset.axes.split(' | ').filter(Boolean),
            width: f.getBoundingClientRect().width,
            texts: shown.map(s => [...s.querySelectorAll('text')].map(t => t.textContent.trim()))};
  });
  const wide = [...doc.body.querySelectorAll('*')]
    .filter(e => e.getBoundingClientRect().right > root.clientWidth + 0.5)
    .map(e => e.tagName + ' ' + (e.id || '')).slice(0, 5);
  const headlines = [...doc.querySelectorAll('ol.headlines li')].map(li => ({
    title: li.firstChild.textContent, alert: (li.closest('article.alert') || {}).id || null}));
  return {scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, wide, charts, headlines,
          title: doc.title};
}
window.addEventListener('load', () => {
  const out = {};
  for (const frame of document.querySelectorAll('iframe')) out[frame.id] = look(frame);
  document.getElementById('out').textContent = JSON.stringify(out);
});
</script></body></html>
"""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


def demo_report(engine, database_url: str, tmp_path) -> Any:
    """The bundled sample feeds through ingest, a keyword classifier, detect and notify (as in
    test_alerts_demo), then the report of the 7 days up to now."""
    from test_alerts_demo import classify_by_keywords

    from sentinel.pipeline import run_detect, run_ingest, run_notify
    from sentinel.settings import Settings

    settings = Settings(_env_file=None, database_url=database_url, data_dir=tmp_path / "data",
                        demo=True)
    now = datetime.now(UTC)
    assert run_ingest(engine, settings, now=now).status == "ok"
    classify_by_keywords(engine)
    assert run_detect(engine, settings, now=now).counts["fired"] >= 1
    run_notify(engine, settings, now=now)  # printed: Slack is not configured
    return write_report(engine, now - timedelta(days=7), now, tmp_path / "report", now=now)


@pytest.fixture(scope="module", params=["week", "demo"])
def opened(request, engine, database_url, tmp_path_factory):
    """The report of a week with a burst and hostile headlines, and of the demo data, as
    Chromium lays it out and draws it at both widths (once per data set; then the tables are
    emptied)."""
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no chromium on PATH; install it with `apt-get install -y chromium` "
                    "(.ci/run does)")
    tmp_path = tmp_path_factory.mktemp(f"browser-{request.param}")
    try:
        if request.param == "week":
            load_week(engine, UNTIL)
            report = write_report(engine, UNTIL - timedelta(days=7), UNTIL, tmp_path / "report")
        else:
            report = demo_report(engine, database_url, tmp_path)
    finally:
        empty_tables(engine)
    harness = report.html_path.parent / "harness.html"
    harness.write_text(HARNESS % {"frames": "".join(
        f'<iframe id="w{w}" src="report.html" style="width:{w}px;height:900px;border:0">'
        "</iframe>" for w in WIDTHS)}, encoding="utf-8")

    def browse(url: str, *args: str) -> subprocess.CompletedProcess[str]:
        profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
        done = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args, url],
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-2000:]
        return done

    dom = browse(report.html_path.as_uri(), "--dump-dom").stdout
    measured = browse(harness.as_uri(), "--allow-file-access-from-files",
                      "--virtual-time-budget=10000", "--dump-dom").stdout
    out = re.search(r'<pre id="out">(.*?)</pre>', measured, re.S).group(1)
    layout = json.loads(html.unescape(out))
    shots = {}
    for width in WIDTHS:
        shots[width] = tmp_path / f"report-{width}.png"
        browse(report.html_path.as_uri(), f"--screenshot={shots[width]}",
               f"--window-size={width},2400")
    return request.param, dom, layout, shots


def test_chromium_renders_every_section_and_runs_nothing_from_the_feeds(opened):
    data, dom, layout, _ = opened
    for section in ("summary", "alerts", "overview", "topic-sentiment", "headlines",
                    "feed-health"):
        assert f'<section id="{section}">' in dom
    assert "<img" not in dom and "<script" not in dom
    assert "<h1>Sentinel news sentiment report</h1>" in dom
    # nothing in the feeds' text ran (it would rename the page)
    title = re.search(r"<title>(Sentinel report, [^<]+ UTC)</title>", dom).group(1)
    assert {layout[f"w{w}"]["title"] for w in WIDTHS} == {title}
    if data == "week":  # hostile titles stay escaped text
        assert title == "Sentinel report, 2026-11-22 12:00 UTC to 2026-11-29 12:00 UTC"
        assert "&lt;script&gt;document.title" in dom


@pytest.mark.parametrize("width", WIDTHS)
def test_every_chart_shows_its_axes_labelled_with_units(opened, width):
    data, _, layout, _ = opened
    charts = layout[f"w{width}"]["charts"]
    alerts = [c["name"] for c in charts if c["name"].startswith("alert-")]
    assert alerts == [f"alert-{i}" for i in range(len(alerts))] and alerts
    assert [c["name"] for c in charts][len(alerts):] == ["overview", "topic_sentiment"]
    if data == "week":
        assert len(alerts) == 2
    for chart in charts:
        assert len(chart["texts"]) == 1, f"{chart['name']}: one drawing shown, not two or none"
        assert chart["axes"], f"{chart['name']} has no axis label"
        missing = [label for label in chart["axes"] if label not in chart["texts"][0]]
        assert not missing, f"{chart['name']} at {width}px does not show {missing}"
        assert 0 < chart["width"] <= width
        if chart["name"] != "topic_sentiment":  # time series: counts per bucket, UTC times
            assert "time (UTC)" in chart["axes"]
            assert any(re.fullmatch(r"negative articles per (hour|day|\d+ hours)", label)
                       for label in chart["axes"]), chart["axes"]
        else:
            assert {"topic", "share negative", "share neutral", "share positive"} <= set(
                chart["axes"])


@pytest.mark.parametrize("width", WIDTHS)
def test_no_horizontal_scroll(opened, width):
    _, _, layout, _ = opened
    page = layout[f"w{width}"]
    assert page["scrollWidth"] <= page["clientWidth"], page["wide"]
    assert page["wide"] == []


@pytest.mark.parametrize("width", WIDTHS)
def test_the_alerts_stories_are_the_first_headlines_shown(opened, width):
    data, _, layout, _ = opened
    headlines = layout[f"w{width}"]["headlines"]
    first = headlines[:5]
    assert len({h["alert"] for h in first}) == 1 and first[0]["alert"] is not None
    assert headlines[-1]["alert"] is None and len(headlines) > 20
    if data == "week":
        assert first[0]["alert"] == "alert-1"  # the open HLVP alert, first panel
        assert [h["title"] for h in first[:3]] == HOSTILE_TITLES
    else:  # the demo's burst
        assert all("Halvorsen" in h["title"] for h in first)


@pytest.mark.parametrize("width", WIDTHS)
def test_screenshot_shows_a_report_not_a_blank_page(opened, width):
    _, _, _, shots = opened
    image = Image.open(shots[width]).convert("RGB")
    assert image.size == (width, 2400)
    colours = image.getcolors(maxcolors=1 << 24)
    assert len(colours) > 500, f"only {len(colours)} colours: the page looks blank"
    reds = sum(n for n, (r, g, b) in colours if r > 150 and g < 120 and b < 110)
    assert reds > 1000, "the negative-volume bars (red) are not visible"
    most = max(n for n, _ in colours)
    assert most < 0.9 * width * 2400, "one colour fills the screenshot"
