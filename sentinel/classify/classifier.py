"""The classifier the pipeline calls: ``load_classifier(...)`` -> ``Classifier``.

``Classifier.classify(texts)`` returns one ``Prediction`` per text (sentiment label and its three
probabilities, topic label and its probability). By default one Sentinel multi-task model answers
both tasks in one forward pass; ``sentiment_model`` / ``topic_model`` replace a task with any
``AutoModelForSequenceClassification`` checkpoint and its explicit id->label map.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from sentinel.classify.labels import SENTIMENT, SENTIMENT_LABELS, TOPIC, LabelMap
from sentinel.errors import ConfigError

if TYPE_CHECKING:  # torch is imported only where a model is loaded
    from sentinel.classify.model import TaskModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """One text's verdict; fields of a task the classifier lacks are None."""

    sentiment: str | None = None
    p_negative: float | None = None
    p_neutral: float | None = None
    p_positive: float | None = None
    topic: str | None = None
    topic_prob: float | None = None


class TextClassifier(Protocol):
    """What the classify stage needs of a classifier: a verdict per text, what it reads and the
    identity recorded in the ``model`` table. :class:`Classifier` is the real one."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def device(self) -> str: ...
    @property
    def precision(self) -> str: ...
    @property
    def languages(self) -> tuple[str, ...]: ...  # ISO 639-1 codes it reads

    def classify(self, texts: Sequence[str]) -> list[Prediction]: ...

    def describe(self) -> dict[str, Any]: ...  # the ``model`` row: name, version, source, ...


@dataclass
class Classifier:
    """Loaded models ready to classify. ``tasks`` maps task -> label names (canonical order)."""

    name: str
    version: str
    source: str
    tasks: dict[str, list[str]]
    device: str
    precision: str
    metrics: dict[str, Any] = field(default_factory=dict)
    runners: list[tuple[Any, tuple[str, ...]]] = field(default_factory=list, repr=False)
    threads: int | None = None
    languages: tuple[str, ...] = ("en",)  # what every underlying model reads (ISO 639-1)

    def predict_proba(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """``{task: (len(texts), n_labels) probabilities}``; one pass per underlying model."""
        out: dict[str, np.ndarray] = {}
        if not texts:
            return {t: np.zeros((0, len(v)), dtype=np.float32) for t, v in self.tasks.items()}
        for runner, serves in self.runners:
            probs = runner.probabilities(list(texts))
            for task in serves:
                out[task] = probs[task]
        return out

    def temperatures(self) -> dict[str, float]:
        """``{task: T}`` applied to each task's logits (calibration; 1.0 when none)."""
        return {task: runner.temperatures.get(task, 1.0)
                for runner, serves in self.runners for task in serves}

    def classify(self, texts: Sequence[str]) -> list[Prediction]:
        probs = self.predict_proba(texts)
        sentiment, topic = probs.get(SENTIMENT), probs.get(TOPIC)
        s_labels, t_labels = self.tasks.get(SENTIMENT), self.tasks.get(TOPIC)
        s_index = {label: i for i, label in enumerate(s_labels or [])}
        out: list[Prediction] = []
        for i in range(len(texts)):
            fields: dict[str, Any] = {}
            if sentiment is not None and s_labels is not None:
                row = sentiment[i]
                fields.update(
                    sentiment=s_labels[int(row.argmax())],
                    p_negative=float(row[s_index["negative"]]),
                    p_neutral=float(row[s_index["neutral"]]),
                    p_positive=float(row[s_index["positive"]]),
                )
            if topic is not None and t_labels is not None:
                row = topic[i]
                best = int(row.argmax())
                fields.update(topic=t_labels[best], topic_prob=float(row[best]))
            out.append(Prediction(**fields))
        return out

    def describe(self) -> dict[str, Any]:
        """What the ``model`` table stores."""
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "tasks": self.tasks,
            "metrics": self.metrics,
        }


