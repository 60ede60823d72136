"""The stages, as the CLI and the Airflow DAGs call them: ingest -> classify -> detect -> notify.

Each ``run_*`` takes an Engine and a Settings object (entry points read settings; nothing here
does), records a ``pipeline_run`` row, and returns a small :class:`StageResult` whose
``summary()`` is safe to pass through XCom. A stage that cannot run yet is recorded as skipped
with the reason, never faked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sentinel.db.models import PipelineRun
from sentinel.errors import SentinelError
from sentinel.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class StageResult:
    stage: str
    status: str = "ok"  # ok, skipped or failed
    counts: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    run_id: int | None = None

    def summary(self) -> dict[str, Any]:
        """Small, JSON-safe: what a DAG task returns as its XCom."""
        return {"stage": self.stage, "status": self.status, "run_id": self.run_id,
                "message": self.message, **self.counts}

    def line(self) -> str:
        fields = " ".join(f"{k}={v}" for k, v in self.counts.items())
        text = f"{self.stage}: {self.status}"
        if fields:
            text += f" {fields}"
        if self.message:
            text += f" ({self.message})"
        return text


class StageSkipped(SentinelError):
    """Raised inside a stage that cannot run yet; recorded as 'skipped' with the reason."""


@contextmanager
def recorded_run(
    engine: Engine, stage: str, interval: tuple[datetime | None, datetime | None] = (None, None)
) -> Iterator[StageResult]:
    """Record one stage run in ``pipeline_run``: running, then ok / skipped / failed."""
    with engine.begin() as conn:
        run_id = conn.scalar(
            sa.insert(PipelineRun)
            .values(stage=stage, status="running", interval_start=interval[0],
                    interval_end=interval[1])
            .returning(PipelineRun.id)
        )
    result = StageResult(stage=stage, run_id=run_id)
    error: str | None = None
    try:
        yield result
    except StageSkipped as exc:
        result.status, result.message = "skipped", str(exc)
    except Exception as exc:
        result.status, error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        with engine.begin() as conn:
            conn.execute(
                sa.update(PipelineRun)
                .where(PipelineRun.id == run_id)
                .values(status=result.status, finished_at=datetime.now(UTC),
                        counts=result.counts, error=error or (result.message or None))
            )
        log.info("%s run_id=%s", result.line(), run_id)


def run_ingest(engine: Engine, settings: Settings, *, now: datetime | None = None) -> StageResult:
    """Fetch every configured feed, normalise, deduplicate and store the articles."""
    from sentinel.ingest.run import ingest_configured_feeds

    with recorded_run(engine, "ingest", (None, now)) as result:
        result.counts = ingest_configured_feeds(engine, settings, run_id=result.run_id, now=now)
    return result


def run_classify(engine: Engine, settings: Settings, *, now: datetime | None = None) -> StageResult:
    """Classify every article that has no current classification for the active model."""
    with recorded_run(engine, "classify", (None, now)) as result:
        from sentinel.classify.stage import classify_pending

        shipped = Settings.model_fields["model_dir"].get_default(call_default_factory=True)
        if settings.model_dir == shipped and not shipped.is_dir():
            raise StageSkipped(f"the shipped model is not in this checkout ({shipped}); "
                               "train it with `sentinel train` (see models/README)")
        result.counts = classify_pending(engine, settings)
    return result


def run_detect(engine: Engine, settings: Settings, *, now: datetime | None = None) -> StageResult:
    """Update the rollups and open, keep or resolve alerts for the interval ending at ``now``."""
    with recorded_run(engine, "detect", (None, now)) as result:
        from sentinel.alerts.stage import detect_alerts

        result.counts = detect_alerts(engine, settings, now=now)
    return result


def run_notify(engine: Engine, settings: Settings, *, now: datetime | None = None) -> StageResult:
    """Send pending alert notifications (Slack, or printed when Slack is not configured)."""
    with recorded_run(engine, "notify", (None, now)) as result:
        from sentinel.alerts.stage import deliver_notifications

        result.counts = deliver_notifications(engine, settings, now=now)
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
    with recorded_run(engine, "reclassify", (since, until)) as result:
        from sentinel.classify.stage import reclassify_range

        result.counts = reclassify_range(engine, settings, model=model, since=since, until=until)
    return result


def run_reaggregate(engine: Engine, settings: Settings, *, since: datetime,
                    until: datetime) -> StageResult:
    """Rebuild the detector's rollups for the buckets in [since, until) from the current
    classifications (after a reclassification); sends no alerts."""
    check_range(since, until)
    with recorded_run(engine, "reaggregate", (since, until)) as result:
        from sentinel.alerts.stage import rebuild_rollups

        result.counts = rebuild_rollups(engine, settings, since=since, until=until)
    return result


STAGES: list[tuple[str, Callable[..., StageResult]]] = [
    ("ingest", run_ingest),
    ("classify", run_classify),
    ("detect", run_detect),
    ("notify", run_notify),
]


def run_once(engine: Engine, settings: Settings, *, now: datetime | None = None,
             echo: Callable[[str], None] = log.info) -> list[StageResult]:
    """Run every stage in order; a failed stage stops the ones that depend on it."""
    results = []
    for _name, stage in STAGES:
        result = stage(engine, settings, now=now)
        echo(result.line())
        results.append(result)
    return results
