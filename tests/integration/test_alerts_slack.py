"""Slack delivery through a real HTTP server speaking Slack's Web API and webhook shapes:
payloads and escaping, threading, and every failure injected — 5xx, 429 with Retry-After,
timeouts, invalid_auth, channel_not_found, a crash between sending and recording — with 0 lost
and 0 duplicated notifications (bot token), and the webhook's at-least-once limit."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alertkit import World, at, detect
from pydantic import SecretStr
from slackserver import SlackServer

from sentinel.alerts import outbox
from sentinel.alerts.stage import deliver_notifications
from sentinel.options import delivery_options, make_transport
from sentinel.status import collect_status

NOW = at(7, 1, 10)
LATER = NOW + timedelta(hours=2)  # past every backoff and Retry-After used here


@pytest.fixture
def slack():
    with SlackServer() as server:
        yield server


@pytest.fixture
def queued(db, settings):
    """A week of news, then a burst: several alerts fire, their notifications are queued."""
    world = World(db)
    world.background(at(0), hours=7 * 24)
    world.burst(at(7, 0), 12)
    counts = detect(db, settings, now=NOW)
    assert counts["queued"] >= 3
    return world


def bot(settings, slack, **extra):
    return settings.model_copy(update={
        "slack_bot_token": SecretStr(slack.state.token), "slack_channel": "C0ALERTS",
        "slack_base_url": slack.base_url, "slack_timeout_s": 0.5, **extra})


def webhook(settings, slack):
    return settings.model_copy(update={"slack_webhook_url": SecretStr(slack.webhook_url),
                                       "slack_timeout_s": 0.5})


def deliver(db, settings, **when):
    """The notify stage as the pipeline runs it, configured by ``settings``."""
    return deliver_notifications(db, make_transport(settings), delivery_options(settings), **when)


def deliveries(db):
    with db.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM alert_delivery ORDER BY id")).all()


def assert_each_posted_once(db, slack):
    """0 lost, 0 duplicated: every delivery sent, each exactly once, recorded with its ts."""
    rows = deliveries(db)
    assert [r.status for r in rows] == ["sent"] * len(rows), [(r.id, r.status, r.last_error)
                                                              for r in rows]
    posted = Counter(slack.delivery_ids())
    assert posted == Counter({r.id: 1 for r in rows})
    by_id = {m["metadata"]["event_payload"]["delivery_id"]: m for m in slack.messages}
    assert {r.id: r.remote_id for r in rows} == {i: m["ts"] for i, m in by_id.items()}


def test_bot_token_posts_each_alert_once_with_an_actionable_message(queued, db, settings, slack):
    counts = deliver(db, bot(settings, slack), now=NOW)
    assert counts["sent"] == len(deliveries(db))
    assert_each_posted_once(db, slack)
    hlvp = next(m for m in slack.messages if "ticker HLVP" in m["text"])
    request = hlvp["request"]
    assert request["unfurl_links"] is False and request["parse"] == "none"
    assert request["metadata"]["event_type"] == "sentinel_alert"
    blocks = hlvp["blocks"]
    assert blocks[0]["type"] == "header" and "ticker HLVP" in blocks[0]["text"]["text"]
    fields = " ".join(f["text"] for f in blocks[1]["fields"])
    assert "12 negative stories observed vs" in fields and "Negative share" in fields
    assert "*Window*\n2026-11-30 00:00 to 01:00 UTC" in fields
    assert "`" in blocks[2]["elements"][0]["text"]  # the sparkline
    items = next(b for b in blocks if b["type"] == "rich_text")["elements"][0]["elements"]
    assert len(items) == 5
    link = items[0]["elements"][0]
    assert link["type"] == "link" and link["url"].startswith("https://news.example.com/")
    assert link["text"].startswith("Regulators probe Halvorsen")
    assert "(wire, 00:" in items[0]["elements"][1]["text"] or "(daily, 00:" in items[0][
        "elements"][1]["text"]
    sql = next(b["text"]["text"] for b in blocks if "analysts" in b.get("text", {}).get("text", ""))
    assert "FROM v_article_current" in sql and "tickers @&gt; ARRAY['HLVP']" in sql
    # stored with the delivery, as sent
    stored = next(r for r in deliveries(db) if r.remote_id == hlvp["ts"])
    assert stored.payload["message"]["blocks"] == blocks and stored.channel == "slack-bot:C0ALERTS"
    # nothing new on a second run, nor after detecting the same interval again
    detect(db, settings, now=NOW)
    assert deliver(db, bot(settings, slack), now=NOW)["sent"] == 0
    assert_each_posted_once(db, slack)


def test_resolved_and_repeat_messages_are_threaded_on_the_first(db, settings, slack):
    world = World(db)
    world.background(at(0), hours=7 * 24)
    for hour in range(5):
        world.burst(at(7, hour), 10)
    config = bot(settings, slack)
    for hour in range(1, 9):
        detect(db, settings, now=at(7, hour, 5))
        deliver(db, config, now=at(7, hour, 5))
    assert_each_posted_once(db, slack)
    thread = [m for m in slack.messages if "ticker HLVP" in m["text"]]
    first, *rest = thread
    assert [json.loads(json.dumps(m["metadata"]))["event_payload"]["kind"] for m in thread] == [
        "firing", "repeat", "resolved"]
    assert first["thread_ts"] is None
    assert all(m["thread_ts"] == first["ts"] and m["reply_broadcast"] for m in rest)
    assert rest[-1]["blocks"][0]["text"]["text"].startswith(":white_check_mark: Resolved")


EVIL = [
    ("<!channel> SELL EVERYTHING <!here> <!everyone>", "https://evil.example/a"),
    ("@here @channel *URGENT* _now_ ~gone~ `code` > quoted", "https://evil.example/b"),
    ("Read <http://evil.example/phish|the official statement> & <@U123> now",
     "javascript:alert(1)"),
    ("Bidi \u202etxet\u202c and control \x07 chars", "https://evil.example/c d|x>"),
]


def mrkdwn_texts(value):
    """Every string Slack parses as mrkdwn in a message: top-level text, mrkdwn objects."""
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            yield value["text"]
        for key, item in value.items():
            if key != "text" or not isinstance(item, str):
                yield from mrkdwn_texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from mrkdwn_texts(item)


def test_feed_text_cannot_mention_link_or_format(db, settings, slack):
    world = World(db)
    world.background(at(0), hours=7 * 24)
    world.articles({"published_at": at(7, 0, 5 * i), "title": title, "url": url,
                    "sentiment": "negative", "p_negative": 0.999 - i / 100,
                    "tickers": ["HLVP"], "topic": "<!here> *topic*",
                    "feeds": ["<!channel> wire"]} for i, (title, url) in enumerate(EVIL * 2))
    detect(db, settings, now=NOW)
    deliver(db, bot(settings, slack), now=NOW)
    assert slack.messages
    for message in slack.messages:
        texts = [message["text"], *mrkdwn_texts(message["blocks"])]
        for text in texts:
            assert "<!" not in text and "<@" not in text and "<http" not in text, text
            assert "@here" not in text and "@channel" not in text, text
        for block in message["blocks"]:
            if block["type"] != "rich_text":
                continue
            for item in block["elements"][0]["elements"]:
                first = item["elements"][0]
                title = first["text"]
                assert "\u202e" not in title and "\x07" not in title
                if first["type"] == "link":
                    assert first["url"].startswith("https://evil.example/")
                    assert first["url"] in {"https://evil.example/a", "https://evil.example/b"}
                else:  # an unsafe URL is dropped, the title stays literal text
                    assert first["type"] == "text"
    topic = next(m for m in slack.messages if "topic" in m["text"])
    assert "&lt;!\u200bhere&gt;" in topic["text"] and "∗topic∗" in topic["text"]
    headlines = [e["elements"][0]["text"] for m in slack.messages for b in m["blocks"]
                 if b["type"] == "rich_text" for e in b["elements"][0]["elements"]]
    assert "<!channel> SELL EVERYTHING <!here> <!everyone>" in headlines  # literal, inert


@pytest.mark.parametrize("fault", ["500", "503", "429", "slow_store", "slow_drop",
                                   "drop_after_store"])
def test_transient_failures_are_retried_later_without_duplicates(queued, db, settings, slack,
                                                                 fault):
    slack.fail("chat.postMessage", fault, retry_after=600)
    config = bot(settings, slack)
    counts = deliver(db, config, now=NOW)
    first = deliveries(db)[0]
    assert first.attempts == 1 and first.last_error
    expected = {"429": "failed"}.get(fault, "in_flight")  # unknown outcomes stay in flight
    assert first.status == expected, first.last_error
    assert counts["sent"] == len(deliveries(db)) - 1  # the others went out
    if fault == "429":
        assert "retry after 600s" in first.last_error
        assert first.next_attempt_at >= NOW + timedelta(seconds=600)
        deliver(db, config, now=NOW + timedelta(seconds=300))
        assert deliveries(db)[0].status == "failed"  # Retry-After respected
    deliver(db, config, now=LATER)
    assert_each_posted_once(db, slack)
    retried = deliveries(db)[0]
    posted_first = fault in ("slow_store", "drop_after_store")
    assert retried.attempts == 1 if posted_first else 2  # found in the history: not resent


@pytest.mark.parametrize("fault", ["invalid_auth", "channel_not_found"])
def test_permanent_errors_stop_retrying_and_show_in_status(queued, db, settings, slack, fault):
    slack.fail("chat.postMessage", fault)
    config = bot(settings, slack)
    deliver(db, config, now=NOW)
    rows = deliveries(db)
    assert rows[0].status == "dead" and fault in rows[0].last_error
    assert {r.status for r in rows[1:]} == {"pending"}  # the run stopped: same error for all
    with db.connect() as conn:
        status = collect_status(conn)
    assert [d["id"] for d in status.failed_deliveries] == [rows[0].id]
    deliver(db, config, now=LATER)  # fixed meanwhile: the rest go out
    rows = deliveries(db)
    assert rows[0].status == "dead" and rows[0].attempts == 1
    assert {r.status for r in rows[1:]} == {"sent"}
    assert sorted(slack.delivery_ids()) == [r.id for r in rows[1:]]


def test_wrong_token_and_unknown_channel_are_permanent(queued, db, settings, slack):
    deliver(db, bot(settings, slack, slack_bot_token=SecretStr("xoxb-wrong")),
                          now=NOW)
    assert "invalid_auth" in deliveries(db)[0].last_error
    deliver(db, bot(settings, slack, slack_channel="#nowhere"), now=NOW)
    assert "channel_not_found" in deliveries(db)[1].last_error
    assert not slack.messages


class SimulatedCrash(BaseException):
    """The process dies: nothing after it runs (not an Exception: nobody catches it)."""


def test_crash_between_send_and_record_is_reconciled_from_the_history(queued, db, settings,
                                                                       slack, monkeypatch):
    real = outbox._record_outcome

    def crash(*args, **kwargs):
        raise SimulatedCrash

    monkeypatch.setattr(outbox, "_record_outcome", crash)
    with pytest.raises(SimulatedCrash):
        deliver(db, bot(settings, slack), now=NOW)
    first = deliveries(db)[0]
    assert first.status == "in_flight" and len(slack.messages) == 1  # posted, not recorded
    for _ in range(450):  # chatter in the channel since: the lookup pages through it
        slack.state.messages.append({**slack.messages[0], "ts": slack.state.next_ts(),
                                     "metadata": None, "text": "chatter"})
    monkeypatch.setattr(outbox, "_record_outcome", real)
    counts = deliver(db, bot(settings, slack), now=NOW)
    assert counts["reconciled"] == 1
    slack.state.messages[:] = [m for m in slack.messages if m["text"] != "chatter"]
    assert_each_posted_once(db, slack)
    assert deliveries(db)[0].attempts == 1
    assert slack.calls("conversations.history")


def test_crash_after_claiming_but_before_sending_sends_once(queued, db, settings, slack,
                                                            monkeypatch):
    from sentinel.alerts import slack as slack_module

    def die(*args, **kwargs):
        raise SimulatedCrash

    monkeypatch.setattr(slack_module.BotTransport, "send", die)
    with pytest.raises(SimulatedCrash):
        deliver(db, bot(settings, slack), now=NOW)
    assert deliveries(db)[0].status == "in_flight" and not slack.messages
    monkeypatch.undo()
    deliver(db, bot(settings, slack), now=NOW)
    assert_each_posted_once(db, slack)


def test_history_lookup_failure_keeps_it_in_flight_until_slack_answers(queued, db, settings,
                                                                        slack):
    slack.fail("chat.postMessage", "drop_after_store")
    config = bot(settings, slack)
    deliver(db, config, now=NOW)
    slack.fail("conversations.history", "503")
    deliver(db, config, now=LATER)
    first = deliveries(db)[0]
    assert first.status == "in_flight" and "history lookup failed" in first.last_error
    with db.connect() as conn:  # shown as undelivered while unsure
        assert [d["id"] for d in collect_status(conn).failed_deliveries] == [first.id]
    deliver(db, config, now=LATER + timedelta(hours=2))
    assert_each_posted_once(db, slack)


def test_webhook_posts_and_retries(queued, db, settings, slack):
    config = webhook(settings, slack)
    slack.fail("webhook", "500")
    slack.fail("webhook", "429", retry_after=120)
    deliver(db, config, now=NOW)
    rows = deliveries(db)
    assert (rows[0].status, rows[1].status) == ("in_flight", "failed")
    deliver(db, config, now=LATER)
    rows = deliveries(db)
    assert {r.status for r in rows} == {"sent"} and all(r.channel == "slack-webhook" for r in rows)
    assert len(slack.webhook_posts) == len(rows)  # 0 lost, 0 duplicated for these failures
    post = slack.webhook_posts[0]
    assert post["blocks"][0]["type"] == "header" and post["unfurl_links"] is False
    assert "metadata" not in post and "thread_ts" not in post


def test_webhook_permanent_error_is_dead(queued, db, settings, slack):
    slack.fail("webhook", "invalid_token")
    deliver(db, webhook(settings, slack), now=NOW)
    assert deliveries(db)[0].status == "dead" and "403" in deliveries(db)[0].last_error


def test_webhook_crash_after_posting_is_at_least_once(queued, db, settings, slack):
    """A webhook cannot be asked whether a message arrived: the one whose answer was lost is
    sent again (docs/detection.md says so). Nothing is lost; that one may arrive twice."""
    slack.fail("webhook", "drop_after_store")
    config = webhook(settings, slack)
    deliver(db, config, now=NOW)
    deliver(db, config, now=LATER)
    rows = deliveries(db)
    assert {r.status for r in rows} == {"sent"}
    assert len(slack.webhook_posts) == len(rows) + 1


def test_without_slack_alerts_are_printed_and_stored(queued, db, settings, capsys):
    counts = deliver(db, settings, now=NOW)
    printed = capsys.readouterr().out
    rows = deliveries(db)
    assert counts["sent"] == len(rows)
    assert printed.count("ALERT: negative news spike") == len(rows)
    assert "ticker HLVP" in printed and "Regulators probe Halvorsen" in printed
    assert "FROM v_article_current" in printed
    assert {r.channel for r in rows} == {"log"} and all(
        r.payload["message"]["text"] in printed for r in rows)
    assert deliver(db, settings, now=NOW)["sent"] == 0
    assert capsys.readouterr().out == ""


def test_bot_token_without_a_channel_is_a_configuration_error(queued, db, settings):
    from sentinel.errors import ConfigError

    broken = settings.model_copy(update={"slack_bot_token": SecretStr("xoxb-x")})
    with pytest.raises(ConfigError, match="SENTINEL_SLACK_CHANNEL"):
        deliver(db, broken, now=NOW)


def test_post_text_uses_the_alert_transports_without_retrying(settings, slack):
    """What the DAGs' failure callback posts: the configured channel, one try, errors raised."""
    from slack_sdk.errors import SlackApiError


    make_transport(bot(settings, slack)).post_text("task `x` failed: a &lt; b")
    (post,) = slack.messages
    assert (post["channel"], post["text"]) == ("C0ALERTS", "task `x` failed: a &lt; b")
    slack.fail("chat.postMessage", "500")
    with pytest.raises(SlackApiError, match="Service unavailable"):
        make_transport(bot(settings, slack)).post_text("again")
    assert len(slack.calls("chat.postMessage")) == 2  # the SDK's retry handlers are off

    make_transport(webhook(settings, slack)).post_text("hook")
    assert [p["text"] for p in slack.webhook_posts] == ["hook"]
    slack.fail("webhook", "503")
    with pytest.raises(RuntimeError, match="HTTP 503"):
        make_transport(webhook(settings, slack)).post_text("hook again")
    assert len(slack.calls("webhook")) == 2


