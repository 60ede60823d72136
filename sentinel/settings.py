"""One typed settings object for every entry point (CLI commands, DAG tasks).

Every field reads the environment variable ``SENTINEL_<FIELD>`` (or a ``.env`` file in the
working directory). Library functions never read settings themselves: they take plain
arguments, so tests can pass values directly.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
from functools import lru_cache
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from sentinel.errors import ConfigError
from sentinel.ranges import accepted_values


def checkout_model_dir() -> Path | None:
    """The shipped model, ``models/sentinel-minilm``, when Sentinel runs from a repository
    checkout (the package next to pyproject.toml); None for an installed wheel, which has no
    model: SENTINEL_MODEL_DIR names one there."""
    root = Path(__file__).resolve().parent.parent
    return root / "models" / "sentinel-minilm" if (root / "pyproject.toml").is_file() else None


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "sentinel"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SENTINEL_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- storage -------------------------------------------------------------------------
    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql+psycopg2://user:pass@host:5432/db). "
        "Unset: an embedded PostgreSQL is started in data_dir/pgdata.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Per-user directory for the embedded database, staged sample feeds, reports.",
    )

    # --- ingest --------------------------------------------------------------------------
    feeds_file: Path | None = Field(
        default=None,
        description="feeds.yaml to ingest. Unset: ingest stops with an error, unless "
        "SENTINEL_DEMO is true.",
    )
    demo: bool = Field(
        default=False,
        description="Without a feeds file, poll the bundled fictional sample feeds "
        "(examples/feeds, shifted to now): what `make demo` and `sentinel run --once --demo` "
        "ask for. A feeds file, when set, is used all the same.",
    )
    sample_feeds_dir: Path | None = Field(
        default=None,
        description="Where the sample feeds live. Unset: the ones shipped in the package "
        "(examples/feeds in the repository).",
    )
    allowed_file_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Directories whose files may be read through file:// feed URLs "
        "(the staged sample feeds are always allowed); separated by ':' or a JSON list.",
    )
    watchlist_file: Path | None = Field(
        default=None, description="YAML mapping company names to tickers, e.g. {Apple: AAPL}. "
        "Unset in demo mode: the samples' own examples/feeds/watchlist.yaml."
    )
    user_agent: str = Field(
        default="Sentinel/0.1 (+https://github.com/sentinel-news/sentinel; financial news monitor)",
        description="User-Agent sent with every feed request.",
    )
    fetch_connect_timeout_s: float = Field(
        default=5.0, gt=0, le=300, description="Connect timeout per request.")
    fetch_read_timeout_s: float = Field(
        default=15.0, gt=0, le=600, description="Read timeout per request (between two reads).")
    fetch_attempt_deadline_s: float = Field(
        default=60.0, gt=0, le=3600, description="Hard deadline per fetch attempt: connecting, "
        "the response headers and the body together.")
    fetch_max_bytes: int = Field(
        default=10_000_000, ge=1024, le=1_000_000_000,
        description="Body-size cap per feed (bytes).")
    fetch_max_redirects: int = Field(
        default=5, ge=0, le=30, description="Redirects followed per request.")
    fetch_retries: int = Field(
        default=3, ge=1, le=10, description="Attempts on timeouts, 5xx and 429.")
    fetch_concurrency: int = Field(
        default=16, ge=1, le=256, description="Feeds fetched at once, in all.")
    fetch_per_host: int = Field(
        default=2, ge=1, le=64, description="Feeds fetched at once from one host.")
    fetch_allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Loopback, private, link-local or other non-public networks feeds may be "
        "fetched from (addresses or CIDRs, separated by ','); every other such destination is "
        "refused, also after a redirect, e.g. 10.20.0.0/16,127.0.0.1.")
    ingest_deadline_s: float = Field(
        default=600.0, gt=0, le=86_400,
        description="Deadline for the whole ingest stage: fetches still running are cut there "
        "and feeds not started wait for the next run, so the later stages always run.")
    fast_parse: bool = Field(
        default=True,
        description="Read plain, well-formed RSS 2.0/Atom 1.0 with the fast path (same records "
        "as feedparser, a fifth of the time); false: feedparser for every feed.",
    )
    future_skew_hours: float = Field(
        default=24.0, ge=0, le=8760,
        description="Publication times further ahead than this are clamped.")

    # --- classify ------------------------------------------------------------------------
    model_dir: Path | None = Field(
        default_factory=checkout_model_dir,
        description="The classifier: the shipped model directory, or any local checkpoint. "
        "Unset: models/sentinel-minilm when run from a repository checkout; an installed "
        "wheel has no model, so set it there.",
    )
    sentiment_model: str | None = Field(
        default=None,
        description="Optional other checkpoint (dir or hub id) for sentiment, "
        "used with sentiment_labels.",
    )
    sentiment_labels: dict[int, str] | None = Field(
        default=None,
        description='Explicit id->label map for sentiment_model, e.g. '
        '{"0":"positive","1":"negative","2":"neutral"}.',
    )
    topic_model: str | None = Field(
        default=None, description="Optional other checkpoint for topic, used with topic_labels."
    )
    topic_labels: dict[int, str] | None = Field(
        default=None, description="Explicit id->label map for topic_model."
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        default="auto", description="Inference device; auto picks cuda, then mps, then cpu."
    )
    precision: Literal["auto", "fp32", "bf16", "fp16", "int8"] = Field(
        default="auto",
        description="Inference dtype; auto: bf16 on GPU and on CPUs with avx512_bf16/AMX, "
        "else fp32.",
    )
    threads: int | None = Field(
        default=None, ge=1, le=1024, description="CPU threads for inference (unset: all).")
    token_budget: int | None = Field(
        default=None, ge=16, le=10_000_000,
        description="Padded tokens per inference batch (length-bucketed); "
        "unset: 2048 on CPU (cache-sized), 65536 on a GPU.",
    )
    max_length: int = Field(
        default=128, ge=8, le=512,
        description="Tokens per chunk; longer texts are split and averaged.")
    classify_chunk: int = Field(
        default=512, ge=1, le=100_000,
        description="Articles classified and committed per transaction.")

    # --- detect & alert ------------------------------------------------------------------
    bucket_minutes: int = Field(
        default=60, ge=1, le=1440,
        description="Aggregation bucket size in minutes; must divide a day (15, 30, 60, ...).",
    )
    baseline_days: int = Field(
        default=28, ge=1, le=366, description="Days of history the seasonal baseline looks at."
    )
    min_negative: int = Field(
        default=5, ge=1, le=1_000_000,
        description="Volume guard: fewest negative articles in a bucket to alert on.",
    )
    min_history_buckets: int = Field(
        default=24, ge=0, le=100_000,
        description="Warm-up: buckets of history (since data began; for a source, since it "
        "first appeared) before a segment can fire.",
    )
    false_alerts_per_week: float = Field(
        default=1.0, gt=0, le=100,
        description="False-alarm budget of one segment: alerts a week that its own history says "
        "chance alone would raise. Lower is quieter and slower to fire.",
    )
    channel_false_alerts_per_week: float = Field(
        default=7.0, gt=0, le=1000,
        description="False-alarm budget of the whole channel: shared by the segments that can "
        "fire, so each gets min(false_alerts_per_week, this / their number).",
    )
    ratio_threshold: float = Field(
        default=2.0, ge=1, le=1000,
        description="Count spike: observed negatives at least this many times expected.",
    )
    share_threshold: float = Field(
        default=0.25, gt=0, le=1,
        description="Share spike: rise of the negative share over the baseline "
        "share (0.25 = 25 points)."
    )
    judge_partial_bucket: bool = Field(
        default=True, description="Also judge the current, unfinished bucket against the "
        "elapsed share of its expectation (alerts within the bucket, not after it)."
    )
    fire_after_buckets: int = Field(
        default=1, ge=1, le=1000,
        description="Buckets that must spike before an alert fires; above 1 "
        "it waits as 'pending' first."
    )
    repeat_interval_hours: float = Field(
        default=4.0, gt=0, le=8760, description="Re-notify a firing alert at most this often."
    )
    resolve_after_buckets: int = Field(
        default=2, ge=1, le=1000,
        description="Hold-down: quiet complete buckets before an alert resolves."
    )
    notify_resolved: bool = Field(
        default=True, description="Send a message when an alert resolves."
    )
    top_headlines: int = Field(
        default=5, ge=0, le=20, description="Negative headlines quoted in an alert."
    )
    slack_bot_token: SecretStr | None = Field(
        default=None, description="Slack bot token (xoxb-...), used with slack_channel."
    )
    slack_channel: str | None = Field(
        default=None, description="Channel for alerts; its id (C0123...) lets Sentinel check the "
        "history after a crash (a #name works for posting only)."
    )
    slack_webhook_url: SecretStr | None = Field(
        default=None, description="Slack incoming-webhook URL (used when no bot token is set)."
    )
    slack_base_url: str = Field(
        default="https://slack.com/api/", description="Slack Web API base URL."
    )
    slack_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="Timeout per Slack request.")
    delivery_max_attempts: int = Field(
        default=12, ge=1, le=1000, description="Attempts per notification before it is marked dead."
    )
    delivery_backoff_s: float = Field(
        default=60.0, gt=0, le=86_400,
        description="First retry delay of a failed notification; doubles "
        "per attempt up to an hour (a 429's Retry-After wins when longer)."
    )

    # --- operations ----------------------------------------------------------------------
    run_lease_s: float = Field(
        default=300.0, ge=10, le=86_400,
        description="A running stage records a heartbeat in pipeline_run every fifth of this; "
        "a 'running' row without one for this long is abandoned (its process died).")

    @field_validator("bucket_minutes")
    @classmethod
    def _bucket_divides_a_day(cls, value: int) -> int:
        if 1440 % value:
            raise ValueError(f"bucket_minutes must divide a day (1440 minutes) so buckets line "
                             f"up with the time of day, e.g. 15, 30, 60 or 120; got {value}")
        return value

    @field_validator("allowed_file_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [part for part in value.split(os.pathsep) if part]
        return value

    @field_validator("fetch_allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, str):
            return json.loads(value)
        return value

    @field_validator("fetch_allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network; expected e.g. "
                                 "127.0.0.1 or 10.20.0.0/16") from None
        return value

    @property
    def pgdata_dir(self) -> Path:
        return self.data_dir / "pgdata"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The configured settings; a bad value is a ConfigError naming the variable and the fix."""
    return load_settings()


