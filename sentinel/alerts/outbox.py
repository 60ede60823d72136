"""The delivery outbox: every notification is an ``alert_delivery`` row, sent at most once.

A row moves ``pending -> in_flight -> sent``; ``in_flight`` is committed *before* the request
goes out, so a process that dies between sending and recording leaves it ``in_flight``. A row
found ``in_flight`` (a crash, or an attempt whose outcome is unknown: a timeout, a reset, a 5xx)
is reconciled before anything is resent: with a bot token by looking for its delivery id in the
channel history's message metadata (found: recorded as sent; not found: sent now); a webhook
cannot be asked, so it is sent again (at least once). Failures that were certainly not posted
(429, other errors) become ``failed`` and are retried on later runs with exponential backoff (a
429's Retry-After respected); permanent errors (``invalid_auth``, ``channel_not_found``, a
refused payload) become ``dead`` and show in ``sentinel status``; after a configuration error the
run stops, since every other message would fail the same way. One notifier runs at a time
(advisory lock); within an alert, a delivery waits for the ones queued before it, so a
resolution is never posted before (or unthreaded from) the alert it resolves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sentinel.alerts.slack import Outcome, Transport, VerifyingTransport

NOTIFY_LOCK = 0x5E47_0B0C
MAX_BACKOFF = timedelta(hours=1)
SEARCH_MARGIN = timedelta(minutes=5)  # clock skew allowance when searching the history
OPEN = ("pending", "failed", "in_flight")


@dataclass(frozen=True)
class DeliveryOptions:
    max_attempts: int = 12  # attempts per notification before it is marked dead
    backoff_s: float = 60.0  # first retry delay; doubles per attempt up to MAX_BACKOFF


def backoff(attempts: int, base_s: float, retry_after: float | None = None) -> timedelta:
    delay = min(timedelta(seconds=base_s * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)
    return max(delay, timedelta(seconds=retry_after or 0))


def _due(conn: sa.Connection, now: datetime) -> list[int]:
    return list(conn.scalars(sa.text(
        "SELECT id FROM alert_delivery WHERE status = ANY(:open) "
        "AND (next_attempt_at IS NULL OR next_attempt_at <= :now) ORDER BY id"),
        {"now": now, "open": list(OPEN)}))


def _waits_for_earlier(conn: sa.Connection, row: Any) -> bool:
    return bool(conn.scalar(sa.text(
        "SELECT count(*) FROM alert_delivery WHERE alert_id = :a AND id < :i "
        "AND status = ANY(:open)"), {"a": row.alert_id, "i": row.id, "open": list(OPEN)}))


def _thread(conn: sa.Connection, row: Any) -> tuple[str, str] | None:
    """(channel, ts) of the alert's first message, to thread follow-ups on."""
    if row.kind == "firing":
        return None
    first = conn.execute(sa.text(
        "SELECT remote_channel, remote_id FROM alert_delivery WHERE alert_id = :a "
        "AND kind = 'firing' AND status = 'sent' AND remote_id IS NOT NULL "
        "ORDER BY id LIMIT 1"), {"a": row.alert_id}).first()
    return (first.remote_channel, first.remote_id) if first else None


def _channel_id(conn: sa.Connection, row: Any, transport: VerifyingTransport) -> str | None:
    """A channel id to search (history lookups need the id, not a #name)."""
    if row.remote_channel:
        return row.remote_channel
    configured = transport.channel
    if configured and configured[:1] in "CGD" and configured.isalnum() and configured.isupper():
        return configured
    return conn.scalar(sa.text(
        "SELECT remote_channel FROM alert_delivery WHERE channel = :c AND status = 'sent' AND "
        "remote_channel IS NOT NULL ORDER BY sent_at DESC LIMIT 1"), {"c": transport.label})


