"""Parse + normalise, in worker processes when a run has enough feeds to be worth it.

feedparser is pure Python, so threads share one core for it; a small process pool spreads the
parsing of a large run over the machine's cores. The pool uses the ``forkserver`` start method
(the ingest stage runs threads, and forking a threaded process is unsafe). Where child
processes cannot be started (a daemonic Celery/Airflow worker, a sandbox), the first failure
is logged and the run goes on parsing in its own threads: same results, slower.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from sentinel.ingest.normalize import ArticleRecord, NormalizeContext, normalize_entry
from sentinel.ingest.parse import parse_feed

log = logging.getLogger(__name__)


@dataclass
class ParsedBatch:
    """One feed body, parsed and normalised: small and picklable (no feedparser objects)."""

    bozo: bool = False
    bozo_reason: str | None = None
    error: str | None = None
    version: str | None = None
    records: list[ArticleRecord | None] = field(default_factory=list)


def parse_and_normalize(body: bytes, context: NormalizeContext,
                        fast_parse: bool = True) -> ParsedBatch:
    parsed = parse_feed(body, fast=fast_parse)
    batch = ParsedBatch(bozo=parsed.bozo, bozo_reason=parsed.bozo_reason, error=parsed.error,
                        version=parsed.version)
    if parsed.error is None:
        batch.records = [normalize_entry(entry, context) for entry in parsed.entries]
    return batch


class ParsePool:
    """``run(body, context)`` in a process pool, or inline once the pool cannot be used."""

    def __init__(self, processes: int, *, fast_parse: bool = True) -> None:
        self.processes = processes
        self.fast_parse = fast_parse
        self.executor: ProcessPoolExecutor | None = None
        if processes > 1:
            try:
                self.executor = ProcessPoolExecutor(
                    processes, mp_context=multiprocessing.get_context("forkserver"))
            except (OSError, ValueError) as exc:
                self._give_up(exc)

    def _give_up(self, exc: BaseException) -> None:
        log.warning("parsing in threads: worker processes cannot be used here (%s: %s)",
                    type(exc).__name__, exc)
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
        self.executor = None

    def run(self, body: bytes, context: NormalizeContext) -> ParsedBatch:
        executor = self.executor
        if executor is not None:
            future: Future | None = None
            try:
                future = executor.submit(parse_and_normalize, body, context, self.fast_parse)
                return future.result()
            except BrokenProcessPool as exc:
                self._give_up(exc)
            except (AssertionError, OSError, RuntimeError) as exc:
                if future is not None:  # raised by the parsing itself, not by the pool
                    raise
                self._give_up(exc)
        return parse_and_normalize(body, context, self.fast_parse)

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = None

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
