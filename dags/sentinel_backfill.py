"""Reclassify a time range and rebuild its rollups: **reclassify -> reaggregate** (manual only).

Trigger it with params — from the UI ("Trigger DAG w/ config") or the CLI:

    airflow dags trigger sentinel_backfill \\
        --conf '{"since": "2026-11-01T00:00Z", "until": "2026-11-08T00:00Z"}'

* `since`, `until` (ISO 8601, UTC when no offset): the articles *published* in [since, until).
* `model` (optional): the checkpoint directory to classify with; empty means the configured
  `SENTINEL_MODEL_DIR`. Earlier verdicts of that model on those articles are replaced; other
  models' rows are kept.

`reclassify` runs in the `gpu` pool and on the `gpu` queue like the pipeline's `classify`, so
a backfill and the scheduled runs never hold two models in memory on one machine. `reaggregate`
rebuilds the detector's rollups for the range from the current classifications and sends no
alerts. Both tasks are idempotent: running the same range again gives the same rows.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, task
from sentinel_airflow import (
    DAG_ARGS,
    DEFAULT_ARGS,
    GPU_POOL,
    GPU_QUEUE,
    Tag,
    time_range,
    xcom_summary,
)

TIME = {"type": "string", "format": "date-time"}


@dag(
    schedule=None,
    **DAG_ARGS,
    default_args={**DEFAULT_ARGS, "retries": 1},
    tags=[Tag.SENTINEL, Tag.MANUAL, Tag.BACKFILL],
    doc_md=__doc__,
    params={
        "since": Param(None, type=["null", "string"], description="Start of the range "
                       "(ISO 8601, inclusive), e.g. 2026-11-01T00:00Z."),
        "until": Param(None, type=["null", "string"], description="End of the range "
                       "(ISO 8601, exclusive), e.g. 2026-11-08T00:00Z."),
        "model": Param("", type=["null", "string"], description="Checkpoint directory to "
                       "classify with; empty: SENTINEL_MODEL_DIR."),
    },
)
def sentinel_backfill() -> None:
    @task(pool=GPU_POOL, queue=GPU_QUEUE)
    def reclassify(params: dict[str, Any] | None = None) -> dict:
        from sentinel.db.engine import engine_and_settings
        from sentinel.pipeline import run_reclassify

        since, until = time_range(params or {})
        result = run_reclassify(*engine_and_settings(), since=since, until=until,
                                model=(params or {}).get("model") or None)
        return xcom_summary(result)

    @task
    def reaggregate(params: dict[str, Any] | None = None) -> dict:
        from sentinel.db.engine import engine_and_settings
        from sentinel.pipeline import run_reaggregate

        since, until = time_range(params or {})
        return xcom_summary(run_reaggregate(*engine_and_settings(), since=since, until=until))

    reclassify() >> reaggregate()


sentinel_backfill()