def load_classifier(
    model_dir: str | Path | None,
    *,
    sentiment_model: str | Path | None = None,
    sentiment_labels: LabelMap | None = None,
    topic_model: str | Path | None = None,
    topic_labels: LabelMap | None = None,
    device: str = "auto",
    precision: str = "auto",
    threads: int | None = None,
    token_budget: int | None = None,
    max_length: int = 128,
) -> Classifier:
    """Load the models and pick device and precision (see ``engine.choose_*``).

    ``model_dir`` is a Sentinel multi-task model (the shipped ``models/sentinel-minilm``);
    it may be None when both tasks come from external checkpoints.
    """
    import torch

    from sentinel.classify.calibrate import temperatures
    from sentinel.classify.engine import TOKEN_BUDGETS, Runner, choose_device, choose_precision
    from sentinel.classify.model import (
        METRICS_FILE,
        load_external,
        load_multitask,
        model_languages,
        prepare_text,
        text_preparer,
    )

    started = time.perf_counter()
    if threads:
        torch.set_num_threads(threads)
    chosen_device = choose_device(device)
    chosen_precision = choose_precision(chosen_device, precision)
    budget = token_budget or TOKEN_BUDGETS.get(chosen_device, 8192)
    parts: list[tuple[TaskModel, Any, dict[str, Any], tuple[str, ...], str]] = []
    external = {SENTIMENT: (sentiment_model, sentiment_labels), TOPIC: (topic_model, topic_labels)}
    own_tasks = tuple(t for t, (m, _) in external.items() if not m)
    if model_dir is None and len(own_tasks) == len(external):
        raise ConfigError("no model: set model_dir (or sentiment_model/topic_model with labels)")
    if own_tasks and model_dir is not None:
        if not Path(model_dir).is_dir():
            raise ConfigError(
                f"model directory {model_dir} does not exist; train one with `sentinel train` "
                "or point SENTINEL_MODEL_DIR at a Sentinel model"
            )
        model, tokenizer, meta = load_multitask(model_dir)
        serves = tuple(t for t in own_tasks if t in model.tasks)
        if serves:
            parts.append((model, tokenizer, meta, serves, str(model_dir)))
    for task, (source, labels) in external.items():
        if source:
            external_model, tokenizer, meta = load_external(source, task, labels)
            parts.append((external_model, tokenizer, meta, (task,), str(source)))
    if not parts:
        raise ConfigError(f"model {model_dir} answers none of the configured tasks")

    runners = []
    tasks: dict[str, list[str]] = {}
    for part_model, tokenizer, meta, serves, _ in parts:
        trained_length = meta.get("max_length") or getattr(tokenizer, "model_max_length", None)
        limit = int(trained_length or max_length)
        runner = Runner(
            part_model,
            tokenizer,
            device=chosen_device,
            precision=chosen_precision,
            max_length=min(max_length, limit, 512),
            token_budget=budget,
            owns_model=True,
            temperatures=temperatures(meta),
            # an external checkpoint gets the text preparation of version 1 (links removed)
            prepare=text_preparer(meta) if "format" in meta else prepare_text,
        )
        runners.append((runner, serves))
        for task in serves:
            tasks[task] = runner.tasks[task]
    if SENTIMENT in tasks and set(tasks[SENTIMENT]) != set(SENTIMENT_LABELS):
        raise ConfigError(f"sentiment labels {tasks[SENTIMENT]} are not {list(SENTIMENT_LABELS)}")
    if len(parts) == 1:
        name, version = parts[0][2]["name"], parts[0][2]["version"]
    else:
        name = "+".join(f"{p[2]['name']}[{','.join(p[3])}]" for p in parts)
        joined = "|".join(f"{p[2]['name']}:{p[2]['version']}:{','.join(p[3])}" for p in parts)
        version = hashlib.sha256(joined.encode()).hexdigest()[:12]
    metrics = {}
    if model_dir is not None and (Path(model_dir) / METRICS_FILE).is_file() and own_tasks:
        try:
            metrics = json.loads((Path(model_dir) / METRICS_FILE).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{Path(model_dir) / METRICS_FILE} cannot be read ({exc}); "
                              "restore it, or delete it (it only describes the model)") from None
    readable = set(model_languages(parts[0][2]))
    for part in parts[1:]:
        readable &= set(model_languages(part[2]))
    classifier = Classifier(
        languages=tuple(sorted(readable)),
        name=name,
        version=version,
        source=";".join(p[4] for p in parts),
        tasks=tasks,
        device=chosen_device,
        precision=chosen_precision,
        metrics=metrics,
        runners=runners,
        threads=torch.get_num_threads(),
    )
    log.info(
        "classifier name=%s version=%s device=%s precision=%s threads=%d load_s=%.1f",
        name,
        version,
        chosen_device,
        chosen_precision,
        classifier.threads,
        time.perf_counter() - started,
    )
    return classifier


NO_MODEL = ("no classifier model: SENTINEL_MODEL_DIR is not set, and an installed Sentinel "
            "ships none; set it to a Sentinel model directory (models/sentinel-minilm in the "
            "repository, or one `sentinel train` wrote)")


@dataclass(frozen=True)
class ClassifierSpec:
    """Which models answer which task and how they run: :func:`load_classifier`'s arguments
    (``sentinel.options.classifier_spec`` reads them from the settings)."""

    model_dir: str | Path | None
    sentiment_model: str | Path | None = None
    sentiment_labels: LabelMap | None = None
    topic_model: str | Path | None = None
    topic_labels: LabelMap | None = None
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    token_budget: int | None = None
    max_length: int = 128

    def only(self, model_dir: str | Path) -> ClassifierSpec:
        """The same runtime with ``model_dir`` answering both tasks (no external models)."""
        return replace(self, model_dir=Path(model_dir), sentiment_model=None,
                       sentiment_labels=None, topic_model=None, topic_labels=None)

    def load(self) -> Classifier:
        """The classifier; a ConfigError naming SENTINEL_MODEL_DIR when no model answers a task
        (outside a checkout it has no default)."""
        if self.model_dir is None and not (self.sentiment_model and self.topic_model):
            raise ConfigError(NO_MODEL)
        return load_classifier(
            self.model_dir,
            sentiment_model=self.sentiment_model,
            sentiment_labels=self.sentiment_labels,
            topic_model=self.topic_model,
            topic_labels=self.topic_labels,
            device=self.device,
            precision=self.precision,
            threads=self.threads,
            token_budget=self.token_budget,
            max_length=self.max_length,
        )
