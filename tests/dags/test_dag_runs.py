"""`dag.test()` runs of the real DAGs: real stages, real PostgreSQL, feeds and Slack over HTTP.

The feed server serves the bundled sample feeds (a week of ordinary news and a burst of bad news
about Halvorsen Pharmaceuticals, $HLVP, in the last two hours), shifted so their newest story is
the run's data-interval end. Tasks run in this process and read their settings from the
environment, as they do on a worker.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from sentinel.settings import checkout_model_dir

pytestmark = pytest.mark.slow

DATA_TABLES = ("article", "article_feed", "classification", "model", "alert", "alert_delivery")
SHIPPED_MODEL = checkout_model_dir()  # the tests run from a checkout: never None here


def last_quarter_hour() -> datetime:
    """The latest time the 15-minute schedule has fired (a plausible data-interval end)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=now.minute % 15)


def task_states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def snapshot(engine) -> dict[str, list[tuple]]:
    """Every row of Sentinel's data tables, as comparable values."""
    with engine.connect() as conn:
        return {table: [tuple(row) for row in conn.execute(
                    sa.text(f"SELECT * FROM {table} ORDER BY 1, 2"))]
                for table in DATA_TABLES}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.xfail(not SHIPPED_MODEL.is_dir(), strict=True,
                   reason=f"the shipped classifier ({SHIPPED_MODEL.name}) is not in the checkout "
                   "yet: classify skips, so nothing is classified and no alert can fire")
def test_pipeline_dag_end_to_end_then_rerun_adds_and_sends_nothing(
        dagbag, no_retries, db, sentinel_env, sample_feeds, feed_server, slack_server):
    end = last_quarter_hour()
    sample_feeds(end)
    dag = dagbag.dags["sentinel_pipeline"]

    run = dag.test(logical_date=end)

    assert (run.data_interval_start, run.data_interval_end) == (end - timedelta(minutes=15), end)
    assert task_states(run) == dict.fromkeys(("ingest", "classify", "detect", "notify"),
                                             "success"), task_states(run)
    assert sorted(r.path for r in feed_server.requests) == sorted(feed_server.routes)
    with db.connect() as conn:
        articles = conn.scalar(sa.text("SELECT count(*) FROM article"))
        feeds_used = conn.scalar(sa.text("SELECT count(DISTINCT feed_id) FROM article_feed"))
        unclassified = conn.scalar(sa.text(
            "SELECT count(*) FROM article a WHERE NOT EXISTS (SELECT 1 FROM classification c "
            "JOIN model m ON m.id = c.model_id AND m.active "
            "WHERE c.article_id = a.id AND c.content_hash = a.content_hash)"))
        alerts = conn.execute(sa.text("SELECT segment_kind, segment_value, state FROM alert")).all()
        deliveries = conn.execute(sa.text("SELECT status FROM alert_delivery")).scalars().all()
        runs = conn.execute(sa.text(
            "SELECT stage, status, interval_end FROM pipeline_run ORDER BY id")).all()
    assert articles > 0 and feeds_used == len(feed_server.routes)
    assert unclassified == 0, f"{unclassified} of {articles} articles lack a current classification"
    assert any(state == "firing" for _, _, state in alerts), alerts
    assert deliveries and set(deliveries) == {"sent"}, deliveries
    posts = slack_server.messages
    assert len(posts) == len(deliveries) and {p["channel"] for p in posts} == {"C0ALERTS"}
    assert any("HLVP" in str(p) or "Halvorsen" in str(p) for p in posts), (
        f"no Slack message names the company behind the burst: {[p['text'] for p in posts]}")
    assert [tuple(r) for r in runs] == [
        (stage, "ok", end) for stage in ("ingest", "classify", "detect", "notify")], runs

    before, posted, states = snapshot(db), len(slack_server.messages), task_states(run)
    rerun = dag.test(logical_date=end)

    # nothing new to classify: a skipped task that never loaded the model; the rest run as before
    assert task_states(rerun) == {**states, "classify": "skipped"}, task_states(rerun)
    assert len(feed_server.requests) == 2 * len(feed_server.routes), "the rerun fetched again"
    assert snapshot(db) == before, "a second run of the same data interval changed data rows"
    assert len(slack_server.messages) == posted, slack_server.messages[posted:]


