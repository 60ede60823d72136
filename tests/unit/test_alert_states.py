"""The alert lifecycle as pure rules (``sentinel.alerts.states``): what the detect stage stores in
the ``alert`` table and what ``sentinel spikes`` replays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sentinel.alerts.states import OpenAlert, Rules, advance, replay
from sentinel.detect import Judgement

T = datetime(2026, 3, 2, tzinfo=UTC)
H = timedelta(hours=1)


def test_opens_firing_repeats_at_most_every_interval_and_resolves_after_the_hold_down():
    rules = Rules(repeat_interval=4 * H, resolve_after=2 * H)
    alert, event = advance(None, hot=True, quiet=False, now=T, rules=rules)
    assert alert == OpenAlert("firing", T) and event == "firing"
    alert, event = advance(alert, hot=True, quiet=False, now=T + 3 * H, rules=rules)
    assert event is None and alert.last_notified_at == T
    alert, event = advance(alert, hot=True, quiet=False, now=T + 4 * H, rules=rules)
    assert event == "repeat" and alert.last_notified_at == T + 4 * H
    alert, event = advance(alert, hot=False, quiet=False, now=T + 5 * H, rules=rules)
    assert event is None and alert is not None  # within the hold-down
    assert advance(alert, hot=False, quiet=True, now=T + 6 * H, rules=rules) == (None,
                                                                                 "resolved")
    assert advance(None, hot=False, quiet=True, now=T, rules=rules) == (None, None)


def test_pending_until_enough_spiking_buckets_else_it_expires_silently():
    rules = Rules(fire_after_buckets=2)
    alert, event = advance(None, hot=True, quiet=False, now=T, rules=rules)
    assert alert == OpenAlert("pending", None) and event == "pending"
    assert advance(alert, hot=True, quiet=False, now=T + H, rules=rules,
                   spiking_buckets=2) == (OpenAlert("firing", T + H), "firing")
    assert advance(alert, hot=False, quiet=True, now=T + H, rules=rules) == (None, "expired")


def spike(i: int, observed: float = 30.0) -> Judgement:
    return Judgement(index=i, observed=observed, expected=5.0, z=6.0, count_spike=True,
                     time=T + i * H, score=20.0 + observed, threshold=10.0)


def quiet(i: int) -> Judgement:
    return Judgement(index=i, observed=5.0, expected=5.0, z=0.0, time=T + i * H)


def test_replay_turns_spiking_buckets_into_alerts_with_their_peak_and_end():
    judged = [quiet(0), spike(1), spike(2, observed=50), quiet(3), spike(4), quiet(5), quiet(6),
              quiet(7), spike(8), quiet(9)]
    episodes = replay(judged, H, Rules(resolve_after=2 * H))
    assert [e.opened for e in episodes] == [T + H, T + 8 * H]
    first = episodes[0]
    assert first.peak.index == 2 and first.ended == T + 7 * H  # 05:00 and 06:00 quiet
    assert first.notifications == 2  # firing, resolved
    assert episodes[1].ended is None  # still open when the series ends
    # a longer hold-down keeps one alert over both bursts
    assert len(replay(judged, H, Rules(resolve_after=5 * H))) == 1


def test_replay_counts_only_alerts_that_fired():
    judged = [quiet(0), spike(1), quiet(2), quiet(3), quiet(4)]
    assert replay(judged, H, Rules(fire_after_buckets=2)) == []