@pytest.mark.parametrize("transport", ["bot", "webhook"])
def test_a_429_with_an_http_date_retry_after_is_waited_for(queued, db, settings, slack,
                                                          transport):
    """RFC 9110 allows Retry-After as a date: it is a retry like the seconds form, and the other
    deliveries of the run still go out (it used to crash the stage)."""
    import time
    from email.utils import formatdate

    endpoint = "chat.postMessage" if transport == "bot" else "webhook"
    slack.fail(endpoint, "429", retry_after=formatdate(time.time() + 600, usegmt=True))
    config = bot(settings, slack) if transport == "bot" else webhook(settings, slack)
    counts = deliver(db, config, now=NOW)
    first = deliveries(db)[0]
    assert first.status == "failed" and "rate limited (429), retry after" in first.last_error
    assert first.next_attempt_at >= NOW + timedelta(seconds=590)
    assert counts["sent"] == len(deliveries(db)) - 1  # the others went out
    deliver(db, config, now=LATER)
    assert {r.status for r in deliveries(db)} == {"sent"}


def test_undelivered_notifications_make_the_notify_stage_partial(queued, db, settings, slack):
    """The failure contract: a dead notification is `notify: partial` in the summary line and
    in pipeline_run (the CLI's exit 3); once the rest go out, the stage is ok again."""
    from sentinel.pipeline import run_notify

    slack.fail("chat.postMessage", "invalid_auth")
    config = bot(settings, slack)
    result = run_notify(db, config, now=NOW)
    assert result.status == "partial", result.line()
    assert result.line().startswith("notify: partial ") and "1 dead" in result.line()
    again = run_notify(db, config, now=LATER)  # fixed meanwhile: the rest go out
    assert again.status == "ok" and again.counts["sent"] >= 2, again.line()
    with db.connect() as conn:
        rows = conn.execute(sa.text("SELECT status, error FROM pipeline_run ORDER BY id")).all()
    assert [r.status for r in rows] == ["partial", "ok"]
    assert "notifications not delivered" in rows[0].error
