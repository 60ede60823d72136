"""Spike detection: counts in, spikes out. Pure functions, no I/O.

The model (argued in docs/detection.md, "Spike detection and alerts"). Every quantity at bucket
``t`` uses only the buckets before it, so judging a whole series at once (``sentinel spikes``)
and judging the latest buckets of a segment every run (the pipeline) is one computation.

* **Seasonal baseline.** The expected count of bucket ``t`` is the mean of the same time of day
  over the last ``baseline_days`` days (buckets within half an hour pooled), shrunk towards the
  flat mean by a prior worth ``prior_counts`` events, so sparse segments get a flat baseline.
  Buckets that surged (above ``censor_ratio`` x their expectation plus three Poisson standard
  deviations) are left out and the fit is repeated twice: earlier surges do not raise the bar.
* **A level that follows a new normal.** That expectation is scaled by the median of observed /
  expected over the last ``level_hours`` (in blocks holding about five expected events): a surge
  shorter than half that span cannot move a median, a lasting shift (or the week's rhythm) is
  adopted within it, so an alert ends instead of repeating for days. The level may halve, not
  vanish: the zeros of an outage must not make the return of normal volume look like a surge.
* **Local, heavy-tailed noise.** Counts are judged with the negative binomial upper tail (variance
  ``mu + k mu^2``), ``k`` estimated from that window size's own residuals over the last
  ``baseline_days`` (moments, surges left out): busy series get their real over-dispersion,
  sparse ones stay near Poisson.
* **Human time scales.** A surge can be one sharp hour or a rise sustained over an afternoon:
  the counts over the last ``scale_hours`` (an hour and six hours; one bucket when buckets are
  longer) are each judged, and with totals the negative share of the bucket (more of the same
  news turning negative). Nothing shorter than an hour is judged alone: a five-minute burst of
  reposts is not news a person needs to hear about.
* **A false-alarm budget, calibrated on the series' own history.** Real volume has bursts a count
  model calls impossible, so each component's bar comes from the scores the series itself
  produced over the last ``baseline_days``: the peak score of each burst (bursts
  ``quiet_hours`` apart, as alerts are) and the level that ``false_alerts_per_week`` / (number
  of components) bursts a week reach, read off a line fitted through the top ``tail_clusters``
  peaks against the log of their rank (an exponential tail). Everything in that history counts,
  the surges the segment alerted on too: a segment that surged last week needs a comparable
  surge to alert again within the window. The bar never drops below what the count model itself
  asks for that rate, so a sparse segment with a history of zeros still needs a surprising
  count.
* **Guards.** Nothing fires before ``min_history_buckets`` of history, three days of daily profile
  and a calibration exist, on fewer than ``min_count`` events, or below ``ratio_threshold`` x the
  expectation (share spikes: a rise of at least ``share_threshold``); a longer window fires only
  while its latest bucket is above its expectation (the surge is still going).

``detect_spikes`` runs the same judgement over any plain series (timestamps + values); values that
are not counts (negative or fractional) get a Gaussian noise model in place of the negative
binomial, with the same baseline and calibration.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
from scipy import special, stats

DAY = timedelta(days=1)
WEEK_DAYS = 7
# The level may halve, not vanish: hours of zeros from an outage must not make the return of
# normal volume look like a surge.
LEVEL_FLOOR = 0.5
CENSOR_P = 1e-3  # non-count series: what is censored from the baseline


@dataclass(frozen=True)
class DetectParams:
    """What counts as a spike. The defaults are Sentinel's settings' defaults."""

    false_alerts_per_week: float = 1.0
    ratio_threshold: float = 2.0
    min_count: float = 5.0
    share_threshold: float = 0.25
    baseline_days: int = 28
    min_history_buckets: int = 24
    prior_counts: float = 5.0
    censor_ratio: float = 2.5
    level_hours: float = 24.0
    scale_hours: tuple[float, ...] = (1.0, 6.0)
    quiet_hours: float = 2.0
    tail_clusters: int = 20
    min_share_history: int = 20  # articles of history before a share spike can be judged
    model: Literal["auto", "poisson", "gaussian"] = "auto"


@dataclass(frozen=True)
class Judgement:
    """The verdict on one bucket (``index`` into the series it was judged on).

    ``observed``/``expected``/``z`` belong to the window that speaks loudest: the ``span`` buckets
    ending at ``index`` (1 for the bucket alone, more for a sustained rise).
    """

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
    span: int = 1
    score: float = 0.0            # -log p of the window shown
    threshold: float = math.inf   # the -log p it had to exceed (the calibrated bar)
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

def poisson_upper_tail(observed: float, expected: float) -> float:
    """P(X >= observed) for X ~ Poisson(expected)."""
    return float(np.exp(-_count_surprise(np.array([observed]), np.array([expected]),
                                         np.array([0.0]))[0]))


def binomial_upper_tail(successes: float, trials: float, p: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, p)."""
    if successes <= 0:
        return 1.0
    return float(stats.binom.sf(math.ceil(successes) - 1, int(trials), p))


