"""The progress helper: a tqdm bar on a terminal, key=value log lines every few seconds
otherwise (with a fake clock, so no test waits)."""

from __future__ import annotations

import io
import logging

import pytest

from sentinel.progress import track


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lines(caplog):
    caplog.set_level(logging.INFO, logger="sentinel.progress")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "sentinel.progress"]


def test_without_a_terminal_it_logs_at_start_every_few_seconds_and_at_the_end(lines):
    clock = Clock()
    with track(4000, "classify", unit="article", every_s=10, clock=clock,
               stream=io.StringIO()) as progress:
        for _ in range(8):  # 500 articles every 3 seconds: lines at 12 s and 24 s
            clock.now += 3
            progress.update(500)
    assert lines() == [
        "classify progress done=0 total=4000 pct=0 rate=0.0/s elapsed=0.0s unit=article",
        "classify progress done=2000 total=4000 pct=50 rate=167/s eta=12s elapsed=12s "
        "unit=article",
        "classify progress done=4000 total=4000 pct=100 rate=167/s elapsed=24s unit=article",
    ]  # the last periodic line is the end: not repeated


def test_short_small_work_stays_quiet(lines):
    clock = Clock()
    with track(40, "classify", unit="article", every_s=10, announce_from=513, clock=clock,
               stream=io.StringIO()) as progress:
        clock.now += 1
        progress.update(40)
    assert lines() == []


def test_small_work_that_takes_long_still_reports(lines):
    clock = Clock()
    with track(3, "ingest", unit="feed", announce_from=100, every_s=10, clock=clock,
               stream=io.StringIO()) as progress:
        for _ in range(3):
            clock.now += 6
            progress.update()
    assert [line.split(" rate=")[0] for line in lines()] == [
        "ingest progress done=2 total=3 pct=66", "ingest progress done=3 total=3 pct=100"]


def test_unknown_total_logs_counts_and_rate_only(lines):
    clock = Clock()
    with track(None, "scan", every_s=1, clock=clock, stream=io.StringIO()) as progress:
        clock.now += 2
        progress.update(10)
    assert lines()[0] == "scan progress done=10 rate=5.0/s elapsed=2.0s unit=item"


def test_on_a_terminal_it_draws_a_bar_with_done_total_rate_and_time_left(lines):
    stream = io.StringIO()
    with track(3000, "classify", unit="article", stream=stream, terminal=True) as progress:
        for _ in range(6):
            progress.update(500)
    drawn = stream.getvalue()
    assert "classify: 100%" in drawn and "3000/3000" in drawn
    assert "article/s]" in drawn and "<00:00" in drawn  # rate and time left
    assert lines() == []  # the bar replaces the log lines


def test_a_real_stream_that_is_not_a_tty_gets_log_lines(lines, tmp_path):
    with open(tmp_path / "log", "w") as stream, track(2, "x", stream=stream) as progress:
        progress.update(2)
    assert (tmp_path / "log").read_text() == "" and len(lines()) == 2


def test_evaluate_predicts_in_blocks_with_progress(lines):
    import numpy as np

    from sentinel.classify.evaluate import predict_in_blocks

    class Counting:
        tasks = {"sentiment": ["negative", "neutral", "positive"]}
        calls: list[int] = []

        def predict_proba(self, texts):
            self.calls.append(len(texts))
            return {"sentiment": np.array([[float(t), 0, 0] for t in texts], dtype=np.float32)}

    model = Counting()
    probs = predict_in_blocks(model, [str(i) for i in range(2500)], "sentiment", block=1024)
    assert model.calls == [1024, 1024, 452] and probs[:, 0].tolist() == list(range(2500))
    assert lines()[0].startswith("evaluate progress done=0 total=2500 pct=0")
    assert lines()[-1].startswith("evaluate progress done=2500 total=2500 pct=100")
    assert predict_in_blocks(model, [], "sentiment").shape == (0, 3)
