"""The outbox tells the transports apart by the Protocol they meet, not by a flag."""

from __future__ import annotations

from sentinel.alerts.slack import (
    BotTransport,
    LogTransport,
    Transport,
    VerifyingTransport,
    WebhookTransport,
)


def test_only_the_bot_transport_can_check_what_was_posted():
    bot = BotTransport("xoxb-test", "C0123", "http://127.0.0.1:9/api/", 1.0)
    webhook = WebhookTransport("http://127.0.0.1:9/hook", 1.0)
    log = LogTransport(lambda text: None)
    assert isinstance(bot, VerifyingTransport)
    assert not isinstance(webhook, VerifyingTransport)
    assert not isinstance(log, VerifyingTransport)
    transports: list[Transport] = [bot, webhook, log]
    assert [t.label for t in transports] == ["slack-bot:C0123", "slack-webhook", "log"]
