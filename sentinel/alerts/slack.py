"""Slack: a Block Kit message built from an alert's evidence, and the two ways to send it.

* Bot token (``chat.postMessage``): every message carries Slack message metadata
  ``{"event_type": "sentinel_alert", "event_payload": {"delivery_id": ...}}``, so after a crash
  the channel history (``conversations.history`` / ``.replies``, ``include_all_metadata``) tells
  whether a delivery was posted; repeats and resolutions are threaded on the first message.
* Incoming webhook: no metadata and no threads, so a delivery whose outcome is unknown is sent
  again (at least once; see docs/detection.md).

Feed text is untrusted. Headlines go into ``rich_text`` elements, which Slack shows literally
(no mrkdwn, no mentions, links only where we put them, http(s) only); every string that lands in a
mrkdwn text (segment names, the fallback text) is escaped: ``& < >`` as entities (no ``<!channel>``,
``<@U…>`` or ``<http://…|…>``), mrkdwn markers swapped for look-alikes, ``@here``-style words
broken with a zero-width space. The SDK's retry handlers are off: a retried POST could post twice,
so retries belong to the outbox, which checks first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from sentinel.alerts.evidence import (
    _when,
    clean,
    counts_text,
    headline_meta,
    render_text,
    segment_label,
    share_text,
    sparkline,
    window_text,
)

EVENT_TYPE = "sentinel_alert"
# Errors that no retry can fix; the first group is configuration: stop sending this run.
CONFIG_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked",
                 "token_expired", "no_permission", "missing_scope", "channel_not_found",
                 "not_in_channel", "is_archived", "channel_is_archived", "invalid_token",
                 "no_service", "no_team", "team_disabled", "action_prohibited",
                 "team_access_not_granted", "ekm_access_denied", "restricted_action"}
PAYLOAD_ERRORS = {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text",
                  "invalid_metadata_format", "invalid_metadata_schema", "metadata_too_large",
                  "invalid_arguments", "invalid_payload", "too_many_attachments",
                  "invalid_thread_ts", "thread_not_found"}
_LOOKALIKE = str.maketrans({"*": "∗", "_": "＿", "~": "∼", "`": "ˋ", "|": "│"})
_MENTION = re.compile(r"([@#!])(?=\w)")


@dataclass
class Outcome:
    """What one attempt did. ``status``: sent, retry (not posted; try later), unknown (maybe
    posted: check before resending) or dead (never retry)."""

    status: str
    error: str | None = None
    remote_id: str | None = None
    remote_channel: str | None = None
    retry_after: float | None = None
    stop: bool = False  # a configuration error: later deliveries would fail the same way
    message: dict[str, Any] | None = None  # what a sent attempt put out, stored with it


class Transport(Protocol):
    """Where the outbox sends a delivery: Slack (bot or webhook) or the terminal."""

    @property
    def label(self) -> str: ...  # recorded with each delivery: slack-bot:<channel>, ...

    def send(self, delivery_id: int, payload: dict[str, Any], thread: tuple[str, str] | None
             ) -> Outcome: ...


@runtime_checkable
class VerifyingTransport(Transport, Protocol):
    """A transport that can tell afterwards whether a delivery was posted (a bot token can
    search the channel history); the outbox asks it before resending one left in flight."""

    @property
    def channel(self) -> str: ...  # as configured: an id (C0123...) or a #name

    def find(self, delivery_id: int, channel: str, oldest: datetime,
             thread_ts: str | None) -> str | None: ...


def escape_entities(text: str) -> str:
    """``& < >`` as Slack's entities: no ``<!channel>``, ``<@U…>`` or ``<http://…|…>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_mrkdwn(text: Any, limit: int = 300) -> str:
    """Untrusted text made inert inside a Slack mrkdwn (or fallback) text."""
    line = escape_entities(clean(text, limit))
    return _MENTION.sub("\\1\u200b", line.translate(_LOOKALIKE))


def safe_url(url: Any) -> str | None:
    """An http(s) URL without characters that could end a Slack link; else None."""
    if not isinstance(url, str) or len(url) > 2000:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    if re.search(r"[\s<>|\"'`\x00-\x1f\x7f]", url.strip()):
        return None
    return url.strip()


