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

from datetime import timedelta

from airflow.sdk import CronTriggerTimetable, dag, task
from sentinel_airflow import (
    DEFAULT_ARGS,
    GPU_POOL,
    GPU_QUEUE,
    START_DATE,
    Tag,
    engine_and_settings,
    interval_end,
    xcom_summary,
)

EVERY_15_MINUTES = CronTriggerTimetable("*/15 * * * *", timezone="UTC",
                                        interval=timedelta(minutes=15))


@dag(
    schedule=EVERY_15_MINUTES,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[Tag.SENTINEL, Tag.SCHEDULED],
    doc_md=__doc__,
)
def sentinel_pipeline() -> None:
    @task(execution_timeout=timedelta(minutes=10))
    def ingest(data_interval_end=None, dag_run=None) -> dict:
        from sentinel.pipeline import run_ingest

        now = interval_end(data_interval_end, dag_run)
        return xcom_summary(run_ingest(*engine_and_settings(), now=now))

    @task(pool=GPU_POOL, queue=GPU_QUEUE, trigger_rule="none_failed")
    def classify(data_interval_end=None, dag_run=None) -> dict:
        from sentinel.pipeline import run_classify

        now = interval_end(data_interval_end, dag_run)
        return xcom_summary(run_classify(*engine_and_settings(), now=now))

    @task(trigger_rule="none_failed")
    def detect(data_interval_end=None, dag_run=None) -> dict:
        from sentinel.pipeline import run_detect

        now = interval_end(data_interval_end, dag_run)
        return xcom_summary(run_detect(*engine_and_settings(), now=now))

    @task(trigger_rule="none_failed", execution_timeout=timedelta(minutes=10))
    def notify(data_interval_end=None, dag_run=None) -> dict:
        from sentinel.pipeline import run_notify

        now = interval_end(data_interval_end, dag_run)
        return xcom_summary(run_notify(*engine_and_settings(), now=now))

    ingest() >> classify() >> detect() >> notify()


sentinel_pipeline()
