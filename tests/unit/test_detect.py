"""The spike detector on synthetic series: seasonality, robustness, guards, plain-series API."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from sentinel.detect import (
    DetectParams,
    binomial_upper_tail,
    buckets_per_day,
    detect_spikes,
    infer_bucket,
    judge_bucket,
    poisson_upper_tail,
    tail_to_z,
)

PARAMS = DetectParams()
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday, midnight


def hourly(n: int, start: datetime = START) -> list[datetime]:
    return [start + timedelta(hours=i) for i in range(n)]


def test_tails_match_closed_forms():
    for lam in (0.1, 1.0, 7.5):
        assert poisson_upper_tail(1, lam) == pytest.approx(1 - math.exp(-lam), rel=1e-12)
        assert poisson_upper_tail(2, lam) == pytest.approx(1 - math.exp(-lam) * (1 + lam),
                                                           rel=1e-10)
    assert poisson_upper_tail(0, 3.0) == 1.0
    assert poisson_upper_tail(30, 2.0) == pytest.approx(
        sum(math.exp(-2.0 + k * math.log(2.0) - math.lgamma(k + 1)) for k in range(30, 200)),
        rel=1e-9)
    assert binomial_upper_tail(10, 10, 0.3) == pytest.approx(0.3 ** 10, rel=1e-10)
    assert binomial_upper_tail(1, 5, 0.5) == pytest.approx(1 - 0.5 ** 5, rel=1e-12)
    assert tail_to_z(0.5) == pytest.approx(0.0, abs=1e-12)
    assert tail_to_z(3.167e-5) == pytest.approx(4.0, abs=1e-3)
    assert math.isfinite(tail_to_z(0.0))


def test_flat_poisson_series_flags_only_the_injected_spike():
    rng = np.random.default_rng(7)
    counts = rng.poisson(20, size=24 * 21).astype(float)
    counts[400] = 100  # 5x
    spikes = detect_spikes(hourly(len(counts)), counts)
    assert [j.index for j in spikes] == [400]
    assert spikes[0].time == START + timedelta(hours=400)
    assert spikes[0].expected == pytest.approx(20, rel=0.1)
    assert spikes[0].kind == "count"


def seasonal(days: int, night: float = 2.0, day: float = 40.0) -> np.ndarray:
    """Exact (noise-free) counts: `night` from 00:00 to 07:59, `day` the rest of the day."""
    return np.array([night if (i % 24) < 8 else day for i in range(days * 24)], dtype=float)


def test_time_of_day_is_respected():
    counts = seasonal(10)
    t_night, t_day = 9 * 24 + 3, 9 * 24 + 15
    counts[t_night] = 40.0  # a daytime volume at 03:00
    night = judge_bucket(counts, t_night, per_day=24, params=PARAMS)
    day = judge_bucket(counts, t_day, per_day=24, params=PARAMS)
    # shrinkage pulls a quiet hour's level slightly towards the day's mean (prior_counts)
    assert night.count_spike and night.expected == pytest.approx(2.0, rel=0.3)
    assert not day.is_spike and day.expected == pytest.approx(40.0, rel=0.05)


def test_day_of_week_is_used_once_two_weeks_exist():
    weekday_level, weekend_level = 30.0, 4.0
    days = 28
    counts = np.array([weekend_level if ((i // 24) % 7) >= 5 else weekday_level
                       for i in range(days * 24 + 24)], dtype=float)
    saturday_noon = (days + 5 - days % 7) * 24 + 12 if days % 7 else 26 * 24 + 12  # a Saturday
    assert (saturday_noon // 24) % 7 == 5
    counts[saturday_noon] = weekday_level
    judged = judge_bucket(counts, saturday_noon, per_day=24, params=PARAMS, day_phase=12)
    assert judged.expected == pytest.approx(weekend_level, rel=0.25)
    assert judged.count_spike
    # the same day with only ten days of history: no weekday factor yet, so weekday-level
    # volume on a Saturday is not extraordinary against the mixed-week average
    short = counts[saturday_noon - 10 * 24:saturday_noon + 1]
    early = judge_bucket(short, len(short) - 1, per_day=24, params=PARAMS, day_phase=12)
    assert early.expected > 2 * weekend_level
    assert not early.count_spike


def test_earlier_spikes_at_the_same_hour_do_not_raise_the_bar():
    rng = np.random.default_rng(3)
    counts = rng.poisson(10, size=24 * 15).astype(float)
    for day in (10, 11, 12, 13):  # four earlier surges at 14:00
        counts[day * 24 + 14] = 80
    target = 14 * 24 + 14
    counts[target] = 45
    judged = judge_bucket(counts, target, per_day=24, params=PARAMS)
    assert judged.expected == pytest.approx(10, rel=0.2)
    assert judged.count_spike
    # a plain mean of the same hour would have expected about 10 + 4 * 70 / 14 = 30
    naive = judge_bucket(counts, target, per_day=24,
                         params=DetectParams(censor_z=math.inf, prior_counts=0.0))
    assert naive.expected > 25 and not naive.count_spike


def test_minimum_volume_guard_and_ratio():
    counts = np.zeros(24 * 7)
    counts[::24] = 1  # a quiet segment: one story a day
    counts[-1] = 4
    assert not judge_bucket(counts, len(counts) - 1, per_day=24, params=PARAMS).is_spike
    counts[-1] = 5
    judged = judge_bucket(counts, len(counts) - 1, per_day=24, params=PARAMS)
    assert judged.count_spike and judged.z > 4
    # a significant rise that is less than ratio_threshold x expected does not fire
    rng = np.random.default_rng(11)
    busy = rng.poisson(400, size=24 * 14).astype(float)
    busy[-1] = 560  # z ~ 7.5, ratio 1.4
    judged = judge_bucket(busy, len(busy) - 1, per_day=24, params=PARAMS)
    assert judged.z > PARAMS.z_threshold and not judged.count_spike


def test_warm_up_refuses_to_judge_on_little_history():
    counts = np.ones(24 * 3)
    counts[10] = 30
    counts[60] = 30
    early = judge_bucket(counts, 10, per_day=24, params=PARAMS)
    later = judge_bucket(counts, 60, per_day=24, params=PARAMS)
    assert early.warmup and not early.is_spike
    assert not later.warmup and later.count_spike
    # history_start: zeros before the segment existed do not count as history
    assert judge_bucket(counts, 60, per_day=24, params=PARAMS, history_start=50).warmup


def test_negative_share_spike_without_a_count_spike():
    negatives = np.full(24 * 3, 8.0)
    totals = np.full(24 * 3, 40.0)
    negatives[-1], totals[-1] = 18, 30  # 60% negative at normal volume
    judged = judge_bucket(negatives, len(negatives) - 1, per_day=24, params=PARAMS, totals=totals)
    assert judged.share_spike and not judged.count_spike
    assert judged.kind == "share"
    assert judged.expected_share == pytest.approx(0.2, abs=0.01)
    assert judged.share == pytest.approx(0.6)
    negatives[-1] = 11  # 37%: a rise below share_threshold
    assert not judge_bucket(negatives, len(negatives) - 1, per_day=24, params=PARAMS,
                            totals=totals).share_spike


def test_partial_bucket_is_judged_against_a_scaled_expectation():
    counts = np.full(24 * 7, 2.0)
    counts[-1] = 6  # six in the first quarter of an hour that normally has two
    quarter = judge_bucket(counts, len(counts) - 1, per_day=24, params=PARAMS, fraction=0.25)
    whole = judge_bucket(counts, len(counts) - 1, per_day=24, params=PARAMS)
    assert quarter.expected == pytest.approx(0.5, rel=0.1)
    assert quarter.count_spike and not whole.count_spike


def test_overdispersion_is_estimated_from_the_history():
    rng = np.random.default_rng(5)
    mean, k = 30.0, 3.0  # negative binomial: variance = mean + mean^2 / k = 330
    counts = rng.negative_binomial(k, k / (k + mean), size=24 * 28).astype(float)
    judged = judge_bucket(counts, len(counts) - 1, per_day=24, params=PARAMS)
    assert judged.extra["dispersion"] > 3
    flags_nb = detect_spikes(hourly(len(counts)), counts)
    flags_poisson = detect_spikes(hourly(len(counts)), rng.poisson(mean, size=len(counts)))
    assert len(flags_nb) <= 3 and len(flags_poisson) <= 1


def test_detect_spikes_on_a_plain_series_infers_the_bucket():
    start = datetime(2026, 5, 1, 0, 0)
    times = [(start + timedelta(minutes=15 * i)).isoformat() for i in range(96 * 5)]
    rng = np.random.default_rng(2)
    values = rng.poisson(6, size=len(times))
    values[300] = 40
    assert infer_bucket(times) == timedelta(minutes=15)
    spikes = detect_spikes(times, values)
    assert [s.time for s in spikes] == [datetime(2026, 5, 4, 3, 0, tzinfo=UTC)]
    everything = detect_spikes(times, values, all_buckets=True)
    assert len(everything) == len(times)


def test_irregular_stamps_are_summed_per_bucket_and_gaps_count_zero():
    stamps = [START + timedelta(hours=h, minutes=m) for h in range(24 * 3) if h % 5
              for m in (0, 20, 40)]
    values = [1] * len(stamps)
    stamps += [START + timedelta(hours=71, minutes=m) for m in range(0, 60, 2)]
    values += [1] * 30
    spikes = detect_spikes(stamps, values, bucket=timedelta(hours=1))
    assert [s.time for s in spikes] == [START + timedelta(hours=71)]
    assert spikes[0].observed == 33


def test_gaussian_model_for_values_that_are_not_counts():
    rng = np.random.default_rng(9)
    values = 50 + rng.normal(0, 2, size=24 * 14)
    values[-5] = 80.5
    spikes = detect_spikes(hourly(len(values)), values, min_count=0)
    assert [s.index for s in spikes] == [len(values) - 5]
    assert spikes[0].extra["scale"] == pytest.approx(2, rel=0.3)


def test_bad_input_says_what_was_expected():
    with pytest.raises(ValueError, match="two distinct timestamps"):
        infer_bucket([START, START])
    with pytest.raises(ValueError, match="differ in length"):
        detect_spikes(hourly(3), [1, 2])
    assert buckets_per_day(timedelta(minutes=15)) == 96
    assert buckets_per_day(timedelta(minutes=7)) is None
    assert buckets_per_day(timedelta(days=2)) is None


def test_buckets_per_day_is_exact_like_the_grid_origin():
    """A bucket that divides the day only up to rounding has no daily phase: detect_spikes then
    does not align its grid to midnight either, so the two must agree."""
    assert buckets_per_day(timedelta(days=1)) == 1
    assert buckets_per_day(timedelta(seconds=1)) == 86_400
    assert buckets_per_day(timedelta(seconds=86_400 / 7)) is None  # 6.99999999992 a day
    with pytest.raises(ValueError, match="positive"):
        buckets_per_day(timedelta(0))
