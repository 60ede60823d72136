"""The spike detector on synthetic series: the budget, seasonality, level shifts, robustness,
several time scales, guards, causality (pipeline = CLI) and the plain-series API."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from sentinel.alerts.states import Rules, replay
from sentinel.detect import (
    DetectParams,
    binomial_upper_tail,
    buckets_per_day,
    calibrate,
    detect_series,
    detect_spikes,
    infer_bucket,
    judge,
    poisson_upper_tail,
    score_series,
    surprise_to_z,
    tail_to_z,
)

PARAMS = DetectParams()
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday, midnight
HOUR = timedelta(hours=1)
RULES = Rules()


def hourly(n: int, start: datetime = START) -> list[datetime]:
    return [start + timedelta(hours=i) for i in range(n)]


def daily_profile(days: int, level: float) -> np.ndarray:
    """Expected counts per hour: quiet nights, busy afternoons, a bit quieter weekends."""
    hour = np.arange(days * 24) % 24
    weekday = (np.arange(days * 24) // 24) % 7
    return level * (1 + 0.6 * np.sin(2 * np.pi * (hour - 9) / 24)) * np.where(weekday >= 5,
                                                                             0.7, 1.0)


def alerts(times, counts, **overrides) -> list:
    series = detect_series(times, counts, **overrides)
    return replay(series.judgements, series.bucket, RULES)


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
    assert surprise_to_z(-math.log(3.167e-5)) == pytest.approx(4.0, abs=1e-3)
    assert surprise_to_z(2000.0) > 60  # far beyond what a float p can hold, still finite
    assert math.isfinite(tail_to_z(0.0))


def test_on_noise_the_false_alerts_stay_within_the_budget():
    """Twenty weeks of over-dispersed counts with a daily rhythm and no event: whatever alerts
    the replayed lifecycle raises are false ones, and their rate is what the budget promises."""
    rng = np.random.default_rng(11)
    weeks = 20
    mean = daily_profile(weeks * 7, 30.0)
    counts = rng.negative_binomial(8, 8 / (8 + mean)).astype(float)  # k = 1/8
    times = hourly(len(counts))
    for budget in (0.5, 2.0):
        raised = alerts(times, counts, false_alerts_per_week=budget)
        assert len(raised) / weeks <= budget, (budget, [e.opened for e in raised])
    assert len(alerts(times, counts, false_alerts_per_week=0.5)) <= len(
        alerts(times, counts, false_alerts_per_week=2.0))


def test_a_clear_surge_on_noise_fires_once_with_its_numbers():
    rng = np.random.default_rng(7)
    counts = rng.poisson(daily_profile(28, 20.0)).astype(float)
    counts[600] = round(5 * daily_profile(28, 20.0)[600])
    every = alerts(hourly(len(counts)), counts)
    raised = [e for e in every if e.opened == START + 600 * HOUR]
    assert len(raised) == 1 and len(every) - 1 <= PARAMS.false_alerts_per_week * 4
    peak = raised[0].peak
    assert peak.index == 600 and peak.span == 1 and peak.kind == "count"
    assert peak.observed == counts[600]
    assert peak.expected == pytest.approx(daily_profile(28, 20.0)[600], rel=0.35)
    assert raised[0].ended == START + 603 * HOUR  # the burst's bucket, then two quiet ones


def test_time_of_day_is_respected():
    """25 stories are ordinary in the afternoon and a surge at night."""
    rng = np.random.default_rng(3)
    mean = np.array([2.0 if (i % 24) < 8 else 25.0 for i in range(24 * 21)])
    counts = rng.poisson(mean).astype(float)
    night, day = 24 * 20 + 3, 24 * 20 + 15
    counts[night] = counts[day] = 25
    series = detect_series(hourly(len(counts)), counts)
    judged = {j.index: j for j in series.judgements}
    assert judged[night].is_spike and series.scores.expected[night] < 5
    assert not judged[day].is_spike
    assert series.scores.expected[day] == pytest.approx(25, rel=0.3)


def test_earlier_surges_at_the_same_hour_do_not_raise_the_expectation():
    rng = np.random.default_rng(5)
    counts = rng.poisson(10, size=24 * 21).astype(float)
    for day in range(5, 20, 3):  # a surge at 09:00 every third day
        counts[day * 24 + 9] = 80
    scores = score_series(counts, bucket=HOUR, params=PARAMS)
    assert scores.expected[20 * 24 + 9] == pytest.approx(10, rel=0.25)


def test_a_new_normal_is_adopted_instead_of_alerting_for_days():
    """The volume triples for good: one alert, which ends within the day; none after it."""
    rng = np.random.default_rng(8)
    mean = daily_profile(35, 10.0)
    mean[21 * 24:] *= 3
    counts = rng.poisson(mean).astype(float)
    step = START + 21 * 24 * HOUR
    raised = [e for e in alerts(hourly(len(counts)), counts) if e.opened >= step]
    assert len(raised) == 1 and raised[0].opened < step + 24 * HOUR
    assert raised[0].ended is not None and raised[0].ended < step + 2 * 24 * HOUR


def test_routine_bursts_raise_the_bar_but_not_for_a_bigger_one():
    """A feed that bursts to 4x for an hour every day: the history says that is routine, so it
    stops alerting once calibrated; a 15x burst still alerts."""
    rng = np.random.default_rng(12)
    counts = rng.poisson(daily_profile(35, 10.0)).astype(float)
    for day in range(35):
        counts[day * 24 + 14] *= 4
    counts[33 * 24 + 3] = 150
    raised = alerts(hourly(len(counts)), counts)
    late = [e.opened for e in raised if e.opened >= START + 21 * 24 * HOUR]
    assert late == [START + (33 * 24 + 3) * HOUR]


def test_a_sustained_rise_fires_on_the_longer_window_and_ends_with_it():
    """Six hours at 2.5x on noisy counts (k = 0.3): single hours come and go with the noise,
    the six-hour sum stands out and is what the alert ends on."""
    rng = np.random.default_rng(2)
    mean = 40 * (1 + 0.6 * np.sin(2 * np.pi * (np.arange(28 * 24) % 24 - 9) / 24))
    start = 24 * 24 + 8
    mean[start:start + 6] *= 2.5
    size = 1 / 0.3
    counts = rng.negative_binomial(size, size / (size + mean)).astype(float)
    series = detect_series(hourly(len(counts)), counts)
    fired = [j for j in series.judgements if j.is_spike and j.index >= start - 24]
    assert fired and all(start <= j.index < start + 6 for j in fired)
    assert any(j.span == 6 for j in fired)
    raised = [e for e in replay(series.judgements, series.bucket, RULES)
              if e.opened >= START + (start - 24) * HOUR]
    assert len(raised) == 1 and raised[0].ended <= START + (start + 9) * HOUR


def test_volume_and_ratio_guards():
    rng = np.random.default_rng(4)
    sparse = rng.poisson(0.2, size=24 * 21).astype(float)
    sparse[-1] = 4  # 20x, but fewer than min_count (5) stories
    assert not detect_series(hourly(len(sparse)), sparse).judgements[-1].is_spike
    sparse[-1] = 6
    assert detect_series(hourly(len(sparse)), sparse).judgements[-1].is_spike
    busy = rng.poisson(1000, size=24 * 21).astype(float)
    busy[-1] = 1500  # far beyond Poisson noise, but not 2x
    assert not detect_series(hourly(len(busy)), busy).judgements[-1].is_spike
    assert detect_series(hourly(len(busy)), busy, ratio_threshold=1.2).judgements[-1].is_spike


def test_warm_up_refuses_to_judge_on_little_history():
    counts = np.full(24 * 10, 3.0)
    counts[30] = counts[24 * 8] = 60
    judged = detect_series(hourly(len(counts)), counts).judgements
    assert judged[30].warmup and not judged[30].is_spike  # a day and a bit of history
    assert not judged[24 * 8].warmup and judged[24 * 8].is_spike
    scores = score_series(counts, bucket=HOUR, params=PARAMS, history_start=24 * 6)
    assert calibrate(scores, 24 * 8, PARAMS) is None  # two days since this segment began


def test_negative_share_spike_without_a_count_spike():
    rng = np.random.default_rng(6)
    totals = rng.poisson(60, size=24 * 21).astype(float)
    negatives = rng.binomial(totals.astype(int), 0.1).astype(float)
    totals[-1], negatives[-1] = 20, 9  # 45% negative instead of 10%, 9 < 2x the usual 6
    judged = detect_series(hourly(len(totals)), negatives, totals=totals).judgements[-1]
    assert judged.share_spike and not judged.count_spike and judged.kind == "share"
    assert judged.expected_share == pytest.approx(0.1, abs=0.02)
    calm = detect_series(hourly(len(totals)), negatives, totals=totals,
                         share_threshold=0.5).judgements[-1]
    assert not calm.is_spike


def test_partial_bucket_is_judged_against_its_elapsed_share():
    rng = np.random.default_rng(1)
    counts = rng.poisson(20, size=24 * 21).astype(float)
    counts[-1] = 18  # a quarter of the hour gone: 18 against an expected 5
    quarter = score_series(counts, bucket=HOUR, params=PARAMS, fraction=0.25)
    whole = score_series(counts, bucket=HOUR, params=PARAMS)
    t = len(counts) - 1
    assert quarter.components[0].expected[t] == pytest.approx(whole.components[0].expected[t] / 4)
    assert judge(quarter, t, calibrate(quarter, t, PARAMS), PARAMS, 0.25).is_spike
    assert not judge(whole, t, calibrate(whole, t, PARAMS), PARAMS).is_spike


def test_overdispersion_is_estimated_from_the_history():
    rng = np.random.default_rng(10)
    k = 0.25  # variance = mu + k mu^2
    counts = rng.negative_binomial(1 / k, (1 / k) / (1 / k + 40), size=24 * 28).astype(float)
    scores = score_series(counts, bucket=HOUR, params=PARAMS)
    ordinary = counts[-24:].max()
    t = len(counts) - 1
    counts_nb = counts.copy()
    counts_nb[t] = ordinary
    bucket = score_series(counts_nb, bucket=HOUR, params=PARAMS).components[0]
    poisson = -math.log(poisson_upper_tail(ordinary, bucket.expected[t]))
    assert bucket.surprise[t] < poisson / 3  # what is routine for this noise is not a surprise
    assert [c.span for c in scores.components] == [1, 6]  # hourly buckets: the hour, 6 hours


def test_scores_are_causal_so_the_pipeline_and_the_cli_agree():
    """A position's scores from a series cut right after it equal those from the whole series:
    judging the latest buckets each run is the same computation as judging a series at once."""
    rng = np.random.default_rng(13)
    counts = rng.poisson(daily_profile(30, 15.0)).astype(float)
    counts[500:504] *= 3
    full = score_series(counts, bucket=HOUR, params=PARAMS)
    for t in (300, 502, 650):
        cut = score_series(counts[:t + 1], bucket=HOUR, params=PARAMS)
        assert cut.expected[t] == pytest.approx(full.expected[t], rel=1e-9)
        for a, b in zip(cut.components, full.components, strict=True):
            assert a.surprise[t] == pytest.approx(b.surprise[t], rel=1e-9, abs=1e-12)
        assert calibrate(cut, t, PARAMS) == calibrate(full, t, PARAMS)


def test_detect_spikes_on_a_plain_series_infers_the_bucket():
    times = [START + timedelta(minutes=15 * i) for i in range(96 * 14)]
    rng = np.random.default_rng(2)
    values = rng.poisson(8, size=len(times)).astype(float)
    values[1200] = 60
    spikes = detect_spikes(times, values)
    # judged over the hour (nothing shorter is judged alone): the burst stays in the hour's
    # window until it leaves it, never outside it
    assert spikes[0].index == 1200 and spikes[0].time == times[1200] and spikes[0].span == 4
    assert all(1200 <= s.index < 1204 for s in spikes)
    assert len(detect_spikes(times, values, all_buckets=True)) == len(times)
    assert infer_bucket(times) == timedelta(minutes=15)


def test_irregular_stamps_are_summed_per_bucket_and_gaps_count_zero():
    stamps = [START + timedelta(hours=h, minutes=m) for h in range(24 * 14) for m in (10, 40)
              if h % 24 != 5]  # nothing at 05:xx: those buckets count zero
    values = [2.0] * len(stamps)
    series = detect_series(stamps, values, bucket=HOUR)
    assert series.start == START
    assert series.scores.values[24 * 13 + 4] == 4  # 04:10 + 04:40
    assert series.scores.values[24 * 13 + 5] == 0


def test_gaussian_model_for_values_that_are_not_counts():
    rng = np.random.default_rng(9)
    values = 50 + rng.normal(0, 2, size=24 * 14)
    values[-5] = 80.5
    spikes = detect_spikes(hourly(len(values)), values, min_count=0)
    assert spikes[0].index == len(values) - 5 and spikes[0].span == 1
    assert all(s.index < len(values) - 5 + 6 for s in spikes)  # then only in its 6 h window


def test_bad_input_says_what_was_expected():
    with pytest.raises(ValueError, match="two distinct timestamps"):
        infer_bucket([START, START])
    with pytest.raises(ValueError, match="differ in length"):
        detect_spikes(hourly(3), [1, 2])
    assert detect_spikes([], []) == []
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
