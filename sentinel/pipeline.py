"""The stages, as the CLI and the Airflow DAGs call them: ingest -> classify -> detect -> notify.

Each ``run_*`` takes an Engine and a Settings object (entry points read settings; nothing here
does), records a ``pipeline_run`` row, and returns a small :class:`StageResult` whose
``summary()`` is safe to pass through XCom. The failure contract (docs/operations.md, "Exit
codes and the failure contract"):

* ``ok``: all of its work done.
* ``partial``: it ran to its end, but some of its work failed (feeds not ingested,
  notifications not delivered); the message says how much, and the later stages still run.
* ``skipped``: it could not or need not run (no model shipped, nothing to classify); the
  message says why, nothing is faked.
* ``failed``: it raised. The row records the error and the exception propagates, so the
  caller decides: the CLI prints one ``error:`` line and exits 1, an Airflow task fails (and
  is retried). A returned result is never ``failed``.

While a stage runs, a thread renews a lease on its row (``heartbeat_at``). A row still
``running`` whose lease ran out belongs to a process that died (kill -9, a crash, a lost
database connection): the next stage run marks it ``abandoned`` with the reason, and
``sentinel status`` shows it so before that.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from sentinel.db.models import PipelineRun
from sentinel.errors import SentinelError, StageSkipped
from sentinel.settings import Settings, checkout_model_dir

log = logging.getLogger(__name__)


Outcome = Literal["ok", "partial", "skipped"]  # what a stage that returns reports
Status = Outcome | Literal["failed"]  # how a stage run ends in pipeline_run (failed: it raised)
DEFAULT_LEASE_S = 300.0


@dataclass
class StageResult:
    stage: str
    status: Outcome = "ok"  # partial: it ran, but some of its work failed (see message)
    counts: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    run_id: int | None = None
    problems: list[str] = field(default_factory=list)  # user-fixable, one line each

    def summary(self) -> dict[str, Any]:
        """Small, JSON-safe: what a DAG task returns as its XCom."""
        return {"stage": self.stage, "status": self.status, "run_id": self.run_id,
                "message": self.message, **self.counts,
                **({"problems": self.problems} if self.problems else {})}

    def line(self) -> str:
        fields = " ".join(f"{k}={v}" for k, v in self.counts.items())
        text = f"{self.stage}: {self.status}"
        if fields:
            text += f" {fields}"
        if self.message:
            text += f" ({self.message})"
        return text


def abandoned_reason(last_beat: datetime, lease_s: float) -> str:
    """Why a ``running`` row is taken for dead (stored on it, and shown by ``status``)."""
    return (f"abandoned: no heartbeat since {last_beat.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC "
            f"(lease {lease_s:g} s); the process ended without recording an outcome "
            "(killed, crashed, or lost its database connection)")


def stale_runs_query(lease_s: float) -> sa.Select:
    """``running`` rows whose lease ran out: id and last heartbeat."""
    beat = sa.func.coalesce(PipelineRun.heartbeat_at, PipelineRun.started_at)
    return (sa.select(PipelineRun.id, beat.label("last_beat"))
            .where(PipelineRun.status == "running",
                   beat < sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, lease_s)))


def abandon_stale_runs(conn: Connection, lease_s: float) -> int:
    """Mark ``running`` rows whose lease ran out ``abandoned``, with the reason; returns how
    many. Their process is gone: a live stage renews its lease every fifth of ``lease_s``."""
    stale = conn.execute(stale_runs_query(lease_s).with_for_update(skip_locked=True)).all()
    for run_id, last_beat in stale:
        conn.execute(sa.update(PipelineRun).where(PipelineRun.id == run_id).values(
            status="abandoned", finished_at=sa.func.now(),
            error=abandoned_reason(last_beat, lease_s)))
    return len(stale)


class Heartbeat:
    """Renews the lease of one ``pipeline_run`` row from a daemon thread until stopped. A
    failed renewal (the database is away) is logged; the stage itself decides the outcome."""

    def __init__(self, engine: Engine, run_id: int, interval_s: float) -> None:
        self.engine, self.run_id, self.interval_s = engine, run_id, interval_s
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True,
                                       name=f"heartbeat-{run_id}")

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()

    def _beat(self) -> None:
        while not self.stopped.wait(self.interval_s):
            try:
                with self.engine.begin() as conn:
                    conn.execute(sa.update(PipelineRun)
                                 .where(PipelineRun.id == self.run_id,
                                        PipelineRun.status == "running")
                                 .values(heartbeat_at=sa.func.now()))
            except SQLAlchemyError as exc:
                log.info("run_id=%s: heartbeat not recorded: %s", self.run_id,
                         str(exc).splitlines()[0])


@contextmanager
def recorded_run(
    engine: Engine, stage: str, interval: tuple[datetime | None, datetime | None] = (None, None),
    *, lease_s: float = DEFAULT_LEASE_S,
) -> Iterator[StageResult]:
    """Record one stage run in ``pipeline_run``: running (with a lease renewed while it runs),
    then ok / partial / skipped / failed. Rows of dead runs are marked abandoned first."""
    with engine.begin() as conn:
        abandoned = abandon_stale_runs(conn, lease_s)
        run_id = conn.execute(
            sa.insert(PipelineRun)
            .values(stage=stage, status="running", interval_start=interval[0],
                    interval_end=interval[1], heartbeat_at=sa.func.now())
            .returning(PipelineRun.id)
        ).scalar_one()
    if abandoned:
        log.warning("marked %d pipeline runs abandoned (their lease of %gs ran out)", abandoned,
                    lease_s)
    result = StageResult(stage=stage, run_id=run_id)
    error: str | None = None
    try:
        with Heartbeat(engine, run_id, interval_s=lease_s / 5):
            yield result
    except StageSkipped as exc:
        result.status, result.message = "skipped", str(exc)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    except BaseException as exc:  # Ctrl-C, SystemExit: not "ok"
        error = f"interrupted ({type(exc).__name__})"
        raise
    finally:
        _record_end(engine, result, error)


def _record_end(engine: Engine, result: StageResult, error: str | None) -> None:
    """Write the outcome: ``failed`` with ``error`` when the stage raised, else the result's
    own status. When the stage is failing already (often: the database went away), a failure
    to record is logged, not raised, so the stage's own error is the one reported (and the row
    is left to its lease: the next run marks it abandoned)."""
    status: Status = "failed" if error is not None else result.status
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.update(PipelineRun)
                .where(PipelineRun.id == result.run_id)
                .values(status=status, finished_at=datetime.now(UTC),
                        counts=result.counts, error=error or (result.message or None))
            )
    except SQLAlchemyError as exc:
        if error is None:
            raise
        log.info("run_id=%s: could not record that the %s stage failed: %s", result.run_id,
                 result.stage, str(exc).splitlines()[0])
        return
    if error is None:
        log.info("%s run_id=%s", result.line(), result.run_id)
    else:
        log.info("%s: failed run_id=%s (%s)", result.stage, result.run_id, error)


def run_ingest(engine: Engine, settings: Settings, *, now: datetime | None = None) -> StageResult:
    """Fetch every configured feed, normalise, deduplicate and store the articles."""
    from sentinel.ingest.run import ingest_configured_feeds

    with recorded_run(engine, "ingest", (None, now), lease_s=settings.run_lease_s) as result:
        result.counts, result.problems = ingest_configured_feeds(
            engine, settings, run_id=result.run_id, now=now)
        failed, feeds = result.counts["failed"], result.counts["feeds"]
        if failed:
            result.status = "partial"
            result.message = (f"{failed} of {feeds} feeds not ingested; `sentinel feeds list` "
                              "shows why")
        if result.problems:
            result.message += f"; {len(result.problems)} invalid in the feeds file: " + \
                "; ".join(result.problems)
    return result


def run_classify(engine: Engine, settings: Settings, *, now: datetime | None = None) -> StageResult:
    """Classify every article that has no current classification for the active model;
    skipped, without loading the model, when there is none."""
    with recorded_run(engine, "classify", (None, now), lease_s=settings.run_lease_s) as result:
        from sentinel.classify.stage import classify_pending, has_pending_work
        from sentinel.options import classify_options

        options = classify_options(settings)
        with engine.connect() as conn:  # before loading: an idle run never loads the model
            if not has_pending_work(conn, options.classifier):
                raise StageSkipped("nothing to classify: every article has a current "
                                   "verdict by the configured model (not loaded)")
        shipped = checkout_model_dir()
        if shipped is not None and settings.model_dir == shipped and not shipped.is_dir():
            raise StageSkipped(f"the shipped model is not in this checkout ({shipped}); "
                               "train it with `sentinel train` (see docs/model.md)")
        result.counts = classify_pending(engine, options)
    return result


def run_detect(engine: Engine, settings: Settings, *, now: datetime | None = None) -> StageResult:
    """Update the rollups and open, keep or resolve alerts for the interval ending at ``now``."""
    with recorded_run(engine, "detect", (None, now), lease_s=settings.run_lease_s) as result:
        from sentinel.alerts.stage import detect_alerts
        from sentinel.options import alert_config

        result.counts = detect_alerts(engine, alert_config(settings), now=now)
    return result


def run_notify(engine: Engine, settings: Settings, *, now: datetime | None = None) -> StageResult:
    """Send pending alert notifications (Slack, or printed when Slack is not configured);
    partial when some were not delivered (to be retried, or dead after their last attempt)."""
    with recorded_run(engine, "notify", (None, now), lease_s=settings.run_lease_s) as result:
        from sentinel.alerts.stage import deliver_notifications
        from sentinel.options import delivery_options, make_transport

        result.counts = deliver_notifications(engine, make_transport(settings),
                                              delivery_options(settings), now=now)
        retry, dead = result.counts.get("failed", 0), result.counts.get("dead", 0)
        if retry or dead:
            result.status = "partial"
            result.message = (f"{retry + dead} notifications not delivered ({retry} to retry, "
                              f"{dead} dead); `sentinel status` shows them")
    return result


def check_range(since: datetime, until: datetime) -> None:
    if since >= until:
        raise SentinelError(f"expected since < until, got since={since.isoformat()} "
                            f"until={until.isoformat()}; pass a non-empty time range")


def run_reclassify(engine: Engine, settings: Settings, *, since: datetime, until: datetime,
                   model: str | None = None) -> StageResult:
    """Classify again every article published in [since, until) with ``model`` (a checkpoint
    directory; None: the configured one), replacing that model's earlier verdicts."""
    check_range(since, until)
    with recorded_run(engine, "reclassify", (since, until),
                      lease_s=settings.run_lease_s) as result:
        from sentinel.classify.stage import reclassify_range
        from sentinel.options import classify_options

        result.counts = reclassify_range(engine, classify_options(settings), model=model,
                                         since=since, until=until)
    return result


def run_reaggregate(engine: Engine, settings: Settings, *, since: datetime,
                    until: datetime) -> StageResult:
    """Rebuild the detector's rollups for the buckets in [since, until) from the current
    classifications (after a reclassification); sends no alerts."""
    check_range(since, until)
    with recorded_run(engine, "reaggregate", (since, until),
                      lease_s=settings.run_lease_s) as result:
        from sentinel.alerts.stage import rebuild_rollups

        result.counts = rebuild_rollups(engine, settings.bucket_minutes, since=since,
                                        until=until)
    return result


STAGES: list[tuple[str, Callable[..., StageResult]]] = [
    ("ingest", run_ingest),
    ("classify", run_classify),
    ("detect", run_detect),
    ("notify", run_notify),
]


def run_once(engine: Engine, settings: Settings, *, now: datetime | None = None,
             echo: Callable[[str], None] = log.info) -> list[StageResult]:
    """Run every stage in order. A stage that raises (recorded ``failed``) stops the run: the
    exception propagates and the later stages do not run; a partial or skipped one does not."""
    results = []
    for _name, stage in STAGES:
        result = stage(engine, settings, now=now)
        echo(result.line())
        results.append(result)
    return results