def load_settings(**values: Any) -> Settings:
    """``Settings(**values)``, with every invalid setting described in one ConfigError line."""
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc)) from None
    except SettingsError as exc:  # a value pydantic-settings could not even decode
        raise ConfigError(f"invalid setting: {' '.join(str(exc).split())}; check the "
                          "SENTINEL_ variables in the environment and .env") from None


def allowed_values(name: str) -> str:
    """What a setting accepts, in words: "an integer from 1 to 256", "one of cpu, cuda"."""
    field = Settings.model_fields[name]
    origin = get_origin(field.annotation)
    if origin in (Union, UnionType):  # X | None: describe X
        origin = get_origin(next(a for a in get_args(field.annotation) if a is not type(None)))
    if origin is list:
        return "a list separated by ',' (':' for paths) or a JSON list"
    if origin is dict:
        return 'a JSON object such as {"0": "negative", "1": "neutral", "2": "positive"}'
    return accepted_values(field) or "a valid value"


def describe_errors(exc: ValidationError) -> str:
    """One line for every invalid setting: the variable, what arrived, what it must be."""
    problems: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        name = str(error["loc"][0]) if error["loc"] else ""
        if name in problems or name not in Settings.model_fields:
            continue
        variable = f"SENTINEL_{name.upper()}"
        got = error.get("input")
        if error["type"] == "value_error":  # our own validators explain themselves
            reason = error["msg"].removeprefix("Value error, ")
        else:
            reason = f"expected {allowed_values(name)}"
        secret = "SecretStr" in str(Settings.model_fields[name].annotation)
        top_level = len(error["loc"]) == 1 and isinstance(got, str | int | float) and not secret
        problems[name] = f"{variable}={got!r}: {reason}" if top_level else f"{variable}: {reason}"
    return ("invalid setting: " + "; ".join(problems.values())
            + "; fix it in the environment or .env")


