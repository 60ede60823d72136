"""Judge every segment at the end of a data interval, then move its alert along.

States (one open alert per segment, ``dedup_key`` = ``kind:value``, a partial unique index):

* **pending** — spiking, waiting for ``fire_after_buckets`` spiking buckets; expires silently.
* **firing** — notified (``firing``); while it keeps spiking, notified again at most every
  ``repeat_interval`` (``repeat``, threaded on the first message).
* **resolved** — after ``resolve_after_buckets`` quiet complete buckets (the hold-down, so an
  alert does not flap) and a quiet unfinished bucket; notified (``resolved``) when configured.

Which buckets a run judges: every complete bucket that ended inside the data interval (at least
the latest one; at most ``CATCH_UP``) and, when ``judge_partial`` is set, the unfinished current
bucket against the elapsed share of its expectation, counted exactly from the articles published
before the interval's end. An alert therefore fires within one schedule interval of the burst.

Idempotent per data interval: a rerun of the latest interval judges the same buckets and finds
its notifications already queued (unique ``(alert_id, kind, interval_end)``); an interval older
than the latest judged one changes nothing.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection

from sentinel.alerts import rollup
from sentinel.alerts.evidence import Window, gather_evidence
from sentinel.alerts.states import OpenAlert, Rules, advance
from sentinel.db.models import Alert, AlertDelivery
from sentinel.detect import (
    DetectParams,
    Judgement,
    buckets_per_day,
    calibrate,
    judge,
    score_series,
)

log = logging.getLogger(__name__)

CATCH_UP = 24  # most complete buckets judged as "new" in one run (after a gap in runs)
TREND = 24     # buckets in the message's sparkline


@dataclass(frozen=True)
class AlertConfig:
    params: DetectParams
    bucket_minutes: int = 60
    judge_partial: bool = True
    fire_after_buckets: int = 1
    repeat_interval: timedelta = timedelta(hours=4)
    resolve_after_buckets: int = 2
    notify_resolved: bool = True
    top_headlines: int = 5
    channel: str = "log"
    channel_false_alerts_per_week: float = math.inf

    @property
    def width(self) -> timedelta:
        return timedelta(minutes=self.bucket_minutes)

    @property
    def rules(self) -> Rules:
        return Rules(fire_after_buckets=self.fire_after_buckets,
                     repeat_interval=self.repeat_interval,
                     resolve_after=self.resolve_after_buckets * self.width)


@dataclass
class Verdict:
    segment: rollup.Segment
    hot: bool                     # a judged bucket spikes
    quiet: bool                   # no spike in the hold-down buckets nor the unfinished one
    judgement: Judgement          # the bucket the alert shows (the strongest spike, if any)
    bucket_start: datetime        # that bucket's start
    trend: list[float]

    def window_start(self, width: timedelta) -> datetime:
        """Where the window behind the judgement starts (it may span several buckets)."""
        return self.bucket_start - (self.judgement.span - 1) * width


def _interval_start(conn: Connection, now: datetime) -> datetime | None:
    """Where this run's data interval starts: after the previous one (or, on a rerun of the
    latest interval, where that one started). None: ``now`` is older than the latest judged."""
    state = conn.execute(sa.text("SELECT judged_from, judged_until FROM detect_state "
                                 "WHERE id = 1 FOR UPDATE")).first()
    if state is None or state.judged_until is None:
        return now
    if now < state.judged_until:
        return None
    return state.judged_from if now == state.judged_until else state.judged_until


def _mark_judged(conn: Connection, start: datetime, now: datetime) -> None:
    conn.execute(sa.text("""
        INSERT INTO detect_state (id, judged_from, judged_until, updated_at)
        VALUES (1, :start, :now, now())
        ON CONFLICT (id) DO UPDATE SET judged_from = excluded.judged_from,
            judged_until = excluded.judged_until, updated_at = now()"""),
        {"start": start, "now": now})


def _dedup_key(segment: rollup.Segment) -> str:
    kind, value = segment
    return "all" if kind == "all" else f"{kind}:{value}"


def _open_alerts(conn: Connection) -> dict[str, Any]:
    """Every alert not yet resolved (one per segment), by dedup key, locked for this run."""
    rows = conn.execute(sa.select(Alert.__table__).where(Alert.state != "resolved")
                        .with_for_update()).mappings().all()
    return {row["dedup_key"]: row for row in rows}


def segment_budget(conn: Connection, model_id: int, config: AlertConfig,
                   now: datetime) -> tuple[float, int]:
    """Each segment's false-alarm budget (alerts a week) and how many segments share the
    channel's: those that reached the volume guard in a bucket of the baseline window."""
    params = config.params
    live = rollup.count_live_segments(conn, model_id, config.bucket_minutes,
                                      now - timedelta(days=params.baseline_days), now,
                                      int(np.ceil(params.min_count)))
    shared = config.channel_false_alerts_per_week / max(live, 1)
    return min(params.false_alerts_per_week, shared), live


