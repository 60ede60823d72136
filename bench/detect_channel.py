"""Channel-level false-alarm budget: real series replayed as one deployment's many segments.

The five real NAB mention-volume series (``../shared/datasets/nab-realtweets-dev/``, see
``bench/detect_real.py``) become ``--segments`` ticker segments of one deployment: copy *k* is
series *k mod 5*, moved by a whole number of days (0..6, so copies do not surge together) and
thinned to news volume (each mention kept with a probability drawn so that the copy's median
hour holds 2..60 negative articles, log-uniform; thinning keeps the series' bursts and its own
over-dispersion). Their hourly counts go into ``alert_rollup`` of a real PostgreSQL database, and
the real detect lifecycle (``sentinel.alerts.lifecycle.run_lifecycle``: the channel budget shared
among live segments, judge, open/repeat/resolve, outbox) runs once an hour over the weeks that
have a full baseline behind them, with the default settings.

The deployment's "all" segment (the sum of the copies) is judged too. An alert that opens
inside a labelled anomaly window of its copy (moved with it) is a true alert; every other alert
is false (every alert of "all" included), and it is false alerts that the budget
(``SENTINEL_CHANNEL_FALSE_ALERTS_PER_WEEK``, default 7: one a day) bounds. Same-run baseline: the
same copies judged one by one by ``sentinel spikes``' code path at the per-segment budget
(``SENTINEL_FALSE_ALERTS_PER_WEEK``) without a channel budget: what the channel would get if
each segment kept only its own budget.

    python bench/detect_channel.py                 # 200 segments (starts an embedded PostgreSQL
                                                   # unless SENTINEL_BENCH_DATABASE_URL is set;
                                                   # its database bench_channel is replaced)
    python bench/detect_channel.py --segments 50 --every-hours 3

Last line: RESULT channel_false_alerts_per_day=<f> budget_per_day=<f> ratio=<f>
    distinct_false_bursts_per_day=<f>
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from detect import _database, bench_server_url  # noqa: E402

from sentinel.alerts.states import replay  # noqa: E402
from sentinel.detect import detect_series  # noqa: E402
from sentinel.options import alert_config, alert_rules, detect_params  # noqa: E402
from sentinel.settings import Settings  # noqa: E402

NAB = REPO.parent / "shared" / "datasets" / "nab-realtweets-dev"
HOUR = timedelta(hours=1)


@dataclass
class Copy:
    name: str                              # the ticker segment's value
    counts: pd.DataFrame                   # hourly total and negative, indexed by bucket start
    windows: list[tuple[datetime, datetime]]  # labelled anomaly windows, moved with the copy
    source: str = ""                       # the real series it copies
    shift: timedelta = timedelta(0)        # how far it is moved


def make_copies(nab_root: Path, segments: int, seed: int) -> list[Copy]:
    """``segments`` thinned, shifted copies of the labelled series under ``nab_root``."""
    labels = json.loads((nab_root / "labels" / "combined_windows.json").read_text())
    originals = []
    for name in sorted(labels):
        if not (nab_root / "data" / name).exists():
            continue
        frame = pd.read_csv(nab_root / "data" / name, parse_dates=["timestamp"])
        hourly = frame.set_index("timestamp")["value"].resample("1h").sum()
        hourly.index = hourly.index.tz_localize(UTC)
        windows = [(pd.Timestamp(a).tz_localize(UTC).to_pydatetime(),
                    pd.Timestamp(b).tz_localize(UTC).to_pydatetime()) for a, b in labels[name]]
        originals.append((name, hourly, windows))
    rng = np.random.default_rng(seed)
    copies = []
    for k in range(segments):
        name, hourly, windows = originals[k % len(originals)]
        shift = timedelta(days=int(rng.integers(0, 7)))
        target = math.exp(rng.uniform(math.log(2), math.log(60)))  # negatives in a median hour
        p_negative = min(1.0, target / max(float(hourly.median()), 1.0))
        total = rng.binomial(hourly.to_numpy().astype(np.int64), min(1.0, 3 * p_negative))
        negative = rng.binomial(total, p_negative / min(1.0, 3 * p_negative))
        counts = pd.DataFrame({"total": total, "negative": negative},
                              index=hourly.index + shift)
        copies.append(Copy(f"SIM{k:03d}", counts, [(a + shift, b + shift) for a, b in windows],
                           name.split("/")[-1].removesuffix(".csv"), shift))
    return copies


def is_true(copy: Copy | None, opened: datetime) -> bool:
    """Inside one of the copy's labelled windows (the "all" segment has none: always false)."""
    return copy is not None and any(a <= opened <= b for a, b in copy.windows)


