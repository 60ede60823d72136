"""Progress of long work: a tqdm bar on a terminal, a log line every few seconds otherwise.

One helper for every long loop (a backlog or backfill classification, an evaluation, a rollup
rebuild, a large ingest)::

    with track(total, "classify", unit="article") as progress:
        for chunk in chunks:
            ...
            progress.update(len(chunk))

On a terminal (the stream is a TTY) it draws tqdm's bar: done/total, rate and time left. Anywhere
else (Airflow task logs, a pipe, cron) it logs through ``logging`` (logger ``sentinel.progress``,
INFO), key=value: a line when the work starts (when it is at least ``announce_from`` items), one
every ``every_s`` seconds, and one at the end when anything was logged before (and the last
line did not already say it)::

    classify progress done=1536 total=4000 pct=38 rate=412/s eta=6s elapsed=3.7s
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any

log = logging.getLogger("sentinel.progress")

EVERY_S = 10.0  # seconds between two log lines when not on a terminal


def _seconds(value: float) -> str:
    value = max(0.0, value)
    if value < 60:
        return f"{value:.1f}s" if value < 10 else f"{value:.0f}s"
    minutes, seconds = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """Counts done items of ``total`` (None: unknown) for ``what`` (e.g. ``classify``)."""

    def __init__(self, total: int | None, what: str, *, unit: str = "item",
                 stream: IO[str] | None = None, every_s: float = EVERY_S,
                 announce_from: int = 1, clock: Callable[[], float] = time.monotonic,
                 terminal: bool | None = None):
        self.total, self.what, self.unit = total, what, unit
        self.every_s, self.clock = every_s, clock
        self.done = 0
        self.logged: int | None = None  # done at the last log line
        self.started = self.last_log = clock()
        stream = stream if stream is not None else sys.stderr
        if terminal is None:
            terminal = bool(getattr(stream, "isatty", lambda: False)())
        self.bar: Any = None
        if terminal and total != 0:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=what, unit=unit, file=stream, dynamic_ncols=True,
                            mininterval=0.5, smoothing=0.1)
        elif total is not None and total > 0 and total >= announce_from:
            self._log()

    def fields(self) -> str:
        elapsed = self.clock() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        parts = [f"done={self.done}"]
        if self.total is not None:
            parts.append(f"total={self.total}")
            if self.total:
                parts.append(f"pct={100 * self.done // self.total}")
        parts.append(f"rate={rate:.1f}/s" if rate < 100 else f"rate={rate:.0f}/s")
        if self.total is not None and rate > 0 and self.done < self.total:
            parts.append(f"eta={_seconds((self.total - self.done) / rate)}")
        parts.append(f"elapsed={_seconds(elapsed)}")
        return " ".join(parts)

    def _log(self) -> None:
        log.info("%s progress %s unit=%s", self.what, self.fields(), self.unit)
        self.logged = self.done
        self.last_log = self.clock()

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.clock() - self.last_log >= self.every_s:
            self._log()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.logged is not None and self.logged != self.done:
            self._log()  # the last line says where it ended

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def track(total: int | None, what: str, *, unit: str = "item", **options: Any) -> Progress:
    """A :class:`Progress` for ``total`` items of ``what``; use it as a context manager."""
    return Progress(total, what, unit=unit, **options)
