"""Spike detection on real mention-volume series, scored by the Numenta Anomaly Benchmark rules.

Each labelled series under ``<nab-root>/data/`` (by default the five NAB realTweets series in
``../shared/datasets/nab-realtweets-dev/``: 5-minute counts of tweets mentioning a listed company,
about 8 weeks each, with hand-labelled anomaly windows) goes through ``sentinel spikes --json``
itself, in a subprocess, with the default settings: the same detector, budget and alert lifecycle
as the pipeline, and nothing chosen per series. The alert-opening timestamps are scored with the
NAB scorer (``../shared/tools/nab_score.py``, standard profile): 0 is a detector that never fires,
100 a perfect one; each alert outside a labelled window costs, each missed window costs more.

The same-run baseline is the detector that never fires (score 0); published detectors on the
same five series score 55.9 (Numenta HTM) to 80.2 (ARTime), table in the dataset's README.

    python bench/detect_real.py                         # the five dev series
    python bench/detect_real.py --nab-root DIR          # any NAB-layout corpus
    python bench/detect_real.py --false-alerts-per-week 0.5

Last line: RESULT nab_standard=<f> alerts_per_series_week=<f> windows_hit=<n>/<m>
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SENTINEL = [sys.executable, "-m", "sentinel"]


def alert_times(csv: Path, budget: float | None) -> list[str]:
    """``sentinel spikes --json`` on one series: the times at which an alert opened."""
    cmd = [*SENTINEL, "spikes", "--csv", str(csv), "--time-col", "timestamp",
           "--value-col", "value", "--json"]
    if budget is not None:
        cmd += ["--false-alerts-per-week", str(budget)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    if done.returncode != 0:
        raise SystemExit(f"sentinel spikes failed on {csv}:\n{done.stderr}")
    return json.loads(done.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nab-root", type=Path, default=SHARED / "datasets" / "nab-realtweets-dev",
                    help="a directory with data/<corpus>/*.csv and labels/combined_windows.json")
    ap.add_argument("--scorer", type=Path, default=SHARED / "tools" / "nab_score.py")
    ap.add_argument("--false-alerts-per-week", type=float, default=None,
                    help="the budget (default: the setting, SENTINEL_FALSE_ALERTS_PER_WEEK)")
    args = ap.parse_args()

    windows = json.loads((args.nab_root / "labels" / "combined_windows.json").read_text())
    files = sorted(name for name in windows if (args.nab_root / "data" / name).exists())
    if not files:
        raise SystemExit(f"no labelled series under {args.nab_root / 'data'}")
    corpora = sorted({name.split("/")[0] for name in files})

    detections: dict[str, list[str]] = {}
    weeks = 0.0
    started = time.perf_counter()
    print(f"{'series':<38} {'weeks':>5} {'alerts':>6} {'a/week':>6}")
    for name in files:
        csv = args.nab_root / "data" / name
        stamps = pd.to_datetime(pd.read_csv(csv, usecols=["timestamp"])["timestamp"])
        span = (stamps.max() - stamps.min()).total_seconds() / (7 * 86400)
        found = alert_times(csv, args.false_alerts_per_week)
        # the scorer reads naive timestamps on the CSV's clock (UTC); ours carry +00:00
        detections[name] = [t.replace("+00:00", "") for t in found]
        weeks += span
        print(f"{name:<38} {span:5.1f} {len(found):6d} {len(found) / span:6.2f}")
    seconds = time.perf_counter() - started

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
        json.dump(detections, out)
    scored = subprocess.run([sys.executable, str(args.scorer), out.name, "--snap",
                             "--nab-root", str(args.nab_root), "--files", ",".join(corpora)],
                            capture_output=True, text=True)
    Path(out.name).unlink()
    if scored.returncode != 0:
        raise SystemExit(f"the scorer failed:\n{scored.stdout}\n{scored.stderr}")
    print(scored.stdout.rstrip())

    score = float(re.search(r"RESULT nab_standard=(-?[\d.]+)", scored.stdout).group(1))
    per_file = re.findall(r"^\S+\.csv\s.*\s(\d+)/(\d+)\s*$", scored.stdout, re.M)
    hit, total = sum(int(h) for h, _ in per_file), sum(int(m) for _, m in per_file)
    alerts = sum(len(v) for v in detections.values())
    print(f"{alerts} alerts on {len(files)} series over {weeks:.1f} series-weeks "
          f"({alerts / weeks:.2f} per series-week); never-fires baseline scores 0; "
          f"{seconds:.0f} s for the detector runs")
    print(f"RESULT nab_standard={score:.2f} alerts_per_series_week={alerts / weeks:.2f} "
          f"windows_hit={hit}/{total}")


if __name__ == "__main__":
    main()
