"""The DAGs' ``on_failure_callback`` posts through the alerts' Slack transports (against
tests/slackserver.py) and never raises, whatever Slack or the configuration does."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture
def report_failure(monkeypatch: pytest.MonkeyPatch, sentinel_env):
    monkeypatch.syspath_prepend(str(DAGS))
    from sentinel_airflow import report_failure

    from sentinel.settings import get_settings

    def report(**env: str | None) -> None:
        for name, value in env.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        ti = SimpleNamespace(task_id="detect", dag_id="sentinel_pipeline", try_number=4,
                             run_id="scheduled__2026-11-01T00:15:00+00:00")
        report_failure({"ti": ti, "exception": ValueError("expected a < b & c")})

    yield report
    get_settings.cache_clear()


def test_bot_token_posts_to_the_alert_channel_escaped(report_failure, slack_server):
    report_failure()
    (post,) = slack_server.messages
    assert post["channel"] == "C0ALERTS"
    assert "`detect`" in post["text"] and "ValueError: expected a &lt; b &amp; c" in post["text"]


def test_webhook_posts_when_no_bot_token(report_failure, slack_server):
    report_failure(SENTINEL_SLACK_BOT_TOKEN=None, SENTINEL_SLACK_CHANNEL=None,
                   SENTINEL_SLACK_WEBHOOK_URL=slack_server.webhook_url)
    (post,) = slack_server.webhook_posts
    assert "`sentinel_pipeline`" in post["text"] and "&lt; b" in post["text"]
    assert not slack_server.messages


def test_bot_token_without_channel_is_logged_not_sent_elsewhere(report_failure, slack_server,
                                                                caplog):
    with caplog.at_level(logging.ERROR):
        report_failure(SENTINEL_SLACK_CHANNEL=None,
                       SENTINEL_SLACK_WEBHOOK_URL=slack_server.webhook_url)
    assert not slack_server.messages and not slack_server.webhook_posts
    assert "SENTINEL_SLACK_CHANNEL" in caplog.text


def test_slack_errors_are_logged_once_tried_and_never_raised(report_failure, slack_server,
                                                             caplog):
    slack_server.fail("chat.postMessage", "503", times=3)
    with caplog.at_level(logging.ERROR):
        report_failure()
    assert len(slack_server.calls("chat.postMessage")) == 1  # no retried POST
    assert "could not report the failure to Slack" in caplog.text
    slack_server.fail("webhook", "invalid_token")
    report_failure(SENTINEL_SLACK_BOT_TOKEN=None, SENTINEL_SLACK_CHANNEL=None,
                   SENTINEL_SLACK_WEBHOOK_URL=slack_server.webhook_url)
    assert "HTTP 403" in caplog.text


def test_without_slack_it_is_only_logged(report_failure, slack_server, caplog):
    with caplog.at_level(logging.ERROR):
        report_failure(SENTINEL_SLACK_BOT_TOKEN=None, SENTINEL_SLACK_CHANNEL=None)
    assert not slack_server.calls("chat.postMessage") and not slack_server.calls("webhook")
    assert "task `detect` of DAG `sentinel_pipeline` failed on try 4" in caplog.text
