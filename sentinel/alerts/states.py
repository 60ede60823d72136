"""An alert's life, as pure logic: what one judged interval does to a segment's open alert.

The detect stage (``lifecycle.apply_verdicts``) keeps this state in the ``alert`` table and
``sentinel spikes`` replays a whole series through ``replay``: one set of rules for both.

* no open alert and a hot interval: the alert opens, **firing** (notified) or, when
  ``fire_after_buckets`` > 1, **pending** until that many spiking buckets were seen;
* firing and still hot: notified again at most every ``repeat_interval`` (``repeat``);
* not hot and quiet for the hold-down (no spike in the last ``resolve_after`` of time): the alert
  ends, **resolved** (notified) or, if it never fired, **expired** (silently).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from sentinel.detect import Judgement

Event = Literal["pending", "firing", "repeat", "resolved", "expired"]


@dataclass(frozen=True)
class Rules:
    fire_after_buckets: int = 1
    repeat_interval: timedelta = timedelta(hours=4)
    resolve_after: timedelta = timedelta(hours=2)


@dataclass(frozen=True)
class OpenAlert:
    state: Literal["pending", "firing"]
    last_notified_at: datetime | None


def advance(alert: OpenAlert | None, *, hot: bool, quiet: bool, now: datetime, rules: Rules,
            spiking_buckets: int = 1) -> tuple[OpenAlert | None, Event | None]:
    """The alert after one judged interval, and what happened to it (None: nothing to tell).

    ``hot``: a bucket judged in the interval spikes; ``quiet``: nothing spiked during the
    hold-down; ``spiking_buckets``: distinct spiking buckets the alert has seen, this interval's
    included. ``alert`` is None when the segment has no open alert (and None comes back once
    it ends).
    """
    if alert is None:
        if not hot:
            return None, None
        if spiking_buckets >= rules.fire_after_buckets:
            return OpenAlert("firing", now), "firing"
        return OpenAlert("pending", None), "pending"
    if hot:
        if alert.state == "pending":
            if spiking_buckets >= rules.fire_after_buckets:
                return OpenAlert("firing", now), "firing"
            return alert, None
        if repeat_due(alert.last_notified_at, now, rules.repeat_interval):
            return replace(alert, last_notified_at=now), "repeat"
        return alert, None
    if quiet:
        return None, "resolved" if alert.state == "firing" else "expired"
    return alert, None


def repeat_due(last: datetime | None, now: datetime, interval: timedelta) -> bool:
    return last is None or now - last >= interval


@dataclass
class Episode:
    """One alert of a replayed series: when it opened, peaked and ended, and its numbers."""

    opened: datetime
    peak: Judgement
    ended: datetime | None = None        # None: still open at the end of the series
    fired: bool = False
    notifications: int = 0


def replay(judgements: Sequence[Judgement], bucket: timedelta, rules: Rules) -> list[Episode]:
    """Run the lifecycle over judged buckets in order (one judged interval per bucket, judged
    when the bucket is complete). Returns every alert that fired, oldest first."""
    hold = max(1, -(-rules.resolve_after // bucket))  # whole buckets in the hold-down
    episodes: list[Episode] = []
    alert: OpenAlert | None = None
    current: Episode | None = None
    last_spike: datetime | None = None
    spiking = 0
    for j in judgements:
        assert j.time is not None
        end = j.time + bucket  # the interval that judged this bucket ends with it
        if j.is_spike:
            last_spike = j.time
        quiet = last_spike is None or j.time - last_spike >= hold * bucket
        was_open = alert is not None
        spiking = (spiking if was_open else 0) + j.is_spike
        alert, event = advance(alert, hot=j.is_spike, quiet=quiet, now=end, rules=rules,
                               spiking_buckets=spiking)
        if not was_open and alert is not None:
            current = Episode(opened=j.time, peak=j)
            episodes.append(current)
        if current is None:
            continue
        if j.is_spike and j.score - j.threshold >= current.peak.score - current.peak.threshold:
            current.peak = j
        if event in ("firing", "repeat", "resolved"):
            current.notifications += 1
            current.fired = current.fired or event == "firing"
        if alert is None:
            current.ended = end
            current = None
    return [e for e in episodes if e.fired]