def _headline_blocks(headlines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items = []
    for h in headlines:
        elements: list[dict[str, Any]] = []
        title, url = clean(h["title"], 200), safe_url(h.get("url"))
        elements.append({"type": "link", "url": url, "text": title} if url
                        else {"type": "text", "text": title})
        elements.append({"type": "text", "text": f"  ({headline_meta(h)})"})
        items.append({"type": "rich_text_section", "elements": elements})
    return [{"type": "section", "text": {"type": "mrkdwn", "text": "*Top negative headlines*"}},
            {"type": "rich_text", "elements": [
                {"type": "rich_text_list", "style": "bullet", "elements": items}]}]


def build_message(payload: dict[str, Any], delivery_id: int) -> dict[str, Any]:
    """``text`` (notification fallback) and ``blocks`` for one delivery's payload."""
    label = escape_mrkdwn(segment_label(payload["segment_kind"], payload["segment_value"]), 120)
    plain_label = clean(segment_label(payload["segment_kind"], payload["segment_value"]), 120)
    footer = {"type": "context", "elements": [{"type": "mrkdwn", "text": (
        f"Sentinel · alert {payload['alert_id']} · delivery {delivery_id} · data up to "
        f"{_when(payload['interval_end'])}")}]}
    if payload["kind"] == "resolved":
        text = f"Resolved: negative news in {label} is back to normal"
        header = f":white_check_mark: Resolved: {plain_label}"[:150]
        return {"text": text, "blocks": [
            {"type": "header", "text": {"type": "plain_text", "emoji": True, "text": header}},
            {"type": "section", "text": {"type": "mrkdwn", "text": (
                f"Negative news in *{label}* is back to normal: "
                f"{payload['quiet_buckets']} quiet buckets in a row. Open since "
                f"{_when(payload['started_at'])}; peak *{payload['peak_observed']:g}* negative "
                f"stories vs {payload['peak_expected']:.1f} expected.")}},
            footer]}
    title = "Still firing" if payload["kind"] == "repeat" else "Negative news spike"
    icon = ":warning:" if payload["kind"] == "repeat" else ":rotating_light:"
    fields = [
        {"type": "mrkdwn", "text": f"*Segment*\n{label}"},
        {"type": "mrkdwn", "text": f"*Window*\n{window_text(payload)}"},
        {"type": "mrkdwn", "text": f"*Negative stories*\n{counts_text(payload)}"},
    ]
    share = share_text(payload)
    if share:
        fields.append({"type": "mrkdwn", "text": f"*Negative share*\n{share}"})
    trend = payload["trend"]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                    "text": f"{icon} {title}: {plain_label}"[:150]}},
        {"type": "section", "fields": fields},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"Negative stories per bucket, last {len(trend)}: `{sparkline(trend)}` "
            f"(max {max(trend, default=0):g}, the last one still filling)")}]},
    ]
    if payload["headlines"]:
        blocks += _headline_blocks(payload["headlines"])
    sql = escape_entities(payload["sql"])
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": (
        "*The detail, for analysts* (the same window)\n```" + sql.replace("`", "ˋ") + "```")}})
    blocks.append(footer)
    text = (f"{title}: {label}: {payload['observed']:g} negative stories vs "
            f"{payload['expected']:.1f} expected")
    return {"text": text, "blocks": blocks}


