"""One story per alert: the window the message states, the articles the detector counted, the
headlines it quotes and the SQL it hands out are the same set, for every segment kind and for an
alert on the unfinished current bucket. The SQL is run as handed out (and through psql)."""

from __future__ import annotations

import html
import re
import subprocess
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alertkit import World, at, detect

from sentinel.alerts import rollup
from sentinel.alerts.evidence import (
    counts_text,
    render_text,
    run_as_handed_out,
    share_text,
    window_text,
)
from sentinel.alerts.slack import build_message
from sentinel.report.queries import libpq_url
from sentinel.report.render import write_report

KINDS = {"all", "topic", "ticker", "source"}


@pytest.fixture
def world(db):
    w = World(db)
    w.background(at(0), hours=7 * 24 + 4, feeds=("wire", "daily", "burst-wire"))
    return w


def firing_payloads(world) -> dict[str, dict]:
    rows = world.rows("SELECT a.dedup_key, d.payload FROM alert_delivery d JOIN alert a "
                      "ON a.id = d.alert_id WHERE d.kind = 'firing' ORDER BY d.id")
    return {r.dedup_key: r.payload for r in rows}


def run_sql(world, sql: str) -> list:
    with world.engine.connect() as conn:
        return run_as_handed_out(conn, sql)


def ids_in(world, start, end, where: str = "true", **params) -> set[int]:
    """Ground truth from the base tables: articles of a segment published in [start, end)."""
    return {r.id for r in world.rows(
        f"SELECT a.id FROM article a WHERE a.published_at >= :s AND a.published_at < :e "
        f"AND {where}", s=start, e=end, **params)}


def check_one_story(world, payload: dict, counted: tuple[int, int], truth: set[int],
                    negatives: set[int]) -> None:
    """The SQL returns exactly ``truth`` (classified articles of the segment in the window),
    its negative rows are ``negatives``, which the detector counted (``counted``: total,
    negative), and the quoted headlines are its first negative rows."""
    rows = run_sql(world, payload["sql"])
    assert {r["article_id"] for r in rows} == truth
    negative_rows = [r for r in rows if r["sentiment"] == "negative"]
    assert {r["article_id"] for r in negative_rows} == negatives
    assert (len(rows), len(negative_rows)) == counted
    assert payload["observed"] == len(negative_rows) == payload["negative"]
    assert payload["total"] == len(rows) == payload["articles"]
    quoted = [h["article_id"] for h in payload["headlines"]]
    assert quoted == [r["article_id"] for r in negative_rows][:5] and quoted
    # the window is stated in words and in the SQL, in UTC, the same range
    start, end = payload["window_start"], payload["window_end"]
    for when in (start, end):
        stamp = f"'{when[:10]} {when[11:19]}+00'"
        assert stamp in payload["sql"], (stamp, payload["sql"])
    assert f"window: {window_text(payload)}" in render_text(payload)
    fields = " ".join(f["text"] for f in build_message(payload, 1)["blocks"][1]["fields"])
    assert window_text(payload) in fields


def test_every_kind_of_alert_hands_out_the_rows_it_counted(world, settings):
    burst = world.burst(at(7, 0), 12, feeds=("burst-wire",))  # 00:00-01:00: HLVP, Legal
    detect(world.engine, settings, now=at(7, 1, 10))
    payloads = firing_payloads(world)
    keys = {"all": "all", "topic": "topic:Legal", "ticker": "ticker:HLVP",
            "source": "source:burst-wire"}
    assert set(keys.values()) <= set(payloads), sorted(payloads)
    start, end = at(7, 0), at(7, 1)
    hour = ids_in(world, start, end)
    negative = {r.article_id for r in world.rows(
        "SELECT article_id FROM classification WHERE sentiment = 'negative'")}
    truth = {
        "all": hour,
        "topic": ids_in(world, start, end, "EXISTS (SELECT 1 FROM classification c WHERE "
                        "c.article_id = a.id AND c.topic = 'Legal')"),
        "ticker": ids_in(world, start, end, "'HLVP' = ANY(a.tickers)"),
        "source": ids_in(world, start, end, "EXISTS (SELECT 1 FROM article_feed af JOIN feed f "
                         "ON f.id = af.feed_id WHERE af.article_id = a.id AND "
                         "f.name = 'burst-wire')"),
    }
    assert set(burst) <= truth["ticker"] and truth["all"] > truth["source"] >= set(burst)
    with world.engine.connect() as conn:
        rollups = {(r.segment_kind, r.segment_value): (r.total, r.negative) for r in conn.execute(
            sa.text("SELECT * FROM alert_rollup WHERE bucket_start = :b"), {"b": start})}
    for kind, key in keys.items():
        payload = payloads[key]
        assert (payload["window_start"], payload["window_end"]) == (start.isoformat(),
                                                                    end.isoformat())
        assert window_text(payload) == "2026-11-30 00:00 to 01:00 UTC"
        segment = (payload["segment_kind"], payload["segment_value"])
        check_one_story(world, payload, rollups[segment], truth[kind], truth[kind] & negative)