def tail_to_z(p: float) -> float:
    """The one-sided z-score of an upper-tail probability (probit), finite at both ends."""
    return float(stats.norm.isf(min(max(p, 1e-300), 1 - 1e-16)))


def surprise_to_z(surprise: float) -> float:
    """The z-score of an upper tail given as ``-log p`` (exact far beyond float's ``p``)."""
    if not math.isfinite(surprise):
        return math.inf if surprise > 0 else 0.0
    return float(-special.ndtri_exp(-max(surprise, 1e-16)))


def _count_surprise(observed: np.ndarray, expected: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``-log P(X >= observed)``, X negative binomial (mean ``expected``, variance
    ``expected + k expected^2``; Poisson where ``k`` is 0). Non-integer counts round up."""
    need = np.ceil(np.asarray(observed, dtype=float) - 1e-9)
    mean = np.maximum(np.asarray(expected, dtype=float), 1e-12)
    k = np.broadcast_to(np.asarray(k, dtype=float), mean.shape)
    out = np.zeros(mean.shape)
    live = need > 0
    poisson = live & (k <= 1e-9)
    out[poisson] = -stats.poisson.logsf(need[poisson] - 1, mean[poisson])
    nb = live & ~poisson
    size = 1.0 / k[nb]
    out[nb] = -stats.nbinom.logsf(need[nb] - 1, size, size / (size + mean[nb]))
    return np.maximum(out, 0.0)


def _gaussian_surprise(observed: np.ndarray, expected: np.ndarray,
                       variance: np.ndarray) -> np.ndarray:
    scale = np.sqrt(np.maximum(variance, 1e-18))
    return np.maximum(-stats.norm.logsf((observed - expected) / scale), 0.0)


def _share_surprise(negatives: np.ndarray, totals: np.ndarray, share: np.ndarray) -> np.ndarray:
    out = np.zeros(negatives.shape)
    live = (negatives > 0) & (totals > 0) & np.isfinite(share)
    out[live] = -stats.binom.logsf(np.ceil(negatives[live]) - 1, totals[live].astype(int),
                                   np.clip(share[live], 1e-12, 1 - 1e-12))
    return np.maximum(out, 0.0)


# --- window sums (everything causal: position t sees only what came before) ------------------

def _trailing(x: np.ndarray, width: int) -> np.ndarray:
    """Sum of ``x`` over ``[t - width, t)`` for every ``t`` (``width`` >= 1)."""
    cs = np.concatenate([[0.0], np.cumsum(x)])
    t = np.arange(len(x))
    return cs[t] - cs[np.maximum(t - width, 0)]


def _ending_at(x: np.ndarray, width: int) -> np.ndarray:
    """Sum of ``x`` over ``(t - width, t]`` (the window ending at ``t``, inclusive)."""
    cs = np.concatenate([[0.0], np.cumsum(x)])
    t = np.arange(len(x)) + 1
    return cs[t] - cs[np.maximum(t - width, 0)]


def _same_slot(x: np.ndarray, per_day: int, days: int) -> np.ndarray:
    """``sum(x[t - d * per_day] for d in 1..days)`` for every ``t`` (what exists of it)."""
    n = len(x)
    rows = -(-n // per_day)
    table = np.zeros((rows + 1, per_day))
    table[1:].flat[:n] = x
    cs = np.cumsum(table, axis=0)  # cs[r] = sum of rows < r of the series (row r-1 inclusive)
    t = np.arange(n)
    row, col = t // per_day, t % per_day
    return cs[row, col] - cs[np.maximum(row - days, 0), col]


def _box(x: np.ndarray, half: int) -> np.ndarray:
    """Sum over ``[t - half, t + half]`` (zero beyond the ends)."""
    if half <= 0:
        return x
    return np.convolve(x, np.ones(2 * half + 1), mode="same")


# --- scores ----------------------------------------------------------------------------------

@dataclass
class Component:
    """One way of looking at the series: a window of ``span`` buckets, or the negative share."""

    name: str
    span: int
    observed: np.ndarray
    expected: np.ndarray
    surprise: np.ndarray          # -log p per position (0 where it cannot be judged)
    share: bool = False


@dataclass
class Scores:
    """Everything judged about a series, per position (see ``score_series``)."""

    values: np.ndarray
    expected: np.ndarray          # expected count of each whole bucket
    components: list[Component]
    valid: np.ndarray             # positions with data and a baseline
    history_start: int
    per_day: int | None
    bucket: timedelta
    totals: np.ndarray | None = None
    expected_share: np.ndarray | None = None
    counts: bool = True           # a count series (else any numbers: no ratio guard)


def _plan(bucket: timedelta, params: DetectParams) -> tuple[int | None, int, int, list[int]]:
    per_day = buckets_per_day(bucket)
    window = max(1, round(params.baseline_days * DAY / bucket))
    level = max(1, round(timedelta(hours=params.level_hours) / bucket))
    spans = sorted({max(1, round(timedelta(hours=h) / bucket)) for h in params.scale_hours})
    return per_day, window, level, [s for s in spans if s <= window]


def _seasonal(values: np.ndarray, keep: np.ndarray, start: int, per_day: int | None,
              window: int, params: DetectParams, additive: bool) -> np.ndarray:
    """Expected value of every bucket from the kept buckets before it (its time of day)."""
    x = np.where(keep, values, 0.0)
    w = keep.astype(float)
    level_sum, level_n = _trailing(x, window), _trailing(w, window)
    level = np.divide(level_sum, level_n, out=np.zeros_like(level_sum), where=level_n > 0)
    if not per_day:
        return level
    half = int(timedelta(minutes=30) / (DAY / per_day)) if per_day > 24 else 0
    slot_sum = _same_slot(_box(x, half), per_day, params.baseline_days)
    slot_n = _same_slot(_box(w, half), per_day, params.baseline_days)
    prior = 0.0 if additive else params.prior_counts
    with np.errstate(divide="ignore", invalid="ignore"):
        shrunk = (slot_sum + prior) / (slot_n + np.where(level > 0, prior / level, np.inf))
    history_days = (np.arange(len(values)) - start) // per_day
    return np.where((history_days >= 3) & (slot_n > 0) & np.isfinite(shrunk), shrunk, level)


def _level(values: np.ndarray, base: np.ndarray, valid: np.ndarray, span: int,
           additive: bool) -> np.ndarray:
    """The median of observed / seasonal expectation over the last ``span`` buckets (observed -
    expected for non-counts), in blocks holding about five expected events."""
    import pandas as pd

    if additive:
        ratio = np.where(valid, values - base, np.nan)
        shift = pd.Series(ratio).rolling(span, min_periods=max(1, span // 2)).median().shift(1)
        return np.nan_to_num(shift.to_numpy(), nan=0.0)
    mean = float(base[valid].mean()) if valid.any() else 0.0
    block = max(1, math.ceil(5.0 / mean)) if mean > 0 else span
    if block * 3 > span:  # too sparse to read a level off a day: the seasonal baseline stands
        return np.ones(len(values))
    got = _ending_at(np.where(valid, values, 0.0), block)
    expect = _ending_at(np.where(valid, base, 0.0), block)
    whole = _ending_at(valid.astype(float), block) == block
    ratio = np.where(whole & (expect > 0), got / np.where(expect > 0, expect, 1.0), np.nan)
    level = pd.Series(ratio).rolling(span, min_periods=span // 2).median().shift(1).to_numpy()
    return np.maximum(np.nan_to_num(level, nan=1.0), LEVEL_FLOOR)


def _dispersion(observed: np.ndarray, expected: np.ndarray, clean: np.ndarray, window: int,
                min_windows: int, additive: bool) -> np.ndarray:
    """Per position, the noise of this window size over the history before it: NB ``k`` for
    counts (moments: sum((o - e)^2 - e) / sum(e^2), at least 0), the residual variance else.
    NaN until ``min_windows`` clean windows exist (the noise is not known yet)."""
    if additive:
        num = np.where(clean, (observed - expected) ** 2, 0.0)
        den = clean.astype(float)
    else:
        num = np.where(clean, (observed - expected) ** 2 - expected, 0.0)
        den = np.where(clean, expected ** 2, 0.0)
    got, weight = _trailing(num, window), _trailing(den, window)
    enough = (_trailing(clean.astype(float), window) >= min_windows) & (weight > 0)
    estimate = np.divide(got, weight, out=np.zeros_like(got), where=weight > 0)
    return np.where(enough, np.maximum(estimate, 1e-12 if additive else 0.0), np.nan)


def _surprise(observed: np.ndarray, expected: np.ndarray, noise: np.ndarray,
              additive: bool) -> np.ndarray:
    """-log p of every position whose noise is known (0 elsewhere: nothing to judge yet)."""
    known = np.isfinite(noise)
    out = np.zeros(len(observed))
    if additive:
        out[known] = _gaussian_surprise(observed[known], expected[known], noise[known])
    else:
        out[known] = _count_surprise(observed[known], expected[known], noise[known])
    return out


def score_series(values: Sequence[float] | np.ndarray, *, bucket: timedelta,
                 params: DetectParams, totals: Sequence[float] | np.ndarray | None = None,
                 history_start: int = 0, fraction: float = 1.0,
                 model: Literal["poisson", "gaussian"] = "poisson") -> Scores:
    """Score every position of a regular series against the positions before it.

    ``values``: one value per bucket (NaN: no data). ``history_start``: the first position with
    real data.
    ``fraction``: how much of the last bucket has elapsed (a bucket still filling is judged
    against that share of its expectation).
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    per_day, window, level_span, spans = _plan(bucket, params)
    additive = model == "gaussian"
    position = np.arange(n)
    present = np.isfinite(values) & (position >= history_start)
    counts = np.where(present, values, 0.0)
    # judged (and learnt from as scores) once the baseline has its daily profile
    warm = max(params.min_history_buckets, 3 * per_day if per_day else 0)
    ready = present & (position - history_start >= warm)
    censored = np.zeros(n, dtype=bool)
    min_windows = max(per_day or 24, 24) // 2
    for _ in range(3):  # fit, leave out what spikes, refit (twice)
        base = _seasonal(counts, present & ~censored, history_start, per_day, window, params,
                         additive)
        level = _level(counts, base, ready, level_span, additive)
        expected = base + level if additive else np.maximum(base * level, 0.0)
        if not additive:
            floor = 0.5 / np.maximum(_trailing(present.astype(float), window), 1.0)
            expected = np.maximum(expected, floor)
        noise = _dispersion(counts, expected, ready & ~censored, window, min_windows, additive)
        single = _surprise(counts, expected, noise, additive)
        if additive:
            now_censored = ready & (single > -math.log(CENSOR_P))
        else:  # well above its expectation, in size and beyond Poisson noise
            now_censored = ready & (counts > params.censor_ratio * expected
                                    + 3 * np.sqrt(expected))
        if (now_censored == censored).all():
            break
        censored = now_censored
    valid = ready & np.isfinite(noise)

    expect_judged = expected.copy()
    if n and fraction < 1.0:
        expect_judged[-1] *= fraction
    components = []
    for span in spans:
        observed = _ending_at(counts, span)
        expect = _ending_at(np.where(ready, expect_judged, 0.0), span)
        whole = _ending_at(ready.astype(float), span) == span
        clean = whole & (_ending_at(censored.astype(float), span) == 0)
        if n and fraction < 1.0:  # the partial window is judged, never learnt from
            clean[-1] = False
        noise = _dispersion(observed, expect, clean, window, min_windows, additive)
        surprise = _surprise(observed, expect, noise, additive)
        name = "bucket" if span == 1 else _duration(span * bucket)
        components.append(Component(name, span, observed, expect,
                                    np.where(whole & valid, surprise, 0.0)))

    total_arr = expected_share = None
    if totals is not None and not additive:
        total_arr = np.nan_to_num(np.asarray(totals, dtype=float))
        kept = valid & ~censored
        neg_hist = _trailing(np.where(kept, counts, 0.0), window)
        tot_hist = _trailing(np.where(kept, total_arr, 0.0), window)
        expected_share = np.where(tot_hist >= params.min_share_history,
                                  (neg_hist + 0.5) / (tot_hist + 1.0), np.nan)
        surprise = _share_surprise(counts, total_arr, expected_share)
        judgeable = valid & np.isfinite(expected_share) & (total_arr > 0)
        components.append(Component("share", 1, counts, expected_share * total_arr,
                                    np.where(judgeable, surprise, 0.0), share=True))
    return Scores(values=counts, expected=expected, components=components, valid=valid,
                  history_start=history_start, per_day=per_day, bucket=bucket,
                  totals=total_arr, expected_share=expected_share, counts=not additive)


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes % 1440 == 0:
        return f"{minutes // 1440} d"
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


# --- calibration: the series' own history sets the bar ---------------------------------------

@dataclass(frozen=True)
class Calibration:
    """How surprising each component must be, fitted on the history before ``until``."""

    until: int
    thresholds: tuple[float, ...]   # per component, on its -log p
    floor: float                    # -log p the count model itself asks for the budget


def _burst_maxima(scores: np.ndarray, sep: int, count: int) -> np.ndarray:
    """The largest score of each of the top ``count`` bursts (maxima >= ``sep`` positions apart),
    in decreasing order."""
    finite = np.flatnonzero(np.isfinite(scores))
    values = scores[finite]
    take = min(len(values), count * (2 * sep - 1) + 1)  # enough to hold ``count`` bursts
    if take < len(values):
        top = np.argpartition(-values, take - 1)[:take]
        positions, values = finite[top], values[top]
    else:
        positions = finite
    picked: list[float] = []
    while len(values) and len(picked) < count:
        best = int(np.argmax(values))
        picked.append(values[best])
        away = np.abs(positions - positions[best]) >= sep
        positions, values = positions[away], values[away]
    return np.array(picked)


def _level_exceeded(maxima: np.ndarray, bursts: float) -> float:
    """The score that ``bursts`` of the history's bursts reach, from their peaks (decreasing).

    On an exponential tail a burst's peak falls on a straight line against the log of its rank;
    the line is fitted to all the peaks (least squares) and read at ``bursts``, which smooths
    between them and extrapolates beyond the largest when the budget asks for a rarer level.
    """
    ranks = np.arange(1, len(maxima) + 1)
    slope, intercept = np.polyfit(np.log(ranks), maxima, 1)
    return float(intercept + slope * math.log(bursts))


def calibrate(scores: Scores, until: int, params: DetectParams,
              false_alerts_per_week: float | None = None) -> Calibration | None:
    """Thresholds for judging positions from ``until`` on, from the scores before it.

    Each component (bucket, longer windows, share) gets an equal share of the budget, so a
    bucket fires at most ``false_alerts_per_week`` a week by chance whichever component speaks.
    None while the history is too short to say what is routine (the warm-up).
    """
    budget = params.false_alerts_per_week if false_alerts_per_week is None else (
        false_alerts_per_week)
    if until - scores.history_start < params.min_history_buckets or budget <= 0:
        return None
    window = max(1, round(params.baseline_days * DAY / scores.bucket))
    lo = max(scores.history_start, until - window)
    seen = scores.valid[lo:until]
    if not seen.any():
        return None
    weeks = seen.sum() / (WEEK_DAYS * DAY / scores.bucket)
    share = budget / len(scores.components)
    sep = max(1, round(timedelta(hours=params.quiet_hours) / scores.bucket))
    thresholds = []
    for comp in scores.components:
        maxima = _burst_maxima(np.where(seen, comp.surprise[lo:until], np.nan), sep,
                               max(3, params.tail_clusters))
        if len(maxima) < 3:
            return None
        thresholds.append(_level_exceeded(maxima, weeks * share))
    per_bucket = share / (WEEK_DAYS * DAY / scores.bucket)
    return Calibration(until=until, thresholds=tuple(thresholds),
                       floor=-math.log(min(1.0, per_bucket)))


def _loud(comp: Component, t: int, params: DetectParams, counts: bool) -> bool:
    """Enough events, and (for counts) enough above the expectation, to be worth telling."""
    return bool(comp.observed[t] >= params.min_count and (
        not counts or comp.observed[t] >= params.ratio_threshold * comp.expected[t]))


def judge(scores: Scores, t: int, calibration: Calibration | None, params: DetectParams,
          fraction: float = 1.0) -> Judgement:
    """The verdict on position ``t`` (``calibration``: fitted on positions before ``t``)."""
    total = share = expected_share = share_z = None
    if scores.totals is not None:
        total = float(scores.totals[t])
        share = float(scores.values[t]) / total if total > 0 else None
        if scores.expected_share is not None and np.isfinite(scores.expected_share[t]):
            expected_share = float(scores.expected_share[t])
    warmup = calibration is None or not bool(scores.valid[t])
    bars, margins, fired = [], [], []
    for i, comp in enumerate(scores.components):
        s = float(comp.surprise[t])
        bars.append(max(calibration.thresholds[i], calibration.floor) if calibration
                    else math.inf)
        margins.append(s - bars[i] if calibration else -math.inf)
        if comp.share:
            share_z = surprise_to_z(s)
        if warmup or calibration is None or s <= bars[i]:  # (warmup covers None; for mypy)
            continue
        if comp.share:
            loud = (scores.values[t] >= params.min_count and share is not None
                    and expected_share is not None
                    and share - expected_share >= params.share_threshold)
        else:
            loud = _loud(comp, t, params, scores.counts) and (
                comp.span == 1 or scores.values[t] > scores.expected[t] * fraction)
            # a longer window tells of a rise no shorter one caught; a surge a shorter window
            # already told of would otherwise echo through it for hours after it ended
            loud = loud and not any(
                _loud(short, k, params, scores.counts)
                and short.surprise[k] > max(calibration.thresholds[j], calibration.floor)
                for j, short in enumerate(scores.components[:i]) if not short.share
                for k in range(max(0, t - comp.span + 1), t + 1))
        if loud:
            fired.append(i)
    counts = [i for i, c in enumerate(scores.components) if not c.share]
    loudest = max([i for i in fired if i in counts] or counts,
                  key=lambda i: (margins[i], scores.components[i].surprise[t]))
    shown = scores.components[loudest]
    return Judgement(
        index=t, observed=float(shown.observed[t]), expected=float(shown.expected[t]),
        z=surprise_to_z(float(shown.surprise[t])), total=total, share=share,
        expected_share=expected_share, share_z=share_z,
        count_spike=any(i in counts for i in fired),
        share_spike=any(scores.components[i].share for i in fired), warmup=warmup,
        fraction=fraction, span=shown.span, score=float(shown.surprise[t]),
        threshold=bars[loudest],
        extra={"window": shown.name})


# --- the baseline's calendar -----------------------------------------------------------------

def buckets_per_day(bucket: timedelta) -> int | None:
    """How many buckets make a day, when a day is a whole number of them (else None)."""
    if bucket <= timedelta(0):
        raise ValueError(f"bucket size must be positive, got {bucket}")
    if bucket > DAY or DAY % bucket:
        return None
    return DAY // bucket


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


@dataclass
class Series:
    """A plain series laid on a regular grid (what ``detect_series`` judged)."""

    start: datetime
    bucket: timedelta
    scores: Scores
    judgements: list[Judgement]

    def time(self, index: int) -> datetime:
        return self.start + index * self.bucket


def detect_series(times: Iterable[Any], values: Iterable[float], *,
                  totals: Iterable[float] | None = None, bucket: timedelta | None = None,
                  params: DetectParams | None = None, **overrides: Any) -> Series:
    """Judge every bucket of a plain series, each against the buckets before it.

    ``times`` are timestamps (datetimes, ISO strings, numpy/pandas times; naive ones are UTC) and
    ``values`` the count per timestamp (``totals``: optionally all articles, for share spikes).
    The series is laid on a regular grid of ``bucket`` (inferred when None): values sharing a
    bucket are summed; a bucket with no row counts zero (counts) or is skipped. The calibration is
    refitted every hour of buckets (every bucket when buckets are an hour or longer), except
    while a surge lasts (spikes less than ``quiet_hours`` apart): a surge is judged by the bar it
    first rose above, as the pipeline judges an open alert.
    Keyword ``overrides`` replace fields of ``params`` (e.g. ``false_alerts_per_week=0.5``).
    """
    params = replace(params or DetectParams(), **overrides)
    times = list(times)
    raw = np.asarray(list(values), dtype=float)
    if len(times) != len(raw):
        raise ValueError(f"times and values differ in length: {len(times)} vs {len(raw)}")
    if not times:
        return Series(datetime.fromtimestamp(0, tz=UTC), bucket or timedelta(hours=1),
                      score_series([], bucket=bucket or timedelta(hours=1), params=params), [])
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
    seen = np.isfinite(raw)
    grid = np.full(size, 0.0 if model == "poisson" else np.nan)  # no row: no events / no data
    np.put(grid, slots[seen], 0.0)
    np.add.at(grid, slots[seen], raw[seen])
    total_grid = None
    if totals is not None:
        total_raw = np.asarray(list(totals), dtype=float)
        total_grid = np.zeros(size)
        np.add.at(total_grid, slots, np.nan_to_num(total_raw))
    scores = score_series(grid, bucket=bucket, params=params, totals=total_grid, model=model)
    every = max(1, round(timedelta(hours=1) / bucket))
    quiet = max(1, round(timedelta(hours=params.quiet_hours) / bucket))
    judgements = []
    calibration = None
    last_spike = -quiet
    for t in range(size):
        # refitted every hour, but not during a surge: it is judged by the bar it rose above
        if t % every == 0 and t - last_spike >= quiet:
            calibration = calibrate(scores, t, params)
        if not np.isfinite(grid[t]):
            continue
        stamp = datetime.fromtimestamp((origin + t * width) / 1e9, tz=UTC)
        judgement = replace(judge(scores, t, calibration, params), time=stamp)
        if judgement.is_spike:
            last_spike = t
        judgements.append(judgement)
    start = datetime.fromtimestamp(origin / 1e9, tz=UTC)
    return Series(start=start, bucket=bucket, scores=scores, judgements=judgements)


def detect_spikes(times: Iterable[Any], values: Iterable[float], *,
                  totals: Iterable[float] | None = None, bucket: timedelta | None = None,
                  params: DetectParams | None = None, all_buckets: bool = False,
                  **overrides: Any) -> list[Judgement]:
    """The spiking buckets of a plain series (every judgement with ``all_buckets``)."""
    series = detect_series(times, values, totals=totals, bucket=bucket, params=params,
                           **overrides)
    return [j for j in series.judgements if all_buckets or j.is_spike]
