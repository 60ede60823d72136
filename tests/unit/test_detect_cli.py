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
    """Three weeks at 15-minute steps with a daily rhythm; spikes at two known rows."""
    rng = np.random.default_rng(4)
    rows = ["when,events,all_events"]
    spikes = {1500, 1800}
    for i in range(96 * 21):
        level = 12 * (1 + 0.5 * math.sin(2 * math.pi * ((i % 96) / 96 - 0.4)))
        value = rng.poisson(level * (5 if i in spikes else 1))
        rows.append(f"{(START + timedelta(minutes=15 * i)).isoformat()},{value},{value + 40}")
    path = tmp_path / "series.csv"
    path.write_text("\n".join(rows) + "\n")
    expected = [(START + timedelta(minutes=15 * i)).isoformat() + "+00:00" for i in sorted(spikes)]
    return path, expected


def run(*args: str):
    return CliRunner().invoke(app, ["spikes", *args])


def test_prints_the_flagged_timestamps(series_csv):
    path, expected = series_csv
    # z >= 5: this noise holds one z = 4.2 bucket (p = 1.3e-5), which the default would flag
    result = run("--csv", str(path), "--time-col", "when", "--value-col", "events",
                 "--z-threshold", "5")
    assert result.exit_code == 0, result.output
    assert result.output.split() == expected


def test_json_list(series_csv):
    path, expected = series_csv
    result = run("--csv", str(path), "--time-col", "when", "--value-col", "events", "--json",
                 "--z-threshold", "5")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == expected
    default = run("--csv", str(path), "--time-col", "when", "--value-col", "events", "--json")
    assert set(expected) < set(json.loads(default.output))


def test_nothing_flagged_on_a_quiet_series(tmp_path):
    path = tmp_path / "flat.csv"
    path.write_text("t,v\n" + "".join(f"2026-02-01T{h:02d}:00:00Z,3\n" for h in range(24)) +
                    "".join(f"2026-02-02T{h:02d}:00:00Z,3\n" for h in range(24)))
    result = run("--csv", str(path), "--time-col", "t", "--value-col", "v", "--json")
    assert result.exit_code == 0 and json.loads(result.output) == []
    plain = run("--csv", str(path), "--time-col", "t", "--value-col", "v")
    assert plain.exit_code == 0 and plain.output == ""


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
