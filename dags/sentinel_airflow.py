"""What Sentinel's DAGs share: owner, tags, DAG and retry settings, pool/queue names, the failure
callback, and the body of a pipeline task (``run_stage``).

The DAG files import this module at parse time, so it imports nothing but the standard library;
Sentinel (and with it SQLAlchemy, torch, ...) is imported inside the functions that run in a
task. It is listed in ``.airflowignore``: it defines no DAG.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentinel.pipeline import StageResult
    from sentinel.settings import Settings

log = logging.getLogger(__name__)

OWNER = "sentinel"
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)

# Classification is the one stage that wants an accelerator. The pool keeps it to one model in
# memory at a time on a single machine; the queue lets a Celery or Kubernetes deployment route it
# to GPU workers (`airflow celery worker --queues gpu`). Both names are created by
# scripts/airflow-local.sh and docker-compose.yml.
GPU_POOL = "gpu"
GPU_QUEUE = "gpu"


class Tag(StrEnum):
    """Every tag a Sentinel DAG may carry (one place, so the UI's filters stay consistent)."""

    SENTINEL = "sentinel"
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    BACKFILL = "backfill"


def report_failure(context: dict[str, Any]) -> None:
    """``on_failure_callback``: say which task failed, in which run, and why.

    Posted to Slack when Slack is configured (bot token and channel, or a webhook), always
    logged. Called only after the last retry; posting never raises (a Slack or configuration
    error is logged), so it cannot hide the failure.
    """
    from sentinel.alerts.slack import escape_entities

    ti = context["ti"]
    error = context.get("exception")
    reason = f"{type(error).__name__}: {error}" if error else "no exception recorded"
    reason = escape_entities(reason[:500])
    text = (f"Sentinel: task `{ti.task_id}` of DAG `{ti.dag_id}` failed on try {ti.try_number} "
            f"(run `{ti.run_id}`): {reason}")
    log.error("%s", text)
    try:
        from sentinel.settings import get_settings

        where = post_to_slack(get_settings(), text)
    except Exception as exc:  # a broken Slack must not mask the task's own failure
        log.error("could not report the failure to Slack: %s: %s", type(exc).__name__, exc)
        return
    if where:
        log.info("failure reported to %s", where)


def post_to_slack(settings: Settings, text: str) -> str | None:
    """Post ``text`` through the alerts' own Slack transport (same channel, timeout and no
    retried POSTs); returns where it went, or None when Slack is not configured. A bot token
    without a channel raises ConfigError, as it does for alerts."""
    from sentinel.alerts.slack import LogTransport
    from sentinel.options import make_transport

    transport = make_transport(settings)
    if isinstance(transport, LogTransport):
        return None
    transport.post_text(text)
    return transport.label


# What every Sentinel DAG passes to @dag: no catch-up runs, and one run at a time (the stages
# share state).
DAG_ARGS: dict[str, Any] = {
    "start_date": START_DATE,
    "catchup": False,
    "max_active_runs": 1,
}

DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 3,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,  # 1, 2, 4 minutes
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=30),
    "on_failure_callback": report_failure,
}


def interval_end(data_interval_end: datetime | None, dag_run: Any) -> datetime:
    """The "now" a task hands to Sentinel: the end of the run's data interval, or, for a manual
    run without a logical date, the time it was triggered for. Fixed per run, so a retried or
    cleared task sees the same time; plain UTC, the type Sentinel takes (not pendulum)."""
    when = data_interval_end if data_interval_end is not None else dag_run.run_after
    return datetime.fromtimestamp(when.timestamp(), tz=UTC)


def parse_time(name: str, value: str | None) -> datetime | None:
    """A DAG param as a UTC datetime; a bad value says what was expected and what arrived."""
    if value in (None, ""):
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"param {name!r}: expected an ISO 8601 time such as 2026-11-01T00:00Z, "
                         f"got {value!r}; trigger the DAG again with a valid value") from None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def time_range(params: dict[str, Any]) -> tuple[datetime, datetime]:
    """The ``since`` and ``until`` params of a backfill run, both required, since < until. A
    bad value fails the task at once (AirflowFailException): a retry cannot fix a param."""
    from airflow.sdk.exceptions import AirflowFailException

    from sentinel.errors import SentinelError
    from sentinel.pipeline import check_range

    try:
        since = parse_time("since", params.get("since"))
        until = parse_time("until", params.get("until"))
        if since is None or until is None:
            raise ValueError(
                f"params 'since' and 'until' are both required, got "
                f"since={params.get('since')!r} until={params.get('until')!r}; trigger with "
                """--conf '{"since": "2026-11-01T00:00Z", "until": "2026-11-08T00:00Z"}'""")
        check_range(since, until)
    except (ValueError, SentinelError) as exc:
        raise AirflowFailException(str(exc)) from None
    return since, until


def run_stage(name: str, data_interval_end: datetime | None, dag_run: Any) -> dict[str, Any]:
    """A pipeline task's body: run stage ``name`` of ``sentinel.pipeline.STAGES`` (the function
    `sentinel run --once` calls) with the run's interval end as "now"; its summary for XCom."""
    from airflow.sdk.exceptions import AirflowFailException

    from sentinel.db.engine import engine_and_settings
    from sentinel.errors import ConfigError
    from sentinel.pipeline import STAGES

    stage = dict(STAGES)[name]
    now = interval_end(data_interval_end, dag_run)
    try:
        result = stage(*engine_and_settings(), now=now)
    except ConfigError as exc:  # a setting or the feeds file: retrying cannot fix it
        raise AirflowFailException(f"{name}: {exc}") from None
    return xcom_summary(result)


def xcom_summary(result: StageResult) -> dict[str, Any]:
    """The stage's small summary for XCom; a stage that could not run becomes a skipped task."""
    if result.status == "skipped":
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(f"{result.stage} skipped: {result.message}")
    return result.summary()