def test_an_alert_on_the_unfinished_bucket_covers_what_was_published_before_now(world,
                                                                                settings):
    burst = world.burst(at(7, 2), 8, minutes=15, feeds=("burst-wire",))  # 02:00-02:15
    now = at(7, 2, 20)  # the background stories at 02:24 and 02:41 come after it
    late = world.burst(at(7, 2, 50), 8, minutes=5, feeds=("burst-wire",))  # already stored
    detect(world.engine, settings, now=now)
    payloads = firing_payloads(world)
    assert {"ticker:HLVP", "topic:Legal", "source:burst-wire"} <= set(payloads)
    with world.engine.connect() as conn:
        model = rollup.active_model_id(conn)
        counted = rollup.count_range(conn, model, at(7, 2), now)  # what the detector judged
    negative = {r.article_id for r in world.rows(
        "SELECT article_id FROM classification WHERE sentiment = 'negative'")}
    for key, payload in payloads.items():
        assert payload["window_end"] == now.isoformat() and payload["fraction"] < 1
        assert window_text(payload) == ("2026-11-30 02:00 to 02:20 UTC "
                                        "(bucket still open: 20 of 60 minutes)")
        segment = (payload["segment_kind"], payload["segment_value"])
        where = {"all": "true", "topic": "EXISTS (SELECT 1 FROM classification c WHERE "
                 "c.article_id = a.id AND c.topic = :v)", "ticker": ":v = ANY(a.tickers)",
                 "source": "EXISTS (SELECT 1 FROM article_feed af JOIN feed f ON "
                 "f.id = af.feed_id WHERE af.article_id = a.id AND f.name = :v)"}[segment[0]]
        truth = ids_in(world, at(7, 2), now, where, v=segment[1])
        assert not truth & set(late), key
        check_one_story(world, payload, counted[segment], truth, truth & negative)
    hlvp = payloads["ticker:HLVP"]
    assert {r["article_id"] for r in run_sql(world, hlvp["sql"])} == set(burst)
    assert hlvp["observed"] == 8 and len(hlvp["headlines"]) == 5


