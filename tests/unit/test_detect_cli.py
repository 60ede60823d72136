"""`sentinel spikes --csv ...`: the detector on any CSV series, as a user runs it."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import numpy as np
import pytest
from typer.testing import CliRunner

from sentinel.cli import app

START = datetime(2026, 1, 5)


@pytest.fixture
def series_csv(tmp_path):
    """Three weeks at 15-minute steps with a daily rhythm; an hour-long surge (8x) at two known
    rows."""
    rng = np.random.default_rng(4)
    rows = ["when,events,all_events"]
    spikes = {1500, 1800}
    surging = {i + k for i in spikes for k in range(4)}
    for i in range(96 * 21):
        level = 12 * (1 + 0.5 * math.sin(2 * math.pi * ((i % 96) / 96 - 0.4)))
        value = rng.poisson(level * (8 if i in surging else 1))
        rows.append(f"{(START + timedelta(minutes=15 * i)).isoformat()},{value},{value + 40}")
    path = tmp_path / "series.csv"
    path.write_text("\n".join(rows) + "\n")
    surges = [(START + timedelta(minutes=15 * i), START + timedelta(minutes=15 * (i + 4)))
              for i in sorted(spikes)]
    return path, surges


def inside(stamps: list[str], surges) -> bool:
    """One stamp in each surge's hour, none elsewhere."""
    times = [datetime.fromisoformat(s).replace(tzinfo=None) for s in stamps]
    return len(times) == len(surges) and all(a <= t < b for t, (a, b) in
                                             zip(times, surges, strict=True))


def run(*args: str):
    return CliRunner().invoke(app, ["spikes", *args])


def test_one_line_per_alert_with_its_numbers(series_csv):
    path, surges = series_csv
    result = run("--csv", str(path), "--time-col", "when", "--value-col", "events")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert inside([line.split()[0] for line in lines], surges)
    first = lines[0]
    assert " alert  peak 2026-01-" in first and "observed vs" in first
    assert "expected over the 1 h to its end (z " in first and "ended 2026-01-" in first


def test_json_lists_the_times_alerts_opened(series_csv):
    path, surges = series_csv
    result = run("--csv", str(path), "--time-col", "when", "--value-col", "events", "--json")
    assert result.exit_code == 0, result.output
    assert inside(json.loads(result.output), surges)


def test_buckets_keeps_the_per_bucket_view(series_csv):
    path, surges = series_csv
    result = run("--csv", str(path), "--time-col", "when", "--value-col", "events", "--buckets",
                 "--json")
    flagged = [datetime.fromisoformat(s).replace(tzinfo=None) for s in json.loads(result.output)]
    for start, end in surges:  # each surge, and its hour's window while it lasts
        assert any(start <= t < end for t in flagged)
    assert all(any(a <= t < b + timedelta(hours=1) for a, b in surges) for t in flagged)
    flagged = json.loads(result.output)
    plain = run("--csv", str(path), "--time-col", "when", "--value-col", "events", "--buckets")
    assert [line.split()[0] for line in plain.output.strip().splitlines()] == flagged


def test_a_smaller_budget_is_quieter(series_csv):
    path, _ = series_csv
    loud = run("--csv", str(path), "--time-col", "when", "--value-col", "events", "--json",
               "--buckets", "--false-alerts-per-week", "20")
    quiet = run("--csv", str(path), "--time-col", "when", "--value-col", "events", "--json",
                "--buckets", "--false-alerts-per-week", "0.1")
    assert set(json.loads(quiet.output)) <= set(json.loads(loud.output))


def test_nothing_fired_says_so_with_the_series_length_and_bucket(tmp_path):
    path = tmp_path / "flat.csv"
    path.write_text("t,v\n" + "".join(f"2026-02-{d:02d}T{h:02d}:00:00Z,3\n" for d in range(1, 8)
                                      for h in range(24)))
    result = run("--csv", str(path), "--time-col", "t", "--value-col", "v", "--json")
    assert result.exit_code == 0 and json.loads(result.output) == []
    plain = run("--csv", str(path), "--time-col", "t", "--value-col", "v")
    assert plain.exit_code == 0
    assert plain.output.strip() == "no alert: 168 buckets of 1 h judged"


def test_a_missing_column_is_one_line_naming_the_columns(series_csv):
    path, _ = series_csv
    result = run("--csv", str(path), "--time-col", "time", "--value-col", "events")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: --time-col 'time' is not a column of {path}; its columns: when, events, "
        "all_events"]


def test_bad_values_are_reported(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("t,v\n2026-02-01T00:00:00Z,3\n2026-02-01T01:00:00Z,many\n")
    result = run("--csv", str(path), "--time-col", "t", "--value-col", "v")
    assert result.exit_code == 1 and result.output.startswith("error: ")
    assert "numbers in 'v'" in result.output