def judge_segments(conn: Connection, model_id: int, config: AlertConfig, now: datetime,
                   interval_start: datetime, open_alerts: dict[str, Any],
                   budget: float | None = None) -> list[Verdict]:
    """Verdicts for every segment that could fire or has an open alert (``open_alerts``).

    Each segment's last ``2 x baseline_days`` are scored (``sentinel.detect.score_series``: the
    baseline of a bucket looks ``baseline_days`` back, and so does the calibration of its
    scores), calibrated on what came before the first judged bucket, and the buckets that ended
    in the data interval (and the unfinished one) are judged.
    """
    width, params = config.width, config.params
    current = rollup.bucket_floor(now, width)
    fraction = (now - current) / width
    partial = config.judge_partial and fraction > 0
    new_complete = max(1, min(CATCH_UP, (current - rollup.bucket_floor(interval_start, width))
                              // width))
    per_day = buckets_per_day(width) or 1
    judged_back = max(config.resolve_after_buckets, new_complete)
    span = 2 * params.baseline_days * per_day + judged_back
    start = current - span * width

    partial_counts = rollup.count_range(conn, model_id, current, now) if partial else {}
    longest = max(1, *(round(timedelta(hours=h) / width) for h in params.scale_hours))
    segments = rollup.segments_with_volume(
        conn, model_id, config.bucket_minutes,
        current - (new_complete + longest - 1) * width, current, int(np.ceil(params.min_count)))
    segments |= {s for s, (_t, neg) in partial_counts.items() if neg > 0}
    segments |= {(a["segment_kind"], a["segment_value"]) for a in open_alerts.values()}
    if not segments:
        return []
    history = rollup.load_history(conn, model_id, config.bucket_minutes, segments, start, current)
    # where a segment's history begins: its own first bucket for a source, the first bucket
    # of all news for every other segment (so only those are looked up)
    wanted = {s for s in segments if s[0] == "source"}
    if any(s[0] != "source" for s in segments):
        wanted.add(("all", "all"))
    firsts = rollup.first_buckets(conn, model_id, config.bucket_minutes, wanted)
    data_start = firsts.get(("all", "all"), current)

    verdicts = []
    for segment in sorted(segments):
        negatives, totals = np.zeros(span + 1), np.zeros(span + 1)
        for bucket_start, (total, negative) in history[segment].items():
            i = (bucket_start - start) // width
            negatives[i], totals[i] = negative, total
        totals[span], negatives[span] = partial_counts.get(segment, (0, 0))
        began = firsts.get(segment, current) if segment[0] == "source" else data_start
        last = span if partial else span - 1
        scores = score_series(negatives[:last + 1], bucket=width, params=params,
                              totals=totals[:last + 1],
                              history_start=max(0, (began - start) // width),
                              fraction=fraction if partial else 1.0)
        # an open alert is judged by the bar it rose above (its own buckets are not routine)
        until = span - judged_back
        alert = open_alerts.get(_dedup_key(segment))
        if alert is not None:
            until = min(until, max(0, (alert["started_at"] - start) // width))
        calibration = calibrate(scores, until, params, budget)
        judged = {i: judge(scores, i, calibration, params,
                           fraction if i == span else 1.0)
                  for i in range(span - judged_back, last + 1)}
        spiking = [i for i, j in judged.items() if j.is_spike]
        hot = [i for i in spiking if i == span or span - i <= new_complete]
        holding = [i for i in spiking if i == span or span - i <= config.resolve_after_buckets]
        shown = max(hot, key=lambda i: (judged[i].score - judged[i].threshold, i)) if hot else last
        verdicts.append(Verdict(segment=segment, hot=bool(hot), quiet=not holding,
                                judgement=judged[shown], bucket_start=start + shown * width,
                                trend=negatives[span + 1 - TREND:].tolist()))
    return verdicts


def _numbers(v: Verdict, width: timedelta) -> dict[str, Any]:
    j = v.judgement
    return {"window_start": v.window_start(width), "window_end": v.bucket_start + width,
            "observed": j.observed, "expected": j.expected, "negative_share": j.share,
            "expected_share": j.expected_share,
            "score": max(j.z, j.share_z if j.share_z is not None else -np.inf)}


def _payload(conn: Connection, model_id: int, config: AlertConfig, alert: Mapping[str, Any],
             v: Verdict, kind: str, now: datetime) -> dict[str, Any]:
    kind_, value = v.segment
    j = v.judgement
    base = {"kind": kind, "alert_id": alert["id"], "dedup_key": alert["dedup_key"],
            "segment_kind": kind_, "segment_value": value, "bucket_minutes": config.bucket_minutes,
            "interval_end": now.isoformat(), "started_at": alert["started_at"].isoformat()}
    if kind == "resolved":
        details = alert["details"] or {}
        return {**base, "resolved_at": now.isoformat(),
                "quiet_buckets": config.resolve_after_buckets,
                "peak_observed": details.get("peak_observed", alert["observed"]),
                "peak_expected": details.get("peak_expected", alert["expected"])}
    # one window for the numbers, the headlines and the SQL: the judged window (one bucket or
    # several), up to `now` while its last bucket is still filling (what the detector counted)
    window = Window.of_buckets(v.window_start(config.width), v.bucket_start,
                               config.bucket_minutes, now)
    evidence = gather_evidence(conn, kind_, value, window, config.top_headlines)
    if evidence.negative != j.observed:
        log.warning("alert %s: the detector counted %g negative articles in %s, its SQL returns "
                    "%d (rows written between the two)", alert["dedup_key"], j.observed,
                    window.text(), evidence.negative)
    return {**base, **evidence.payload(),
            "fraction": j.fraction, "spike": j.kind, "observed": j.observed,
            "expected": j.expected, "ratio": j.ratio if np.isfinite(j.ratio) else 999.0,
            "z": j.z, "total": j.total, "negative_share": j.share,
            "expected_share": j.expected_share, "share_z": j.share_z, "trend": v.trend}


def _enqueue(conn: Connection, alert_id: int, kind: str, now: datetime, channel: str,
             payload: dict[str, Any]) -> int:
    stmt = insert(AlertDelivery).values(
        alert_id=alert_id, kind=kind, interval_end=now, channel=channel, status="pending",
        payload=json.loads(json.dumps(payload, default=str)),
    ).on_conflict_do_nothing(index_elements=["alert_id", "kind", "interval_end"])
    return conn.execute(stmt).rowcount


def apply_verdicts(conn: Connection, model_id: int, config: AlertConfig, verdicts: list[Verdict],
                   now: datetime, open_alerts: dict[str, Any]) -> dict[str, int]:
    """Open, keep or resolve each verdict's alert (``open_alerts``: locked, by dedup key); the
    rules are ``sentinel.alerts.states.advance``."""
    counts = {"segments_judged": len(verdicts), "hot": 0, "opened": 0, "fired": 0,
              "repeated": 0, "resolved": 0, "queued": 0}
    rules = config.rules
    for v in verdicts:
        kind, value = v.segment
        key = _dedup_key(v.segment)
        counts["hot"] += v.hot
        alert = open_alerts.get(key)
        numbers = _numbers(v, config.width)
        if alert is None:
            if not v.hot or conn.scalar(sa.select(sa.func.count()).select_from(Alert).where(
                    Alert.dedup_key == key, Alert.resolved_at >= now)):
                continue  # nothing to open, or this interval already ended an alert of it
            opened, event = advance(None, hot=True, quiet=False, now=now, rules=rules)
            assert opened is not None
            alert = conn.execute(sa.insert(Alert).values(
                dedup_key=key, segment_kind=kind, segment_value=value, state=opened.state,
                started_at=v.window_start(config.width), last_firing_at=now,
                last_notified_at=opened.last_notified_at,
                details={"model_id": model_id, "bucket_minutes": config.bucket_minutes,
                         "spiking_buckets": [v.bucket_start.isoformat()],
                         "peak_observed": v.judgement.observed,
                         "peak_expected": v.judgement.expected},
                **numbers).returning(Alert.__table__)).mappings().one()
            counts["opened"] += 1
            if event == "firing":
                counts["fired"] += 1
                counts["queued"] += _enqueue(conn, alert["id"], "firing", now, config.channel,
                                             _payload(conn, model_id, config, dict(alert), v,
                                                      "firing", now))
            continue
        details = dict(alert["details"] or {})
        spiking = sorted(set(details.get("spiking_buckets", []))
                         | ({v.bucket_start.isoformat()} if v.hot else set()))
        state = OpenAlert(alert["state"], alert["last_notified_at"])
        after, event = advance(state, hot=v.hot, quiet=v.quiet, now=now, rules=rules,
                               spiking_buckets=len(spiking))
        if v.hot:
            details["spiking_buckets"] = spiking[-50:]
            if v.judgement.observed >= details.get("peak_observed", 0):
                details["peak_observed"] = v.judgement.observed
                details["peak_expected"] = v.judgement.expected
            values: dict[str, Any] = {**numbers, "last_firing_at": now, "details": details}
            if event in ("firing", "repeat"):
                assert after is not None
                values["state"], values["last_notified_at"] = after.state, now
                counts["fired" if event == "firing" else "repeated"] += 1
                counts["queued"] += _enqueue(conn, alert["id"], event, now, config.channel,
                                             _payload(conn, model_id, config, dict(alert), v,
                                                      event, now))
            if any(alert[k] != value for k, value in values.items()):  # a rerun changes none
                conn.execute(sa.update(Alert).where(Alert.id == alert["id"])
                             .values(**values, updated_at=sa.func.now()))
        elif after is None:
            conn.execute(sa.update(Alert).where(Alert.id == alert["id"]).values(
                state="resolved", resolved_at=now, updated_at=sa.func.now(),
                details={**details, "outcome": event}))
            counts["resolved"] += 1
            if event == "resolved" and config.notify_resolved:
                counts["queued"] += _enqueue(conn, alert["id"], "resolved", now, config.channel,
                                             _payload(conn, model_id, config, dict(alert), v,
                                                      "resolved", now))
    return counts


def run_lifecycle(conn: Connection, model_id: int, config: AlertConfig,
                  now: datetime) -> dict[str, float]:
    """Judge the data interval ending at ``now`` and update alerts; a stale interval is a no-op."""
    interval_start = _interval_start(conn, now)
    if interval_start is None:
        return {"stale_interval": 1}
    open_alerts = _open_alerts(conn)
    budget, live = segment_budget(conn, model_id, config, now)
    verdicts = judge_segments(conn, model_id, config, now, interval_start, open_alerts, budget)
    counts = apply_verdicts(conn, model_id, config, verdicts, now, open_alerts)
    _mark_judged(conn, interval_start, now)
    return {**counts, "live_segments": live, "segment_budget": round(budget, 4)}