def test_failed_task_is_reported_to_slack(dagbag, no_retries, sentinel_env, slack_server,
                                          monkeypatch):
    """With the database down, ingest fails; after its last try the callback posts to Slack."""
    monkeypatch.setenv("SENTINEL_DATABASE_URL",
                       f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/sentinel")

    day_before = last_quarter_hour() - timedelta(days=1)
    run = dagbag.dags["sentinel_pipeline"].test(logical_date=day_before)

    assert str(run.state) == "failed"
    assert task_states(run) == {"ingest": "failed", "classify": "upstream_failed",
                                "detect": "upstream_failed", "notify": "upstream_failed"}
    (post,) = slack_server.messages
    assert post["channel"] == "C0ALERTS"
    for needle in ("`ingest`", "`sentinel_pipeline`", "cannot connect"):
        assert needle in post["text"], post["text"]


def test_backfill_rejects_an_empty_range_and_says_why(dagbag, no_retries, db, sentinel_env,
                                                      slack_server):
    run = dagbag.dags["sentinel_backfill"].test(
        logical_date=None, run_conf={"since": "2026-11-08T00:00Z", "until": "2026-11-01T00:00Z"})

    assert task_states(run) == {"reclassify": "failed", "reaggregate": "upstream_failed"}
    (post,) = slack_server.messages
    # Slack's escaping: the channel shows "expected since < until"
    assert "`reclassify`" in post["text"] and "expected since &lt; until" in post["text"], post
    with db.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM pipeline_run")) == 0


@pytest.mark.parametrize("conf, reason", [
    # (Slack's escaping: "<" arrives as "&lt;"; an absent param is given as "", since the
    # session's DagBag keeps the values of earlier runs' params)
    ({"since": "2026-11-08T00:00Z", "until": "2026-11-01T00:00Z"}, "expected since &lt; until"),
    ({"since": "last tuesday", "until": "2026-11-01T00:00Z"}, "expected an ISO 8601 time"),
    ({"since": "2026-11-01T00:00Z", "until": ""}, "params 'since' and 'until' are both required"),
])
def test_backfill_params_fail_fast_without_retries(dagbag, db, sentinel_env, slack_server,
                                                   conf, reason):
    """The backfill DAG retries once; a bad param fails its first try for good (no retry, no
    retry delay), with the reason in the failure report."""
    run = dagbag.dags["sentinel_backfill"].test(logical_date=None, run_conf=conf)

    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert task_states(run) == {"reclassify": "failed", "reaggregate": "upstream_failed"}
    assert tis["reclassify"].try_number == 1 and tis["reclassify"].max_tries >= 1
    (post,) = slack_server.messages
    assert "AirflowFailException" in post["text"] and reason in post["text"], post["text"]


def test_no_feeds_file_fails_the_ingest_task_at_once(dagbag, db, sentinel_env, slack_server):
    """No feeds file and no SENTINEL_DEMO: a setting to fix, not a fault a retry heals."""
    run = dagbag.dags["sentinel_pipeline"].test(logical_date=last_quarter_hour())

    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert tis["ingest"].state == "failed" and tis["ingest"].try_number == 1
    (post,) = slack_server.messages
    assert "no feeds file" in post["text"] and "SENTINEL_FEEDS_FILE" in post["text"], post


def test_backfill_reclassifies_a_range_with_another_model(
        dagbag, no_retries, db, sentinel_env, sample_feeds, tmp_path, monkeypatch):
    """Pipeline with model A, then a backfill of the last day with model B: B's verdicts cover
    exactly the articles published in the range, A's stay current, and a rerun changes nothing."""
    from sentinel.classify.testing import write_tiny_multitask

    model_a = write_tiny_multitask(tmp_path / "model-a", name="tiny", seed=1)
    model_b = write_tiny_multitask(tmp_path / "model-b", name="tiny", seed=2)
    monkeypatch.setenv("SENTINEL_MODEL_DIR", str(model_a))
    end = last_quarter_hour()
    sample_feeds(end)
    pipeline = dagbag.dags["sentinel_pipeline"].test(logical_date=end)
    assert task_states(pipeline)["classify"] == "success", task_states(pipeline)
    since, until = end - timedelta(days=1), end
    conf = {"since": since.isoformat(), "until": until.isoformat(), "model": str(model_b)}

    def verdicts() -> dict[str, set]:
        with db.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT m.active, c.article_id, c.sentiment, c.p_negative, c.topic "
                "FROM classification c JOIN model m ON m.id = c.model_id")).all()
        return {"active": {r[1:] for r in rows if r.active},
                "backfill": {r[1:] for r in rows if not r.active}}

    before = verdicts()
    run = dagbag.dags["sentinel_backfill"].test(logical_date=None, run_conf=conf)

    states = task_states(run)
    assert states == {"reclassify": "success", "reaggregate": "success"}
    with db.connect() as conn:
        in_range = set(conn.scalars(sa.text(
            "SELECT id FROM article WHERE published_at >= :s AND published_at < :u"),
            {"s": since, "u": until}))
        outside = conn.scalar(sa.text("SELECT count(*) FROM article WHERE published_at < :s"),
                              {"s": since})
        stages = dict(conn.execute(sa.text(
            "SELECT stage, status FROM pipeline_run WHERE stage IN ('reclassify', 'reaggregate')")
        ).all())
    after = verdicts()
    assert in_range and outside, "the sample week must straddle the backfill range"
    assert {row[0] for row in after["backfill"]} == in_range
    assert after["active"] == before["active"], "the active model's verdicts must stay as they were"
    assert stages == {"reclassify": "ok", "reaggregate": "ok"}

    again = dagbag.dags["sentinel_backfill"].test(logical_date=None, run_conf=conf)
    assert task_states(again) == states
    assert verdicts() == after


def test_manual_run_without_logical_date_uses_its_trigger_time(
        dagbag, no_retries, db, sentinel_env, sample_feeds):
    """`airflow dags trigger` gives no data interval; the run's own time stands in for it, so
    a retried task still sees the same "now"."""
    triggered = last_quarter_hour() + timedelta(minutes=7, seconds=30)
    sample_feeds(triggered)

    run = dagbag.dags["sentinel_pipeline"].test(logical_date=None, run_after=triggered)

    assert run.data_interval_end is None
    assert task_states(run)["ingest"] == "success", task_states(run)
    with db.connect() as conn:
        ends = conn.execute(sa.text("SELECT stage, interval_end FROM pipeline_run")).all()
    assert {stage for stage, _ in ends} == {"ingest", "classify", "detect", "notify"}
    assert {end for _, end in ends} == {triggered}