def load(engine, copies: list[Copy]) -> int:
    """A fresh schema with one active model and the copies' hourly rollups."""
    import sqlalchemy as sa

    from sentinel.db.migrate import upgrade

    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(engine)
    with engine.begin() as conn:
        model_id = conn.scalar(sa.text(
            "INSERT INTO model (name, version, source, tasks, active) VALUES ('bench', '1', "
            "'bench', '{}'::jsonb, true) RETURNING id"))
        # every deployment also has the "all" segment: here, the sum of the copies
        everything = pd.concat([c.counts for c in copies]).groupby(level=0).sum()
        parts = [("all", "all", everything)] + [("ticker", c.name, c.counts) for c in copies]
        rows = [{"m": model_id, "k": kind, "v": value, "b": start.to_pydatetime(),
                 "t": int(t), "n": int(n)}
                for kind, value, counts in parts for start, t, n in counts.itertuples() if t > 0]
        for i in range(0, len(rows), 20_000):
            conn.execute(sa.text(
                "INSERT INTO alert_rollup (model_id, bucket_minutes, segment_kind, segment_value,"
                " bucket_start, total, negative) VALUES (:m, 60, :k, :v, :b, :t, :n)"),
                rows[i:i + 20_000])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE alert_rollup"))
    return model_id


def simulate(engine, model_id: int, settings: Settings, copies: list[Copy], start: datetime,
             end: datetime, every: timedelta) -> tuple[list[tuple[str, datetime]], dict]:
    """Run the lifecycle every ``every`` from ``start`` to ``end``; the alerts that opened."""
    import sqlalchemy as sa

    from sentinel.alerts.lifecycle import run_lifecycle

    config = replace(alert_config(settings), judge_partial=False)
    opened: list[tuple[str, datetime]] = []
    last_id, runs, budgets, lives, seconds = 0, 0, [], [], []
    now = start
    while now <= end:
        began = time.perf_counter()
        with engine.begin() as conn:
            counts = run_lifecycle(conn, model_id, config, now)
            new = conn.execute(sa.text("SELECT id, segment_value FROM alert WHERE id > :i "
                                       "ORDER BY id"), {"i": last_id}).all()
        seconds.append(time.perf_counter() - began)
        for row in new:
            opened.append((row.segment_value, now))
            last_id = row.id
        budgets.append(counts.get("segment_budget", math.nan))
        lives.append(counts.get("live_segments", 0))
        runs += 1
        if runs % 24 == 0:
            print(f"  {now:%Y-%m-%d %H:%M}: {len(opened)} alerts so far, "
                  f"{np.median(seconds[-24:]) * 1000:.0f} ms a run", flush=True)
        now += every
    return opened, {"runs": runs, "segment_budget": float(np.nanmedian(budgets)),
                    "live_segments": int(np.median(lives)),
                    "run_ms": float(np.median(seconds) * 1000)}


def per_segment_only(copies: list[Copy], settings: Settings, start: datetime,
                     end: datetime) -> list[tuple[str, datetime]]:
    """The baseline: each copy alone through ``sentinel spikes``' path at its own budget."""
    opened = []
    params, rules = detect_params(settings), alert_rules(settings)
    for c in copies:
        series = detect_series(c.counts.index, c.counts["negative"], totals=c.counts["total"],
                               params=params, bucket=HOUR)
        for episode in replay(series.judgements, series.bucket, rules):
            # the pipeline judges a bucket once it is complete, an hour after it starts
            when = episode.opened
            if start <= when <= end:
                opened.append((c.name, when))
    return opened


def source_events(false: list[tuple[str, datetime]], by_name: dict[str, Copy]
                  ) -> list[tuple[str, datetime, int]]:
    """False alerts of the copies traced back to the real series' own clock: alerts of copies of
    one series whose unshifted times lie within a day of each other are one real burst that the
    copies replay. Returns (series, first unshifted time, copies that alerted on it)."""
    back = sorted((by_name[name].source, when - by_name[name].shift)
                  for name, when in false if name in by_name)
    events: list[tuple[str, datetime, int]] = []
    for source, when in back:
        if events and events[-1][0] == source and when - events[-1][1] <= timedelta(days=1):
            events[-1] = (source, events[-1][1], events[-1][2] + 1)
        else:
            events.append((source, when, 1))
    return events