def _record_outcome(engine: Engine, delivery_id: int, outcome: Outcome, *, now: datetime,
                    max_attempts: int, backoff_s: float) -> str:
    """Write what an attempt did; returns the delivery's new status."""
    with engine.begin() as conn:
        attempts = conn.scalar(sa.text("SELECT attempts FROM alert_delivery WHERE id = :i "
                                       "FOR UPDATE"), {"i": delivery_id})
        if outcome.status == "sent":
            conn.execute(sa.text(
                "UPDATE alert_delivery SET status = 'sent', sent_at = clock_timestamp(), "
                "remote_id = :rid, remote_channel = coalesce(:rch, remote_channel), "
                "next_attempt_at = NULL, payload = payload || CAST(:msg AS jsonb) "
                "WHERE id = :i"),
                {"i": delivery_id, "rid": outcome.remote_id, "rch": outcome.remote_channel,
                 "msg": _json({"message": outcome.message} if outcome.message else {})})
            return "sent"
        status = {"retry": "failed", "unknown": "in_flight", "dead": "dead"}[outcome.status]
        error = outcome.error
        if status != "dead" and attempts >= max_attempts:
            status, error = "dead", f"gave up after {attempts} attempts: {outcome.error}"
        conn.execute(sa.text(
            "UPDATE alert_delivery SET status = :s, last_error = :e, next_attempt_at = :n "
            "WHERE id = :i"),
            {"i": delivery_id, "s": status, "e": error,
             "n": None if status == "dead" else now + backoff(attempts, backoff_s,
                                                               outcome.retry_after)})
        return status


def _json(value: Any) -> str:
    return json.dumps(value, default=str)


def _reconcile(engine: Engine, row: Any, transport: Transport, **record: Any) -> str | None:
    """For a delivery left in flight: its final status when settled here, else None (send)."""
    if not isinstance(transport, VerifyingTransport):
        return None  # a webhook (or the terminal) cannot be asked: send again
    with engine.connect() as conn:
        channel = _channel_id(conn, row, transport)
    if channel is None:
        return _record_outcome(engine, row.id, Outcome(
            "unknown", error="cannot check whether it was posted: set SENTINEL_SLACK_CHANNEL "
            "to the channel id (C0123...)"), **record)
    oldest = (row.last_attempt_at or row.created_at) - SEARCH_MARGIN
    try:
        ts = transport.find(row.id, channel, oldest, row.thread_ts)
    except Exception as exc:  # noqa: BLE001 - Slack unreachable: keep it in flight, retry later
        return _record_outcome(engine, row.id, Outcome(
            "unknown", error=f"history lookup failed: {type(exc).__name__}: {exc}"[:500]),
            **record)
    if ts is None:
        return None
    return _record_outcome(engine, row.id, Outcome("sent", remote_id=ts, remote_channel=channel),
                           **record)


def deliver_pending(engine: Engine, transport: Transport, *, now: datetime, max_attempts: int,
                    backoff_s: float) -> dict[str, int]:
    """Send every due delivery once; returns counts by outcome."""
    counts = {"sent": 0, "reconciled": 0, "failed": 0, "unknown": 0, "dead": 0, "waiting": 0}
    record: dict[str, Any] = {"now": now, "max_attempts": max_attempts, "backoff_s": backoff_s}
    with engine.connect() as lock:
        if not lock.scalar(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": NOTIFY_LOCK}):
            return {**counts, "busy": 1}
        lock.commit()
        try:
            with engine.connect() as conn:
                due = _due(conn, now)
            for delivery_id in due:
                with engine.connect() as conn:
                    row = conn.execute(sa.text("SELECT * FROM alert_delivery WHERE id = :i"),
                                       {"i": delivery_id}).first()
                    if row is None or row.status not in OPEN:
                        continue
                    if _waits_for_earlier(conn, row):
                        counts["waiting"] += 1
                        continue
                    thread = _thread(conn, row)
                if row.status == "in_flight":
                    settled = _reconcile(engine, row, transport, **record)
                    if settled is not None:
                        counts["reconciled" if settled == "sent" else
                               "unknown" if settled == "in_flight" else settled] += 1
                        continue
                with engine.begin() as conn:  # claim: committed before anything is sent
                    conn.execute(sa.text(
                        "UPDATE alert_delivery SET status = 'in_flight', attempts = attempts + 1, "
                        "last_attempt_at = clock_timestamp(), channel = :c, thread_ts = :t "
                        "WHERE id = :i"),
                        {"i": delivery_id, "c": transport.label,
                         "t": thread[1] if thread else None})
                outcome = transport.send(delivery_id, row.payload, thread)
                status = _record_outcome(engine, delivery_id, outcome, **record)
                counts[{"in_flight": "unknown"}.get(status, status)] += 1
                if outcome.stop:
                    break
        finally:
            lock.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": NOTIFY_LOCK})
            lock.commit()
    return counts
