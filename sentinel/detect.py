"""Spike detection: counts in, spikes out. Pure functions, no I/O.

The model (argued in the README, section "Spike detection and alerts"):

* **Seasonal count baseline.** The history before bucket ``t`` is laid out as a matrix of whole
  days (rows) by buckets of the day (columns), the last row ending just before ``t``, so column 0
  holds the same time of day as ``t`` and rows ``7, 14, ...`` back hold the same weekday. The
  expectation is ``level(time of day) x factor(weekday)``: the time-of-day level is the mean of
  column 0 shrunk towards the flat daily mean by a prior worth ``prior_counts`` events (sparse
  segments get a flat baseline, busy ones the full daily profile); the weekday factor is used once
  two weeks of history exist, shrunk towards 1 the same way.
* **Robust to earlier spikes.** Cells of the history that are themselves spikes (Anscombe residual
  above ``censor_z`` x sqrt(dispersion) under the current fit) are left out and the fit is
  repeated until the set is stable (at most three times): earlier surges at the same hour do not
  raise the bar.
* **Count test.** Observed negatives against the expectation with the exact Poisson upper tail,
  turned into a z-score (probit), quasi-Poisson scaled by an over-dispersion factor estimated from
  the history (robust first guess: median squared Pearson residual) once counts are large enough.
  A bucket spikes when ``z >= z_threshold``, ``observed >= ratio_threshold x expected`` and
  ``observed >= min_count`` (the volume guard).
* **Share test.** The negative share of the bucket against the share of the (uncensored) history,
  with the exact binomial upper tail, a minimum absolute rise ``share_threshold`` and the same
  volume guard: more of the same news turning negative fires even when volume is flat.
* **Warm-up.** Nothing fires before ``min_history_buckets`` of history exist; with less than three
  days the baseline is a flat level (a daily profile cannot be told from noise yet), the weekday
  factor waits for two weeks.

``detect_spikes`` runs the same judgement over any plain series (timestamps + values), which is
what ``sentinel spikes`` and ``bench/detect.py`` use; values that are not counts (negative or
fractional) get a robust Gaussian model instead (seasonal median, MAD scale).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

DAY = timedelta(days=1)
_NORMAL = NormalDist()
# E[median of chi-square(1)]: the median squared Pearson residual of a Poisson variable.
_CHI2_1_MEDIAN = 0.4549364


@dataclass(frozen=True)
class DetectParams:
    """What counts as a spike. The defaults are Sentinel's settings' defaults."""

    z_threshold: float = 4.0
    ratio_threshold: float = 2.0
    min_count: float = 5.0
    share_threshold: float = 0.25
    baseline_days: int = 28
    min_history_buckets: int = 24
    prior_counts: float = 5.0
    censor_z: float = 3.0
    min_share_history: int = 20  # articles of history before a share spike can be judged
    model: Literal["auto", "poisson", "gaussian"] = "auto"


@dataclass(frozen=True)
class Judgement:
    """The verdict on one bucket (``index`` into the series it was judged on)."""

    index: int
    observed: float
    expected: float
    z: float
    total: float | None = None
    share: float | None = None
    expected_share: float | None = None
    share_z: float | None = None
    count_spike: bool = False
    share_spike: bool = False
    warmup: bool = False
    fraction: float = 1.0
    time: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_spike(self) -> bool:
        return self.count_spike or self.share_spike

    @property
    def ratio(self) -> float:
        return self.observed / self.expected if self.expected > 0 else math.inf

    @property
    def kind(self) -> str | None:
        if self.count_spike and self.share_spike:
            return "count+share"
        return "count" if self.count_spike else "share" if self.share_spike else None


# --- tail probabilities ----------------------------------------------------------------------

def _gammainc_lower(a: float, x: float) -> float:
    """Regularised lower incomplete gamma P(a, x) (Numerical Recipes gser/gcf)."""
    if x <= 0:
        return 0.0
    if a <= 0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return min(1.0, total * math.exp(log_front))
    b, c, d = x + 1 - a, 1e300, 1 / (x + 1 - a)
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return max(0.0, 1.0 - math.exp(log_front) * h)


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) (Numerical Recipes betacf)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x > (a + 1) / (a + b + 2):
        return 1.0 - _betainc(b, a, 1 - x)
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (1e-300 if abs(d) < 1e-300 else d)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1 + aa * d
            d = 1 / (1e-300 if abs(d) < 1e-300 else d)
            c = 1 + aa / c
            c = 1e-300 if abs(c) < 1e-300 else c
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return min(1.0, math.exp(log_front) * h / a)


def poisson_upper_tail(observed: float, expected: float) -> float:
    """P(X >= observed) for X ~ Poisson(expected); non-integer ``observed`` interpolates."""
    if observed <= 0:
        return 1.0
    if expected <= 0:
        return 0.0
    return _gammainc_lower(observed, expected)


def binomial_upper_tail(successes: float, trials: float, p: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, p)."""
    if successes <= 0:
        return 1.0
    if successes > trials or p <= 0:
        return 0.0
    return _betainc(successes, trials - successes + 1, p)