def test_hostile_segment_values_still_select_exactly_their_rows(db, settings, database_url):
    """A feed name with quotes, %, a colon-word, a backslash and a control character: the SQL
    stays printable, runs unchanged from Python and from psql, and matches that feed only."""
    world = World(db)
    name = "O'Brien 100% :wire \\ desk\x07"
    world.background(at(0), hours=7 * 24 + 4, feeds=("wire", name))
    world.burst(at(7, 0), 12, feeds=(name,))
    detect(db, settings, now=at(7, 1, 10))
    payload = firing_payloads(world)[f"source:{name}"]
    assert "\x07" not in payload["sql"] and "U&'O''Brien 100% :wire \\\\ desk\\0007'" in \
        payload["sql"]
    truth = ids_in(world, at(7, 0), at(7, 1), "EXISTS (SELECT 1 FROM article_feed af JOIN feed f "
                   "ON f.id = af.feed_id WHERE af.article_id = a.id AND f.name = :v)", v=name)
    assert {r["article_id"] for r in run_sql(world, payload["sql"])} == truth
    assert len(truth) > 12
    from test_queries import find_psql

    psql = find_psql()
    if psql is None:
        pytest.skip("psql not found (install postgresql-client)")
    done = subprocess.run([psql, libpq_url(database_url), "-X", "-q", "-t", "-A",
                           "-v", "ON_ERROR_STOP=1", "-c", payload["sql"]],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert {int(line.split("|")[0]) for line in done.stdout.splitlines() if line} == truth


def test_a_repeat_states_its_own_window(world, settings):
    for hour in range(5):
        world.burst(at(7, hour), 10, feeds=("burst-wire",))
    for hour in range(1, 6):
        detect(world.engine, settings, now=at(7, hour, 5))
    rows = world.rows("SELECT d.kind, d.payload FROM alert_delivery d JOIN alert a ON "
                      "a.id = d.alert_id WHERE a.dedup_key = 'ticker:HLVP' ORDER BY d.id")
    repeat = next(r.payload for r in rows if r.kind == "repeat")
    start = repeat["window_start"]
    truth = ids_in(world, start, repeat["window_end"], "'HLVP' = ANY(a.tickers)")
    assert {r["article_id"] for r in run_sql(world, repeat["sql"])} == truth
    assert len(truth) == repeat["observed"] == 10
    assert timedelta(hours=1) == (
        at(7, 0).fromisoformat(repeat["window_end"]) - at(7, 0).fromisoformat(start))


def test_the_slack_message_the_printed_alert_and_the_report_tell_the_same_story(world, settings,
                                                                               tmp_path):
    burst = world.burst(at(7, 0), 12, feeds=("burst-wire",))
    now = at(7, 1, 10)
    detect(world.engine, settings, now=now)
    alert_id, payload = world.rows(
        "SELECT a.id, d.payload FROM alert_delivery d JOIN alert a ON a.id = d.alert_id "
        "WHERE a.dedup_key = 'ticker:HLVP'")[0]
    slack = build_message(payload, 7)
    printed = render_text(payload)
    page = write_report(world.engine, now - timedelta(days=7), now, tmp_path).html_path.read_text(
        encoding="utf-8")
    panel = re.search(rf'<article class="alert" id="alert-{alert_id}">(.*?)</article>', page,
                      re.S).group(1)
    fields = "\n".join(f["text"] for f in slack["blocks"][1]["fields"])
    for phrase in (window_text(payload), counts_text(payload), share_text(payload)):
        assert phrase and phrase in fields and phrase in printed, phrase
        assert html.escape(phrase) in panel, phrase
    assert "2026-11-30 00:00 to 01:00 UTC" in panel and "12 negative stories observed" in panel
    # the same headlines, in the same order, with the same links and the same details
    items = next(b for b in slack["blocks"] if b["type"] == "rich_text")["elements"][0]["elements"]
    in_slack = [(i["elements"][0]["text"], i["elements"][0]["url"],
                 i["elements"][1]["text"].strip()[1:-1]) for i in items]
    found = re.findall(r'<li><a href="([^"]+)"[^>]*>([^<]*)</a><div class="meta">([^<]*)</div>'
                       r"</li>", panel)
    in_report = [tuple(html.unescape(v) for v in (title, url, meta)) for url, title, meta in found]
    assert in_slack == in_report and len(in_report) == 5
    assert {h["article_id"] for h in payload["headlines"]} <= set(burst)
    for title, url, meta in in_slack:
        assert f"    - {title} ({meta}) {url}" in printed
    # the same SQL, handed out by all three
    sql_in_slack = next(b["text"]["text"] for b in slack["blocks"] if "analysts" in b.get(
        "text", {}).get("text", ""))
    assert html.unescape(sql_in_slack.split("```")[1]) == payload["sql"]
    assert html.unescape(re.search(r'<pre class="sql">(.*?)</pre>', panel, re.S).group(1)) == \
        payload["sql"]
    assert "\n".join(f"    {line}" for line in payload["sql"].splitlines()) in printed
    # the report's first headlines are the alert's
    first = re.findall(r'<ol class="headlines"><li><a href="([^"]+)"', page)[0]
    assert html.unescape(first) == in_slack[0][1]