def metadata(delivery_id: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {"event_type": EVENT_TYPE, "event_payload": {
        "delivery_id": delivery_id, "alert_id": payload["alert_id"], "kind": payload["kind"]}}


def _rate_limited(headers: Any) -> Outcome:
    """A 429: not posted; retry after Slack's Retry-After, seconds or an HTTP date (60 s when it
    sends none or an unreadable one)."""
    from sentinel.retry_after import parse_retry_after

    retry = parse_retry_after(headers.get("Retry-After") or headers.get("retry-after"))
    retry = 60.0 if retry is None else retry
    return Outcome("retry", error=f"rate limited (429), retry after {retry:g}s",
                   retry_after=retry)


def _api_error(exc: Exception) -> Outcome:
    """Classify a failed Web API call (SlackApiError or a transport error)."""
    from slack_sdk.errors import SlackApiError

    if not isinstance(exc, SlackApiError):  # timeout, reset, refused: it may have been posted
        return Outcome("unknown", error=f"{type(exc).__name__}: {exc}"[:500])
    response = exc.response
    status = getattr(response, "status_code", None)
    code = response.get("error") if isinstance(getattr(response, "data", None), dict) else None
    if status == 429 or code == "ratelimited":
        return _rate_limited(response.headers)
    if code in CONFIG_ERRORS:
        return Outcome("dead", error=f"{code}: check SENTINEL_SLACK_BOT_TOKEN and "
                       "SENTINEL_SLACK_CHANNEL (the bot must be in the channel)", stop=True)
    if code in PAYLOAD_ERRORS:
        return Outcome("dead", error=f"{code}: Slack refused the message")
    if status and status >= 500 or code in {"internal_error", "fatal_error", "service_unavailable",
                                            "request_timeout"}:
        return Outcome("unknown", error=f"Slack answered {status} {code or ''}".strip())
    return Outcome("retry", error=f"Slack error {status} {code or ''}".strip())


class BotTransport:
    """chat.postMessage with a bot token; can tell afterwards whether a delivery was posted."""

    def __init__(self, token: str, channel: str, base_url: str, timeout: float):
        from slack_sdk import WebClient

        self.channel = channel
        self.label = f"slack-bot:{channel}"
        # slack_sdk annotates timeout as int, but hands it to urllib, which takes seconds as float
        self.client = WebClient(token=token, base_url=base_url,
                                timeout=timeout,  # type: ignore[arg-type]
                                retry_handlers=[])

    def send(self, delivery_id: int, payload: dict[str, Any], thread: tuple[str, str] | None
             ) -> Outcome:
        message = build_message(payload, delivery_id)
        channel, thread_ts = thread if thread else (self.channel, None)
        try:
            response = self.client.chat_postMessage(
                channel=channel, text=message["text"], blocks=message["blocks"],
                metadata=metadata(delivery_id, payload), thread_ts=thread_ts,
                reply_broadcast=True if thread_ts else None, unfurl_links=False,
                unfurl_media=False, parse="none", link_names=False)
        except Exception as exc:  # noqa: BLE001 - every failure is classified and recorded
            return _api_error(exc)
        return Outcome("sent", remote_id=response["ts"], remote_channel=response["channel"],
                       message=message)

    def post_text(self, text: str) -> None:
        """Post a plain text (no outbox, no metadata) to the channel; raises on failure."""
        self.client.chat_postMessage(channel=self.channel, text=text)

    def find(self, delivery_id: int, channel: str, oldest: datetime,
             thread_ts: str | None) -> str | None:
        """The ts of the message carrying this delivery id, or None; raises when Slack cannot
        be asked (the caller keeps the delivery unresolved)."""
        def matches(message: dict[str, Any]) -> bool:
            meta = message.get("metadata") or {}
            return (meta.get("event_type") == EVENT_TYPE
                    and (meta.get("event_payload") or {}).get("delivery_id") == delivery_id)

        since = f"{oldest.timestamp():.6f}"
        calls: list[tuple[str, dict[str, str]]] = [("conversations_history", {})]
        if thread_ts:
            calls.append(("conversations_replies", {"ts": thread_ts}))
        for method, extra in calls:
            cursor = None
            for _page in range(50):
                response = getattr(self.client, method)(
                    channel=channel, oldest=since, include_all_metadata=True, limit=200,
                    cursor=cursor, **extra)
                for message in response.get("messages") or []:
                    if matches(message):
                        return message["ts"]
                cursor = (response.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        return None


class WebhookTransport:
    """An incoming webhook: one channel, no metadata, no threads, no way to check afterwards."""

    label = "slack-webhook"

    def __init__(self, url: str, timeout: float):
        from slack_sdk.webhook import WebhookClient

        # slack_sdk annotates timeout as int, but hands it to urllib, which takes seconds as float
        self.client = WebhookClient(url, timeout=timeout,  # type: ignore[arg-type]
                                    retry_handlers=[])

    def post_text(self, text: str) -> None:
        """Post a plain text to the webhook's channel; raises unless Slack answers 200."""
        response = self.client.send(text=text)
        if response.status_code != 200:
            raise RuntimeError(f"webhook answered HTTP {response.status_code}: {response.body}")

    def send(self, delivery_id: int, payload: dict[str, Any], thread: tuple[str, str] | None
             ) -> Outcome:
        message = build_message(payload, delivery_id)
        try:
            response = self.client.send_dict({**message, "unfurl_links": False,
                                              "unfurl_media": False})
        except Exception as exc:  # noqa: BLE001 - timeouts, resets: maybe posted
            return Outcome("unknown", error=f"{type(exc).__name__}: {exc}"[:500])
        body = (response.body or "").strip()
        if response.status_code == 200:
            return Outcome("sent", message=message)
        if response.status_code == 429:
            return _rate_limited(response.headers)
        if body in CONFIG_ERRORS or response.status_code in (403, 404, 410):
            return Outcome("dead", error=f"{response.status_code} {body}: check "
                           "SENTINEL_SLACK_WEBHOOK_URL", stop=True)
        if body in PAYLOAD_ERRORS or response.status_code == 400:
            return Outcome("dead", error=f"{response.status_code} {body}: Slack refused it")
        if response.status_code >= 500:
            return Outcome("unknown", error=f"Slack answered {response.status_code}")
        return Outcome("retry", error=f"Slack answered {response.status_code} {body}"[:500])


class LogTransport:
    """No Slack configured: the alert is printed (and stored with its delivery)."""

    label = "log"

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo

    def send(self, delivery_id: int, payload: dict[str, Any], thread: tuple[str, str] | None
             ) -> Outcome:
        text = render_text(payload)
        self.echo(text)
        return Outcome("sent", message={"text": text})
