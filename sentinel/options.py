"""Settings -> the typed options each stage takes. Built here, and only here.

The stages (``classify.stage``, ``alerts.stage``) never see :class:`Settings`: they take small
frozen option objects, so a test passes exactly the values it means, and a type checker sees
what each stage reads. Entry points (``pipeline``, the CLI, the DAGs) call these builders.
Stage modules are imported inside the builders: importing this module stays cheap.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from sentinel.errors import ConfigError
from sentinel.settings import Settings

if TYPE_CHECKING:
    from sentinel.alerts.lifecycle import AlertConfig
    from sentinel.alerts.outbox import DeliveryOptions
    from sentinel.alerts.slack import BotTransport, LogTransport, WebhookTransport
    from sentinel.alerts.states import Rules
    from sentinel.classify.classifier import ClassifierSpec
    from sentinel.classify.stage import ClassifyOptions
    from sentinel.detect import DetectParams


# --- classify ---------------------------------------------------------------------------------


def classifier_spec(settings: Settings) -> ClassifierSpec:
    """Which models answer which task, on what device and precision."""
    from sentinel.classify.classifier import ClassifierSpec

    return ClassifierSpec(
        model_dir=settings.model_dir,
        sentiment_model=settings.sentiment_model,
        sentiment_labels=settings.sentiment_labels,
        topic_model=settings.topic_model,
        topic_labels=settings.topic_labels,
        device=settings.device,
        precision=settings.precision,
        threads=settings.threads,
        token_budget=settings.token_budget,
        max_length=settings.max_length,
    )


def classify_options(settings: Settings) -> ClassifyOptions:
    from sentinel.classify.stage import ClassifyOptions

    return ClassifyOptions(classifier=classifier_spec(settings), chunk=settings.classify_chunk)


# --- detect and alert -------------------------------------------------------------------------


def detect_params(settings: Settings) -> DetectParams:
    from sentinel.detect import DetectParams

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
    from sentinel.alerts.states import Rules

    return Rules(fire_after_buckets=settings.fire_after_buckets,
                 repeat_interval=timedelta(hours=settings.repeat_interval_hours),
                 resolve_after=timedelta(minutes=settings.resolve_after_buckets
                                         * settings.bucket_minutes))


def alert_config(settings: Settings) -> AlertConfig:
    from sentinel.alerts.lifecycle import AlertConfig

    return AlertConfig(params=detect_params(settings), bucket_minutes=settings.bucket_minutes,
                       judge_partial=settings.judge_partial_bucket,
                       fire_after_buckets=settings.fire_after_buckets,
                       repeat_interval=timedelta(hours=settings.repeat_interval_hours),
                       resolve_after_buckets=settings.resolve_after_buckets,
                       notify_resolved=settings.notify_resolved,
                       top_headlines=settings.top_headlines, channel=channel_label(settings),
                       channel_false_alerts_per_week=settings.channel_false_alerts_per_week)


def delivery_options(settings: Settings) -> DeliveryOptions:
    from sentinel.alerts.outbox import DeliveryOptions

    return DeliveryOptions(max_attempts=settings.delivery_max_attempts,
                           backoff_s=settings.delivery_backoff_s)


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def make_transport(settings: Settings, echo: Callable[[str], None] = _print
                   ) -> BotTransport | WebhookTransport | LogTransport:
    """Slack bot, Slack webhook, or the terminal (``log``, through ``echo``) when Slack is not
    configured; a bot token without a channel is a ConfigError."""
    from sentinel.alerts.slack import BotTransport, LogTransport, WebhookTransport

    channel_label(settings)  # validates the combination
    if settings.slack_bot_token and settings.slack_channel:
        return BotTransport(settings.slack_bot_token.get_secret_value(), settings.slack_channel,
                            settings.slack_base_url, settings.slack_timeout_s)
    if settings.slack_webhook_url:
        return WebhookTransport(settings.slack_webhook_url.get_secret_value(),
                                settings.slack_timeout_s)
    return LogTransport(echo)
