"""The detect and notify stages as the pipeline calls them (``sentinel.pipeline``).

``detect_alerts``: one transaction under an advisory lock: bring the active model's rollups up
to date, judge the data interval ending at ``now``, open/keep/resolve alerts and queue their
notifications. ``deliver_notifications``: send what is queued (see ``outbox``). Both take
typed options (``sentinel.options`` builds them from the settings).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sentinel.alerts import rollup
from sentinel.alerts.lifecycle import AlertConfig, run_lifecycle
from sentinel.alerts.outbox import DeliveryOptions, deliver_pending
from sentinel.alerts.slack import Transport
from sentinel.errors import StageSkipped
from sentinel.progress import track

DETECT_LOCK = 0x5E47_1DE7  # pg_advisory_xact_lock key: one detect run at a time


def _lock_active_model(conn: sa.Connection) -> int:
    """Take the detect lock (until the transaction ends); the active model's id, or skip the
    stage when nothing is classified yet."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": DETECT_LOCK})
    model_id = rollup.active_model_id(conn)
    if model_id is None:
        raise StageSkipped("no active model yet: nothing is classified (run the classify stage)")
    return model_id


def detect_alerts(engine: Engine, config: AlertConfig, *, now: datetime | None = None
                  ) -> dict[str, float]:
    """Update the rollups, judge the interval ending at ``now``, move alerts, queue messages."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    with engine.begin() as conn:
        model_id = _lock_active_model(conn)
        counts: dict[str, float] = {
            **rollup.update_rollups(conn, model_id, config.bucket_minutes)}
        counts.update(run_lifecycle(conn, model_id, config, now))
    return counts


def rebuild_rollups(engine: Engine, bucket_minutes: int, *, since: datetime,
                    until: datetime) -> dict[str, int]:
    """Recompute the active model's rollups for every ``bucket_minutes`` bucket overlapping
    [since, until)."""
    width = timedelta(minutes=bucket_minutes)
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
            redone += rollup.recompute_buckets(conn, model_id, bucket_minutes,
                                               starts[i:i + step])
            progress.update(len(starts[i:i + step]))
    return {"buckets_recomputed": redone}


def deliver_notifications(engine: Engine, transport: Transport, delivery: DeliveryOptions, *,
                          now: datetime | None = None) -> dict[str, int]:
    """Send every due notification through ``transport``; never one twice."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return deliver_pending(engine, transport, now=now, max_attempts=delivery.max_attempts,
                           backoff_s=delivery.backoff_s)
