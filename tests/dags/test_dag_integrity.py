"""DAG validation: the files import cleanly and cheaply, and every DAG follows the house rules.

Failure messages name the DAG (or file) and the fix. Parse times are measured and reported in
the terminal summary, not asserted: what is asserted is the cause of slow parsing, heavy imports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py") if p.name != "sentinel_airflow.py")
EXPECTED_DAGS = {"sentinel_pipeline", "sentinel_backfill"}

# airflow.sdk itself already imports SQLAlchemy; these must not be pulled in *by a DAG file*.
HEAVY = ("sentinel", "torch", "transformers", "tokenizers", "safetensors", "pandas", "numpy",
         "matplotlib", "feedparser", "slack_sdk", "psycopg2", "yaml")

PROBE = """
import importlib.util, json, sys, time
sys.path.insert(0, sys.argv[1])
import airflow.sdk  # what every DAG file needs; not counted
before = set(sys.modules)
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("dag_file_under_test", sys.argv[2])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "new": sorted(set(sys.modules) - before)}))
"""


def test_dag_files_import_without_errors(dagbag, parse_times):
    assert not dagbag.import_errors, f"DAG files failed to import: {dagbag.import_errors}"
    assert set(dagbag.dags) == EXPECTED_DAGS, (
        f"expected exactly the DAGs {sorted(EXPECTED_DAGS)} in dags/, found {sorted(dagbag.dags)}; "
        "a helper module belongs in dags/.airflowignore")
    for stat in dagbag.dagbag_stats:
        parse_times.setdefault(Path(stat.file).name, {})["DagBag"] = stat.duration.total_seconds()


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_nothing_heavy(dag_file, airflow_db, parse_times):
    done = subprocess.run([sys.executable, "-c", PROBE, str(DAGS), str(dag_file)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{dag_file.name} failed to import:\n{done.stderr[-3000:]}"
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    parse_times.setdefault(dag_file.name, {})["fresh interpreter"] = probe["seconds"]
    heavy = sorted(m for m in probe["new"] if m.split(".")[0] in HEAVY)
    assert not heavy, (f"{dag_file.name} imports {heavy} at parse time; import Sentinel and its "
                       "libraries inside the task functions instead")


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_dag_follows_policy(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.doc_md and dag.doc_md.strip(), (
        f"{dag_id}: set doc_md=__doc__ and give the DAG file a docstring")
    assert "sentinel" in dag.tags, f"{dag_id}: tag it with Tag.SENTINEL (dags/sentinel_airflow.py)"
    assert all(isinstance(tag, str) for tag in dag.tags), f"{dag_id}: tags must be strings"
    assert dag.catchup is False, f"{dag_id}: set catchup=False"
    assert dag.max_active_runs == 1, f"{dag_id}: set max_active_runs=1 (stages share state)"
    for task in dag.tasks:
        where = f"{dag_id}.{task.task_id}"
        assert task.owner and task.owner != "airflow", f"{where}: set an owner (DEFAULT_ARGS)"
        assert task.retries >= 1, f"{where}: set retries >= 1 (DEFAULT_ARGS)"
        assert task.retry_exponential_backoff > 1, f"{where}: retry with exponential backoff"
        assert task.execution_timeout is not None, f"{where}: set an execution_timeout"
        assert task.on_failure_callback, f"{where}: report failures (on_failure_callback)"


def test_pipeline_shape(dagbag):
    dag = dagbag.dags["sentinel_pipeline"]
    timetable = dag.timetable
    assert timetable.expression == "*/15 * * * *", f"sentinel_pipeline runs on {timetable!r}"
    assert timetable.interval == timedelta(minutes=15), "each run covers the last 15 minutes"
    chain = ["ingest", "classify", "detect", "notify"]
    assert set(dag.task_ids) == set(chain)
    for upstream, downstream in zip(chain, chain[1:], strict=False):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}, (
            f"sentinel_pipeline: {downstream} must run right after {upstream}")
    classify = dag.get_task("classify")
    assert (classify.pool, classify.queue) == ("gpu", "gpu"), (
        "classify must run in the 'gpu' pool and on the 'gpu' queue")
    assert {dag.get_task(t).pool for t in ("ingest", "detect", "notify")} == {"default_pool"}


def test_backfill_is_manual_and_takes_a_range(dagbag):
    dag = dagbag.dags["sentinel_backfill"]
    assert dag.schedule is None, "sentinel_backfill must only run when triggered (schedule=None)"
    assert {"since", "until", "model"} <= set(dag.params), dag.params
    assert dag.get_task("reaggregate").upstream_task_ids == {"reclassify"}
    reclassify = dag.get_task("reclassify")
    assert (reclassify.pool, reclassify.queue) == ("gpu", "gpu")