def summarise(label: str, opened: list[tuple[str, datetime]], by_name: dict[str, Copy],
              days: float) -> tuple[float, float]:
    """False alerts per day, and distinct real bursts behind them per day (the "all" segment's
    alerts count as distinct events each)."""
    false = [(name, when) for name, when in opened if not is_true(by_name.get(name), when)]
    true = len(opened) - len(false)
    events = source_events(false, by_name)
    distinct = len(events) + sum(name not in by_name for name, _ in false)
    print(f"{label}: {len(opened)} alerts in {days:.1f} days ({len(opened) / days:.2f}/day): "
          f"{true} inside labelled windows, {len(false)} outside ({len(false) / days:.2f}/day), "
          f"from {distinct} distinct bursts ({distinct / days:.2f}/day)")
    for source, when, n in sorted(events, key=lambda e: -e[2])[:5]:
        print(f"  {n:3d} {'copy' if n == 1 else 'copies'} of {source} alerted outside its "
              f"windows on its burst of "
              f"{when:%Y-%m-%d %H:%M} UTC")
    return len(false) / days, distinct / days


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nab-root", type=Path, default=NAB)
    ap.add_argument("--segments", type=int, default=200)
    ap.add_argument("--every-hours", type=int, default=1, help="hours between detect runs")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    from sentinel.db.engine import make_engine

    # the copies have counts but no articles: the messages' evidence check would warn on each
    logging.getLogger("sentinel.alerts.lifecycle").setLevel(logging.ERROR)
    settings = Settings(_env_file=None)
    copies = make_copies(args.nab_root, args.segments, args.seed)
    by_name = {c.name: c for c in copies}
    first = max(c.counts.index.min() for c in copies).to_pydatetime()
    last = min(c.counts.index.max() for c in copies).to_pydatetime()
    start = first + timedelta(days=settings.baseline_days)  # a full baseline behind every run
    end = last
    days = (end - start) / timedelta(days=1)
    budget_per_day = settings.channel_false_alerts_per_week / 7
    median_hour = np.median([c.counts["negative"].median() for c in copies])
    print(f"{len(copies)} segments (copies of {len({c.name for c in copies[:5]})} real series, "
          f"median negatives per hour {median_hour:.0f}"
          f"), detect every {args.every_hours} h from {start:%Y-%m-%d} to {end:%Y-%m-%d} "
          f"({days:.1f} days); channel budget {settings.channel_false_alerts_per_week:g} false "
          f"alerts a week ({budget_per_day:.2f}/day), per-segment budget "
          f"{settings.false_alerts_per_week:g}/week")

    baseline = per_segment_only(copies, settings, start, end)
    base_rate, _ = summarise("baseline, each segment at its own budget, no channel budget",
                             baseline, by_name, days)

    url = bench_server_url()
    engine = make_engine(_database(url, "bench_channel"))
    model_id = load(engine, copies)
    opened, info = simulate(engine, model_id, settings, copies, start, end,
                            timedelta(hours=args.every_hours))
    engine.dispose()
    print(f"lifecycle: {info['runs']} runs, {info['live_segments']} live segments sharing the "
          f"channel budget, {info['segment_budget']:.4f} false alerts a week each; median run "
          f"{info['run_ms']:.0f} ms")
    rate, distinct = summarise("channel (real lifecycle on PostgreSQL)", opened, by_name, days)
    print(f"false alerts per day: channel {rate:.2f} vs budget {budget_per_day:.2f} "
          f"(ratio {rate / budget_per_day:.2f}); without the channel budget "
          f"{base_rate:.2f} ({base_rate / max(rate, 1e-9):.1f}x as many)")
    print(f"RESULT channel_false_alerts_per_day={rate:.3f} budget_per_day={budget_per_day:.3f} "
          f"ratio={rate / budget_per_day:.2f} distinct_false_bursts_per_day={distinct:.3f}")


if __name__ == "__main__":
    main()
