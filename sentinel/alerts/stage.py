"""The detect and notify stages as the pipeline calls them (``sentinel.pipeline``).

``detect_alerts``: one transaction under an advisory lock: bring the active model's rollups up
to date, judge the data interval ending at ``now``, open/keep/resolve alerts and queue their
notifications. ``deliver_notifications``: send what is queued (see ``outbox``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sentinel.alerts import rollup
from sentinel.alerts.lifecycle import AlertConfig, run_lifecycle
from sentinel.alerts.outbox import deliver_pending
from sentinel.alerts.slack import BotTransport, LogTransport, WebhookTransport
from sentinel.alerts.states import Rules
from sentinel.detect import DetectParams
from sentinel.errors import ConfigError, StageSkipped
from sentinel.progress import track
from sentinel.settings import Settings

DETECT_LOCK = 0x5E47_1DE7  # pg_advisory_xact_lock key: one detect run at a time


def detect_params(settings: Settings) -> DetectParams:
    return DetectParams(false_alerts_per_week=settings.false_alerts_per_week,
                        ratio_threshold=settings.ratio_threshold,
                        min_count=settings.min_negative,
                        share_threshold=settings.share_threshold,
                        baseline_days=settings.baseline_days,
                        min_history_buckets=settings.min_history_buckets,
                        model="poisson")


def channel_label(settings: Settings) -> str:
    """Where notifications go: ``slack-bot:<channel>``, ``slack-webhook`` or ``log``."""
    if settings.slack_bot_token:
        if not settings.slack_channel:
            raise ConfigError("SENTINEL_SLACK_BOT_TOKEN is set but SENTINEL_SLACK_CHANNEL is not; "
                              "set it to the alert channel's id (C0123...)")
        return f"slack-bot:{settings.slack_channel}"
    if settings.slack_webhook_url:
        return "slack-webhook"
    return "log"


def alert_rules(settings: Settings) -> Rules:
    """When an alert fires, repeats and resolves (the hold-down in time, not buckets)."""
    return Rules(fire_after_buckets=settings.fire_after_buckets,
                 repeat_interval=timedelta(hours=settings.repeat_interval_hours),
                 resolve_after=timedelta(minutes=settings.resolve_after_buckets
                                         * settings.bucket_minutes))


def alert_config(settings: Settings) -> AlertConfig:
    return AlertConfig(params=detect_params(settings), bucket_minutes=settings.bucket_minutes,
                       judge_partial=settings.judge_partial_bucket,
                       fire_after_buckets=settings.fire_after_buckets,
                       repeat_interval=timedelta(hours=settings.repeat_interval_hours),
                       resolve_after_buckets=settings.resolve_after_buckets,
                       notify_resolved=settings.notify_resolved,
                       top_headlines=settings.top_headlines, channel=channel_label(settings),
                       channel_false_alerts_per_week=settings.channel_false_alerts_per_week)


def _lock_active_model(conn: sa.Connection) -> int:
    """Take the detect lock (until the transaction ends); the active model's id, or skip the
    stage when nothing is classified yet."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": DETECT_LOCK})
    model_id = rollup.active_model_id(conn)
    if model_id is None:
        raise StageSkipped("no active model yet: nothing is classified (run the classify stage)")
    return model_id


def detect_alerts(engine: Engine, settings: Settings, *, now: datetime | None = None) -> dict:
    """Update the rollups, judge the interval ending at ``now``, move alerts, queue messages."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    config = alert_config(settings)
    with engine.begin() as conn:
        model_id = _lock_active_model(conn)
        counts: dict[str, float] = {
            **rollup.update_rollups(conn, model_id, config.bucket_minutes)}
        counts.update(run_lifecycle(conn, model_id, config, now))
    return counts


def rebuild_rollups(engine: Engine, settings: Settings, *, since: datetime,
                    until: datetime) -> dict:
    """Recompute the active model's rollups for every bucket overlapping [since, until)."""
    width = timedelta(minutes=settings.bucket_minutes)
    first = rollup.bucket_floor(since.astimezone(UTC), width)
    starts = []
    while first < until:
        starts.append(first)
        first += width
    # in about a hundred statements (at least a day of buckets each), to show progress
    step = max(timedelta(days=1) // width, -(-len(starts) // 100), 1)
    with engine.begin() as conn, track(len(starts), "rollup rebuild", unit="bucket") as progress:
        model_id = _lock_active_model(conn)
        redone = 0
        for i in range(0, len(starts), step):
            redone += rollup.recompute_buckets(conn, model_id, settings.bucket_minutes,
                                               starts[i:i + step])
            progress.update(len(starts[i:i + step]))
    return {"buckets_recomputed": redone}


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def make_transport(settings: Settings, echo: Callable[[str], None] = _print
                   ) -> BotTransport | WebhookTransport | LogTransport:
    """Slack bot, Slack webhook, or the terminal (``log``) when Slack is not configured."""
    channel_label(settings)  # validates the combination
    if settings.slack_bot_token and settings.slack_channel:
        return BotTransport(settings.slack_bot_token.get_secret_value(), settings.slack_channel,
                            settings.slack_base_url, settings.slack_timeout_s)
    if settings.slack_webhook_url:
        return WebhookTransport(settings.slack_webhook_url.get_secret_value(),
                                settings.slack_timeout_s)
    return LogTransport(echo)


def deliver_notifications(engine: Engine, settings: Settings, *, now: datetime | None = None,
                          echo: Callable[[str], None] = _print) -> dict:
    """Send every due notification (printed when Slack is not configured); never one twice."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return deliver_pending(engine, make_transport(settings, echo), now=now,
                           max_attempts=settings.delivery_max_attempts,
                           backoff_s=settings.delivery_backoff_s)
