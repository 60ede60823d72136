"""`sentinel ...`: the command line. Reads settings, calls the library, prints one-line errors."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer

from sentinel.errors import SentinelError

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  pretty_exceptions_enable=False,
                  help="Sentinel: financial-news sentiment monitor.")
db_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Database schema (Alembic migrations).")
app.add_typer(db_app, name="db")


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def cli_errors(func: Any) -> Any:
    """Turn the project's own errors into `error: ...` on stderr and exit code 1."""
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SentinelError as exc:
            fail(str(exc))
    return wrapper


def parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"expected an ISO 8601 time such as 2026-11-29T12:00Z, got {value!r}")
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
         ) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)


def engine_and_settings() -> tuple[Any, Any]:
    from sentinel.db.engine import get_engine
    from sentinel.settings import get_settings

    return get_engine(), get_settings()


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


@db_app.command("current")
@cli_errors
def db_current() -> None:
    """Print the schema revision of the database."""
    from sentinel.db.migrate import current_revision, head_revision

    engine, _ = engine_and_settings()
    typer.echo(f"current={current_revision(engine)} head={head_revision()}")


def require_schema(engine: Any) -> None:
    from sentinel.db.migrate import current_revision, head_revision

    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SentinelError(f"database schema is at {current or 'empty'}, this Sentinel needs "
                            f"{head}; run `sentinel db upgrade`")


@app.command("run")
@cli_errors
def run(once: Annotated[bool, typer.Option("--once", help="Run every stage once, then exit.")] = False,
        now: Annotated[str | None, typer.Option(help="Pretend the run happens at this time "
                                                "(ISO 8601; default: now).")] = None) -> None:
    """Run the pipeline (ingest, classify, detect, notify) once."""
    if not once:
        fail("`sentinel run` needs --once; scheduling is Airflow's job (see dags/ and README)", 2)
    from sentinel.pipeline import run_once

    engine, settings = engine_and_settings()
    require_schema(engine)
    results = run_once(engine, settings, now=parse_time(now), echo=typer.echo)
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)


@app.command("ingest")
@cli_errors
def ingest(feeds: Annotated[Path | None, typer.Option("--feeds", help="feeds.yaml to ingest "
                                                      "(default: SENTINEL_FEEDS_FILE or the "
                                                      "bundled samples).")] = None) -> None:
    """Run the ingest stage alone and print its summary."""
    from sentinel.pipeline import run_ingest

    engine, settings = engine_and_settings()
    require_schema(engine)
    if feeds is not None:
        settings = settings.model_copy(update={"feeds_file": feeds})
    typer.echo(run_ingest(engine, settings).line())


@app.command("status")
@cli_errors
def status() -> None:
    """Feeds and their health, article and classification counts, last runs, open alerts."""
    from sentinel.status import collect_status, render_status

    engine, _ = engine_and_settings()
    require_schema(engine)
    with engine.connect() as conn:
        typer.echo(render_status(collect_status(conn)))