def tail_to_z(p: float) -> float:
    """The one-sided z-score of an upper-tail probability (probit), finite at both ends."""
    return -_NORMAL.inv_cdf(min(max(p, 1e-300), 1 - 1e-16))


# --- the baseline ----------------------------------------------------------------------------

def buckets_per_day(bucket: timedelta) -> int | None:
    """How many buckets make a day, when a day is a whole number of them (else None)."""
    if bucket <= timedelta(0):
        raise ValueError(f"bucket size must be positive, got {bucket}")
    if bucket > DAY or DAY % bucket:
        return None
    return DAY // bucket


@dataclass(frozen=True)
class Baseline:
    expected: float          # expected count in a whole bucket at the judged time
    censored: np.ndarray     # bool, same shape as the history matrix: cells treated as spikes
    dispersion: float = 1.0


def _history_matrix(values: np.ndarray, t: int, per_day: int, days: int) -> np.ndarray:
    return values[t - days * per_day:t].reshape(days, per_day)


def _weekday_groups(days: int, per_day: int, phase: int | None) -> np.ndarray:
    """Weekday of every history cell relative to the judged bucket's (0 = same weekday).

    ``phase``: the judged bucket's position within its calendar day; None treats each row (the
    24 hours ending at the same time of day) as one day.
    """
    rows = -(days - np.arange(days))[:, None]
    if phase is None:
        return np.broadcast_to(rows % 7, (days, per_day))
    return (rows + (phase + np.arange(per_day))[None, :] // per_day) % 7


def _fit_counts(matrix: np.ndarray, keep: np.ndarray, group: np.ndarray | None,
                prior: float, profile: bool) -> tuple[np.ndarray, float, float]:
    """Expected count of every history cell, of the judged bucket, and the mean level.

    Only cells in ``keep`` are evidence (censored spikes are left out, not averaged in).
    """
    weights = keep.astype(float)
    work = matrix * weights
    n = float(weights.sum())
    level = float(work.sum()) / n if n else 0.0
    slot = np.full(matrix.shape[1], level)
    if level > 0 and profile:  # time-of-day means, shrunk towards the flat level (prior events)
        slot = (work.sum(axis=0) + prior) / (weights.sum(axis=0) + prior / level)
    cells = np.broadcast_to(slot, matrix.shape)
    factor0 = 1.0
    if group is not None and level > 0:  # weekday factors, shrunk towards 1
        observed = np.bincount(group.ravel(), weights=work.ravel(), minlength=7)
        expected = np.bincount(group.ravel(), weights=(cells * weights).ravel(), minlength=7)
        factor = (observed + prior) / (expected + prior)
        cells = cells * factor[group]
        factor0 = float(factor[0])
    return cells, float(slot[0]) * factor0, level


def _dispersion(matrix: np.ndarray, cells: np.ndarray, keep: np.ndarray, level: float,
                robust: bool) -> float:
    """Variance / mean of the history around its expectation, at least 1 (Poisson).

    ``robust``: from the median squared Pearson residual (spikes cannot inflate it); else the
    mean over ``keep`` (cells already judged ordinary), which also sees a heavy tail.
    """
    keep = keep & (cells > 0)
    if level < 3 or keep.sum() < min(24, matrix.size):
        return 1.0
    pearson2 = (matrix[keep] - cells[keep]) ** 2 / cells[keep]
    estimate = float(np.median(pearson2)) / _CHI2_1_MEDIAN if robust else float(pearson2.mean())
    return max(1.0, estimate)


def _count_baseline(matrix: np.ndarray, params: DetectParams, weekly: bool,
                    phase: int | None = None) -> Baseline:
    """Expected count for the bucket after ``matrix`` (whose column 0 is that time of day)."""
    days, per_day = matrix.shape
    group = _weekday_groups(days, per_day, phase) if weekly and days >= 14 else None
    profile = days >= 3  # one or two days cannot tell a daily profile from noise
    censored = np.zeros(matrix.shape, dtype=bool)
    cells, expected, level = _fit_counts(matrix, ~censored, group, params.prior_counts, profile)
    dispersion = _dispersion(matrix, cells, ~censored, level, robust=True)
    for _ in range(3):  # leave out history cells that are spikes themselves, refit
        anscombe = 2 * (np.sqrt(matrix + 0.375) - np.sqrt(cells + 0.375))
        now_censored = anscombe > params.censor_z * math.sqrt(dispersion)
        if (now_censored == censored).all():
            break
        censored = now_censored
        cells, expected, level = _fit_counts(matrix, ~censored, group, params.prior_counts,
                                             profile)
        dispersion = _dispersion(matrix, cells, ~censored, level, robust=False)
    return Baseline(expected=expected, censored=censored, dispersion=dispersion)


def _gaussian_baseline(matrix: np.ndarray, weekly: bool) -> tuple[float, float]:
    """Seasonal median and a pooled MAD scale, ignoring NaNs (flat before three days)."""
    days = matrix.shape[0]
    if days < 3 or matrix.shape[1] == 1:
        flat = matrix.ravel()
        expected = float(np.nanmedian(flat)) if np.isfinite(flat).any() else math.nan
        residuals = flat - expected
    else:
        same_slot = matrix[:, 0]
        if weekly and days >= 21:
            same_slot = matrix[(days - np.arange(days)) % 7 == 0, 0]
        expected = float(np.nanmedian(same_slot)) if np.isfinite(same_slot).any() else math.nan
        residuals = matrix - np.nanmedian(matrix, axis=0)
    mad = float(np.nanmedian(np.abs(residuals - np.nanmedian(residuals)))) * 1.4826
    scale = max(mad, 0.01 * abs(expected) if math.isfinite(expected) else 0.0, 1e-9)
    return expected, scale


def judge_bucket(values: Sequence[float] | np.ndarray, t: int, *, per_day: int | None,
                 params: DetectParams, totals: Sequence[float] | np.ndarray | None = None,
                 fraction: float = 1.0, history_start: int = 0,
                 window: int | None = None, day_phase: int | None = None,
                 model: Literal["poisson", "gaussian"] = "poisson") -> Judgement:
    """Judge bucket ``t`` of ``values`` (counts per bucket) against the buckets before it.

    ``per_day``: buckets in a day (None: no daily seasonality, the history is the flat
    ``window`` buckets before ``t``; default ``baseline_days`` buckets).
    ``fraction``: how much of bucket ``t`` has elapsed (a partial bucket is compared with that
    share of the expectation). ``history_start``: the first index with real data; the warm-up
    counts history from there. ``totals``: all articles per bucket, for the share test.
    ``day_phase``: bucket ``t``'s position within its calendar day, for the weekday factor.
    """
    values = np.asarray(values, dtype=float)
    available = t - max(history_start, 0)
    if per_day:
        days = min(params.baseline_days, available // per_day)
        if days == 0 and available > 0:  # less than a day: a flat level over what exists
            matrix = values[t - available:t].reshape(available, 1)
        else:
            matrix = _history_matrix(values, t, per_day, days)
    else:
        span = min(window or params.baseline_days, available)
        matrix = values[t - span:t].reshape(span, 1)
    observed = float(values[t])
    warmup = available < params.min_history_buckets
    weekly = bool(per_day) and matrix.shape[1] == per_day
    if model == "gaussian":
        return _judge_gaussian(values, t, matrix, weekly, params, fraction, warmup)

    if matrix.size == 0:
        baseline = Baseline(0.0, np.zeros((0, 1), dtype=bool))
    else:
        baseline = _count_baseline(matrix, params, weekly, day_phase)
    floor = 0.5 / max(matrix.size, 1)  # "nothing in n buckets": half an event over the window
    expected = max(baseline.expected, floor) * fraction
    phi = baseline.dispersion
    z = tail_to_z(poisson_upper_tail(observed / phi, expected / phi))
    count_spike = (not warmup and observed >= params.min_count and z >= params.z_threshold
                   and observed >= params.ratio_threshold * expected)

    total = share = expected_share = share_z = None
    share_spike = False
    if totals is not None:
        totals = np.asarray(totals, dtype=float)
        total = float(totals[t])
        share = observed / total if total > 0 else None
        if matrix.size:
            keep = ~baseline.censored
            tot_hist = totals[t - matrix.size:t].reshape(matrix.shape)  # laid out as ``matrix``
            neg_sum, tot_sum = float(matrix[keep].sum()), float(tot_hist[keep].sum())
            if tot_sum >= params.min_share_history:
                expected_share = (neg_sum + 0.5) / (tot_sum + 1)
        if share is not None and expected_share is not None:
            share_z = tail_to_z(binomial_upper_tail(observed, total, expected_share))
            share_spike = (not warmup and observed >= params.min_count
                           and share - expected_share >= params.share_threshold
                           and share_z >= params.z_threshold)
    return Judgement(index=t, observed=observed, expected=expected, z=z, total=total, share=share,
                     expected_share=expected_share, share_z=share_z, count_spike=count_spike,
                     share_spike=share_spike, warmup=warmup, fraction=fraction,
                     extra={"dispersion": phi})


def _judge_gaussian(values: np.ndarray, t: int, matrix: np.ndarray, weekly: bool,
                    params: DetectParams, fraction: float, warmup: bool) -> Judgement:
    observed = float(values[t])
    if matrix.size == 0 or not np.isfinite(observed):
        return Judgement(index=t, observed=observed, expected=math.nan, z=math.nan, warmup=True)
    expected, scale = _gaussian_baseline(matrix, weekly)
    expected *= fraction
    z = (observed - expected) / scale if math.isfinite(expected) else math.nan
    spike = (not warmup and math.isfinite(z) and z >= params.z_threshold
             and observed >= params.min_count)
    return Judgement(index=t, observed=observed, expected=expected, z=z, count_spike=spike,
                     warmup=warmup, fraction=fraction, extra={"scale": scale})


# --- plain series ----------------------------------------------------------------------------

def _to_utc_times(times: Iterable[Any]) -> np.ndarray:
    import pandas as pd

    index = pd.to_datetime(list(times), utc=True)
    return index.as_unit("ns").asi8  # nanoseconds since the epoch


def infer_bucket(times: Iterable[Any]) -> timedelta:
    """The series' bucket size: the most common gap between consecutive distinct timestamps."""
    stamps = np.unique(_to_utc_times(times))
    if len(stamps) < 2:
        raise ValueError(f"need at least two distinct timestamps to infer a bucket size, "
                         f"got {len(stamps)}")
    gaps = np.diff(stamps)
    values, counts = np.unique(gaps, return_counts=True)
    return timedelta(microseconds=int(values[np.argmax(counts)]) / 1000)


def _is_count_series(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return bool(finite.size) and bool((finite >= 0).all()) and bool(
        np.allclose(finite, np.round(finite)))


def detect_spikes(times: Iterable[Any], values: Iterable[float], *,
                  totals: Iterable[float] | None = None, bucket: timedelta | None = None,
                  params: DetectParams | None = None, all_buckets: bool = False,
                  **overrides: Any) -> list[Judgement]:
    """Judge every bucket of a plain series; returns the spikes (or every judgement).

    ``times`` are timestamps (datetimes, ISO strings, numpy/pandas times; naive ones are UTC) and
    ``values`` the count per timestamp (``totals``: optionally all articles, for share spikes).
    The series is laid on a regular grid of ``bucket`` (inferred when None): values sharing a
    bucket are summed and a missing bucket counts zero (Poisson model) or is skipped (Gaussian).
    Keyword ``overrides`` replace fields of ``params`` (e.g. ``z_threshold=3.5``).
    """
    params = replace(params or DetectParams(), **overrides)
    times = list(times)
    raw = np.asarray(list(values), dtype=float)
    if len(times) != len(raw):
        raise ValueError(f"times and values differ in length: {len(times)} vs {len(raw)}")
    if not times:
        return []
    bucket = bucket or infer_bucket(times)
    ns = _to_utc_times(times)
    width = int(bucket / timedelta(microseconds=1)) * 1000
    per_day = buckets_per_day(bucket)
    origin = int(ns.min()) // width * width if per_day else int(ns.min())
    slots = (ns - origin) // width
    size = int(slots.max()) + 1
    model = params.model
    if model == "auto":
        model = "poisson" if _is_count_series(raw) else "gaussian"
    if model == "poisson":
        grid = np.zeros(size)
        np.add.at(grid, slots, np.nan_to_num(raw))
    else:
        grid = np.full(size, np.nan)
        seen = np.isfinite(raw)
        np.put(grid, slots[seen], 0.0)
        np.add.at(grid, slots[seen], raw[seen])
    total_grid = None
    if totals is not None:
        total_raw = np.asarray(list(totals), dtype=float)
        total_grid = np.zeros(size)
        np.add.at(total_grid, slots, np.nan_to_num(total_raw))
    window = max(1, round(params.baseline_days * DAY / bucket))
    results = []
    for t in range(size):
        if model == "gaussian" and not np.isfinite(grid[t]):
            continue
        phase = None
        if per_day:
            phase = int(((origin + t * width) % (86_400 * 10**9)) // width)
        judgement = judge_bucket(grid, t, per_day=per_day, params=params, totals=total_grid,
                                 window=window, day_phase=phase, model=model)
        stamp = datetime.fromtimestamp((origin + t * width) / 1e9, tz=UTC)
        judgement = replace(judgement, time=stamp)
        if all_buckets or judgement.is_spike:
            results.append(judgement)
    return results
