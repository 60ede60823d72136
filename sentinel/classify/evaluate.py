"""Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix for one task.

``evaluate`` reads a labelled CSV/Parquet file (labels as names, Bearish/Bullish/Neutral, or
integer ids; see ``labels``), classifies it with a model directory, and returns a report dict
that ``write_report`` saves as JSON and ``render_markdown`` prints as a table.
``fit_on_texts`` fits the calibration temperatures (``sentinel.classify.calibrate``) of an
in-memory model on labelled held-out rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sentinel.classify.calibrate import (
    ECE_BINS,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    softmax,
    uncalibrate,
)
from sentinel.classify.data import read_labelled
from sentinel.classify.labels import check_task
from sentinel.progress import track

if TYPE_CHECKING:
    from sentinel.classify.classifier import Classifier


def score(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Metrics over canonical label names. Classes absent from both gold and predictions are
    left out of the macro average (they would count as F1 = 0 otherwise)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    index = {label: i for i, label in enumerate(labels)}
    k = len(labels)
    matrix = np.zeros((k, k), dtype=np.int64)
    for g, p in zip(gold, predicted, strict=True):
        matrix[index[g], index[p]] += 1
    tp = np.diag(matrix).astype(float)
    support = matrix.sum(1)
    predicted_n = matrix.sum(0)
    precision = np.divide(tp, predicted_n, out=np.zeros(k), where=predicted_n > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    present = (support + predicted_n) > 0
    total = int(matrix.sum())
    return {
        "n": total,
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "weighted_f1": float((f1 * support).sum() / support.sum()) if support.sum() else 0.0,
        "labels": list(labels),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion_matrix": matrix.tolist(),
    }


def predict_labels(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    task: str,
    *,
    max_length: int = 128,
    bf16: bool = False,
    token_budget: int = 2048,
    prepare: Callable[[str], str] | None = None,
) -> list[str]:
    """Argmax labels of an in-memory model (used for dev scores during training)."""
    probs = predict_probabilities(model, tokenizer, texts, max_length=max_length, bf16=bf16,
                                  token_budget=token_budget, prepare=prepare)[task]
    names = model.tasks[task]
    return [names[i] for i in probs.argmax(1)]


def predict_probabilities(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    max_length: int = 128,
    bf16: bool = False,
    token_budget: int = 2048,
    prepare: Callable[[str], str] | None = None,
    temperatures: Mapping[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """``{task: probabilities}`` of an in-memory model (training, calibration)."""
    from sentinel.classify.engine import Runner
    from sentinel.classify.model import prepare_headline

    runner = Runner(
        model,
        tokenizer,
        device="cpu",
        precision="bf16" if bf16 else "fp32",
        max_length=max_length,
        token_budget=token_budget,
        autocast=True,  # the model is still being trained: never cast its weights
        prepare=prepare or prepare_headline,
        temperatures=temperatures,
    )
    return runner.probabilities(texts)


def fit_on_texts(
    model: Any,
    tokenizer: Any,
    dev_sets: Mapping[str, Any],
    *,
    prepare: Callable[[str], str],
    max_length: int = 128,
) -> dict[str, Any]:
    """Fit one temperature per task on labelled held-out rows (``{task: LabelledTexts}``,
    canonical labels) with an in-memory model, in fp32. Returns the ``calibration`` record
    stored in ``sentinel.json``: temperatures, rows used, NLL and ECE before and after."""
    record: dict[str, Any] = {"method": "temperature scaling (NLL, golden-section on log T)",
                              "fitted_on": "dev hold-out of the training files",
                              "temperature": {}, "rows": {}, "dev": {}}
    for task, data in dev_sets.items():
        probs = predict_probabilities(model, tokenizer, data.texts, max_length=max_length,
                                      prepare=prepare)[task]
        names = model.tasks[task]
        gold = [names.index(label) for label in data.labels]
        logp = np.log(np.clip(probs.astype(np.float64), 1e-30, None))  # logits up to a shift
        t = fit_temperature(logp, gold)
        record["temperature"][task] = t
        record["rows"][task] = len(gold)
        record["dev"][task] = {
            "nll_before": round(negative_log_likelihood(logp, gold), 4),
            "nll_after": round(negative_log_likelihood(logp, gold, t), 4),
            "ece_before": round(expected_calibration_error(softmax(logp), gold), 4),
            "ece_after": round(expected_calibration_error(softmax(logp, t), gold), 4),
        }
    return record


def evaluate(
    csv: str | Path,
    task: str,
    *,
    model_dir: str | Path | None = None,
    classifier: Classifier | None = None,
    text_col: str = "text",
    label_col: str = "label",
    label_names: Sequence[str] | None = None,
    limit: int | None = None,
    **classifier_options: Any,
) -> dict[str, Any]:
    """Classify a labelled file and score one task. Pass a loaded ``classifier`` or a
    ``model_dir`` (plus ``load_classifier`` options such as ``precision``)."""
    from sentinel.classify.classifier import load_classifier

    check_task(task)
    data = read_labelled(
        csv, task, text_col=text_col, label_col=label_col, label_names=label_names, limit=limit
    )
    if classifier is None:
        classifier = load_classifier(model_dir, **classifier_options)
    if task not in classifier.tasks:
        from sentinel.errors import SentinelError

        raise SentinelError(
            f"model {classifier.name} has no {task} head (it answers {', '.join(classifier.tasks)})"
        )
    started = time.perf_counter()
    probs = predict_in_blocks(classifier, data.texts, task)
    seconds = time.perf_counter() - started
    labels = classifier.tasks[task]
    report = score_probabilities(data.labels, probs, labels,
                                 classifier.temperatures().get(task, 1.0))
    if data.groups:  # SEntFiN: each fixed half on its own too
        report["subsets"] = {
            group: score_probabilities([data.labels[i] for i in rows], probs[rows], labels,
                                       classifier.temperatures().get(task, 1.0),
                                       matrix=False)
            for group in sorted(set(data.groups))
            for rows in ([i for i, g in enumerate(data.groups) if g == group],)
        }
    report.update(
        {
            "task": task,
            "file": str(csv),
            "source": data.source,
            "model": classifier.name,
            "version": classifier.version,
            "device": classifier.device,
            "precision": classifier.precision,
            "texts_per_s": round(len(data) / seconds, 1) if seconds > 0 else None,
        }
    )
    return report


def predict_in_blocks(classifier: Classifier, texts: list[str], task: str, *,
                      block: int = 1024) -> np.ndarray:
    """``classifier.predict_proba(texts)[task]``, a block at a time, showing progress (a bar on
    a terminal, log lines otherwise; ``sentinel.progress``)."""
    parts = [np.zeros((0, len(classifier.tasks[task])), dtype=np.float32)]
    with track(len(texts), "evaluate", unit="text") as progress:
        for start in range(0, len(texts), block):
            parts.append(classifier.predict_proba(texts[start:start + block])[task])
            progress.update(len(parts[-1]))
    return np.concatenate(parts)


def score_probabilities(gold: Sequence[str], probs: np.ndarray, labels: Sequence[str],
                        temperature: float = 1.0, *, matrix: bool = True) -> dict[str, Any]:
    """:func:`score` of the argmax labels, plus the expected calibration error (15 bins) of
    the probabilities as served (``ece``) and before the model's temperature
    (``ece_uncalibrated``, equal when it has none)."""

    report = score(gold, [labels[i] for i in probs.argmax(1)], labels)
    index = [list(labels).index(g) for g in gold]
    report["ece"] = round(expected_calibration_error(probs, index), 4)
    report["ece_uncalibrated"] = (
        round(expected_calibration_error(uncalibrate(probs, temperature), index), 4)
        if temperature != 1.0 else report["ece"])
    report["ece_bins"] = ECE_BINS
    report["temperature"] = temperature
    if not matrix:
        report.pop("confusion_matrix")
    return report


def write_report(report: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return path


def render_markdown(report: dict[str, Any]) -> str:
    """Summary line, per-class table, confusion matrix (rows = gold, columns = predicted)."""
    lines = [
        f"**{report.get('task', '')}** on `{Path(str(report.get('file', ''))).name}` "
        f"(n={report['n']}): accuracy **{report['accuracy']:.4f}**, "
        f"macro-F1 **{report['macro_f1']:.4f}**, weighted-F1 {report['weighted_f1']:.4f}"
        + (f", ECE {report['ece']:.4f} (before temperature {report['temperature']:g}: "
           f"{report['ece_uncalibrated']:.4f})" if "ece" in report else ""),
    ]
    for group, sub in (report.get("subsets") or {}).items():
        recalls = ", ".join(f"{k} {v['recall']:.3f}" for k, v in sub["per_class"].items())
        lines.append(f"- {group} (n={sub['n']}): accuracy {sub['accuracy']:.4f}, macro-F1 "
                     f"{sub['macro_f1']:.4f}, ECE {sub['ece']:.4f} (before: "
                     f"{sub['ece_uncalibrated']:.4f}); recall {recalls}")
    lines += [
        "",
        "| label | precision | recall | F1 | support |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, m in report["per_class"].items():
        lines.append(
            f"| {_cell(label)} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
            f"{m['support']} |"
        )
    labels = report["labels"]
    short = [str(i) for i in range(len(labels))]
    lines += [
        "",
        "Confusion matrix (rows: gold, columns: predicted, ids as in the table above"
        " counting from 0):",
        "",
        "| gold \\ pred | " + " | ".join(short) + " |",
        "|---|" + "---:|" * len(labels),
    ]
    for i, row in enumerate(report["confusion_matrix"]):
        lines.append(f"| {i} {_cell(labels[i])} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")