def _default_text(name: str, field: FieldInfo) -> str:
    default = field.get_default(call_default_factory=False)
    if name == "data_dir":
        return "~/.local/share/sentinel"
    if field.default_factory is not None:
        return ""  # an empty list, or the checkout's model (not pydantic's "PydanticUndefined")
    if default is None:
        return ""
    return str(default).lower() if isinstance(default, bool) else str(default)


def _bounds_text(name: str) -> str:
    """" (allowed: ...)" for a bounded number or a choice, as the docs show it; else ""."""
    field = Settings.model_fields[name]
    bounded = any(hasattr(m, k) for m in field.metadata for k in ("ge", "gt", "le", "lt"))
    if not bounded:
        return ""
    return f" Allowed: {allowed_values(name).removeprefix('an ').removeprefix('a ')}."


# Not Sentinel settings: what docker-compose.yml (and `make airflow`) read, listed so that one
# .env.example covers the stack. Name, default ("" = none), meaning.
DEPLOY_VARIABLES = [
    ("POSTGRES_PASSWORD", "", "docker compose, required: password of the 'sentinel' role "
     "(owner of Sentinel's database; URL-safe characters)."),
    ("AIRFLOW_DB_PASSWORD", "", "docker compose, required: password of the 'airflow' role "
     "(Airflow's metadata database; URL-safe characters)."),
    ("AIRFLOW_JWT_SECRET", "", "docker compose, required: secret every Airflow component "
     "shares to sign task tokens (any long random string)."),
    ("AIRFLOW_FERNET_KEY", "", "docker compose: Fernet key encrypting Airflow connections "
     "(python -c 'from cryptography.fernet import Fernet; "
     "print(Fernet.generate_key().decode())')."),
    ("FEEDS_FILE", "./feeds.yaml", "docker compose: the host's feeds.yaml, mounted read-only "
     "into every Airflow container as SENTINEL_FEEDS_FILE (cp examples/feeds.example.yaml)."),
    ("AIRFLOW_PORT", "8080", "Port of the Airflow UI and API (docker compose and make airflow)."),
    ("POSTGRES_PORT", "5433", "docker compose: host port (127.0.0.1 only) of the PostgreSQL "
     "service, for analysts."),
    ("AIRFLOW_CPU_WORKER_QUEUES", "default,gpu", "docker compose: queues the CPU worker takes; "
     "set to 'default' when the gpu profile's worker runs."),
    ("AIRFLOW_WORKER_CONCURRENCY", "4", "docker compose: tasks a CPU worker runs at once."),
    ("TORCH_INDEX_URL", "https://download.pytorch.org/whl/cpu", "docker compose build: where "
     "torch==2.13.0 comes from (the GPU worker always builds from PyPI's CUDA wheel)."),
]


def render_env_example() -> str:
    """The .env.example text: every setting, commented out, with its description and default."""
    lines = ["# Sentinel settings: copy to .env (or export) and uncomment what you change.",
             "# Every variable is optional; the values shown are the defaults.", ""]
    for name, field in Settings.model_fields.items():
        lines.append(f"# {field.description}{_bounds_text(name)}")
        lines.append(f"# SENTINEL_{name.upper()}={_default_text(name, field)}")
    lines += ["", "# --- Deployment (docker-compose.yml, make airflow); Sentinel itself ignores "
              "these ---", ""]
    for name, default, meaning in DEPLOY_VARIABLES:
        lines += [f"# {meaning}", f"# {name}={default}"]
    return "\n".join(lines) + "\n"


def render_settings_table() -> str:
    """The README's configuration table."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = _default_text(name, field) or "(unset)"
        rows.append(f"| `SENTINEL_{name.upper()}` | `{default}` | {field.description}"
                    f"{_bounds_text(name)} |")
    return "\n".join(rows)


if __name__ == "__main__":
    # python -m sentinel.settings > .env.example; --table: the README's configuration table
    print(render_settings_table() + "\n" if "--table" in sys.argv[1:] else render_env_example(),
          end="")
