"""Sentinel's pipeline, every 15 minutes: **ingest -> classify -> detect -> notify**.

Each task calls one function of `sentinel.pipeline` (the same ones `sentinel run --once` calls)
with the run's `data_interval_end` as "now" (for a manual run without a logical date: the time
it was triggered for), so a rerun of the same interval upserts instead of duplicating: articles
are unique by identity, a classification by (article, model), an alert notification by (alert,
kind, interval). XComs carry only the stage's counts.

* `classify` runs in the `gpu` pool (one slot) and on the `gpu` queue, so a Celery or
  Kubernetes deployment can send it to GPU workers while the other stages stay on CPU workers.
* A stage that cannot run yet (no classifier shipped, for example) is a *skipped* task with the
  reason in its log and in the `pipeline_run` table; the stages after it still run.
* Failed tasks are retried with exponential backoff (1, 2, 4 minutes); after the last try the
  failure is posted to Slack when it is configured, otherwise logged.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import CronTriggerTimetable, dag, task
from sentinel_airflow import DAG_ARGS, DEFAULT_ARGS, GPU_POOL, GPU_QUEUE, Tag, run_stage

EVERY_15_MINUTES = CronTriggerTimetable("*/15 * * * *", timezone="UTC",
                                        interval=timedelta(minutes=15))


@dag(
    schedule=EVERY_15_MINUTES,
    **DAG_ARGS,
    default_args=DEFAULT_ARGS,
    tags=[Tag.SENTINEL, Tag.SCHEDULED],
    doc_md=__doc__,
)
def sentinel_pipeline() -> None:
    @task(execution_timeout=timedelta(minutes=10))
    def ingest(data_interval_end: datetime | None = None, dag_run: Any = None) -> dict:
        return run_stage("ingest", data_interval_end, dag_run)

    @task(pool=GPU_POOL, queue=GPU_QUEUE, trigger_rule="none_failed")
    def classify(data_interval_end: datetime | None = None, dag_run: Any = None) -> dict:
        return run_stage("classify", data_interval_end, dag_run)

    @task(trigger_rule="none_failed")
    def detect(data_interval_end: datetime | None = None, dag_run: Any = None) -> dict:
        return run_stage("detect", data_interval_end, dag_run)

    @task(trigger_rule="none_failed", execution_timeout=timedelta(minutes=10))
    def notify(data_interval_end: datetime | None = None, dag_run: Any = None) -> dict:
        return run_stage("notify", data_interval_end, dag_run)

    ingest() >> classify() >> detect() >> notify()


sentinel_pipeline()
