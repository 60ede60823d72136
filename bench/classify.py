"""Classification throughput: Sentinel's engine against two common recipes, on the same texts.

    python bench/classify.py                      # CPU, the shipped model, 1000 texts
    python bench/classify.py --device cuda --precision bf16 --texts 50000 --baseline-texts 2000

Texts: the validation texts in ../shared/datasets (or $SENTINEL_DATASETS_DIR), else generated
headlines. Measured, each after a short warm-up, all including tokenisation:

- engine: ``load_classifier`` (length buckets, token budget, dynamic padding, fast dtype);
- naive (a): each batch of 16 tokenised with padding='max_length' (128 tokens), fp32;
- pipeline (b): transformers ``pipeline("feature-extraction")`` called one text at a time
  (the shipped model has mean pooling + two heads, so the heads are applied to its output);
- fp32 reference: the engine in fp32, for the label agreement of the fast path.

Also prints the share of the measured matmul peak the engine reaches. Last line:
``RESULT texts_per_s=<n> ratio_vs_naive=<x> ratio_vs_pipeline=<x> agreement=<f>``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from sentinel.classify.calibrate import temperatures  # noqa: E402
from sentinel.classify.classifier import load_classifier  # noqa: E402
from sentinel.classify.data import SPLITS, datasets_dir, read_table  # noqa: E402
from sentinel.classify.model import load_multitask, text_preparer  # noqa: E402

SUBJECTS = [
    "Apple",
    "Tesla",
    "JPMorgan",
    "Exxon",
    "Nvidia",
    "Pfizer",
    "Boeing",
    "Amazon",
    "The Fed",
    "Oil",
    "Gold",
    "Treasury yields",
    "The dollar",
    "Bitcoin",
    "Netflix",
]
EVENTS = [
    "shares jump after earnings beat estimates",
    "stock falls as revenue misses forecasts",
    "raises quarterly dividend by 5%",
    "announces $2 billion acquisition of rival",
    "CEO steps down amid investigation",
    "files for IPO on the Nasdaq",
    "prices climb as OPEC extends output cuts",
    "holds rates steady, signals cuts later",
    "downgraded to sell by Morgan Stanley",
    "faces SEC lawsuit over disclosures",
    "hits record high on strong demand",
    "slides as inflation data rattles markets",
]


def load_texts(n: int, seed: int) -> tuple[list[str], str]:
    root = datasets_dir(REPO)
    texts: list[str] = []
    for task in ("sentiment", "topic"):
        path = root / SPLITS[(task, "valid")]
        if path.is_file():
            texts += [str(t) for t in read_table(path)["text"].tolist()]
    source = f"{root} validation texts" if texts else "generated headlines"
    if not texts:
        texts = [f"{s} {e}" for s in SUBJECTS for e in EVENTS]
    rng = random.Random(seed)
    rng.shuffle(texts)
    while len(texts) < n:
        texts = texts + texts
    return texts[:n], source


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def measure(methods: dict, rounds: int, device: str, warmup: int) -> tuple[dict, dict]:
    """Time every method on the same slices, interleaved round by round (the order rotates), so
    that a busy machine slows all of them alike. Returns texts/s and concatenated outputs."""
    for fn, texts in methods.values():  # warm-up: kernels for every batch shape, lazy imports
        fn(texts[:warmup])
    sync(device)
    seconds = dict.fromkeys(methods, 0.0)
    outputs: dict[str, list] = {name: [] for name in methods}
    names = list(methods)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn, texts = methods[name]
            bounds = np.linspace(0, len(texts), rounds + 1).astype(int)
            part = texts[bounds[r] : bounds[r + 1]]
            start = time.perf_counter()
            outputs[name].append((r, fn(part)))
            sync(device)
            seconds[name] += time.perf_counter() - start
    rates = {name: len(methods[name][1]) / seconds[name] for name in methods}
    joined = {
        name: {
            t: np.concatenate([o[t] for _, o in sorted(parts, key=lambda x: x[0])])
            for t in parts[0][1]
        }
        for name, parts in outputs.items()
    }
    return rates, joined


def naive_fn(model, tokenizer, device: str, meta: dict):
    """The model's own text preparation and temperatures, as the engine applies them."""
    model = model.to(device).float().eval()
    prepare_text, temperature = text_preparer(meta), temperatures(meta)

    def run(texts: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, list[np.ndarray]] = {t: [] for t in model.tasks}
        with torch.no_grad():
            for i in range(0, len(texts), 16):
                batch = tokenizer(
                    [prepare_text(t) for t in texts[i : i + 16]],
                    padding="max_length",
                    truncation=True,
                    max_length=128,
                    return_tensors="pt",
                )
                logits = model(batch["input_ids"].to(device), batch["attention_mask"].to(device))
                for t, v in logits.items():
                    out[t].append(torch.softmax(v / temperature.get(t, 1.0), -1).cpu().numpy())
        return {t: np.concatenate(v) for t, v in out.items()}

    return run


def pipeline_fn(model, tokenizer, device: str, meta: dict):
    from transformers import pipeline

    prepare_text, temperature = text_preparer(meta), temperatures(meta)
    model = model.to(device).float().eval()
    pipe = pipeline(
        "feature-extraction", model=model.encoder, tokenizer=tokenizer, device=torch.device(device)
    )

    def run(texts: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, list[np.ndarray]] = {t: [] for t in model.tasks}
        with torch.no_grad():
            for text in texts:
                hidden = pipe(
                    prepare_text(text),
                    return_tensors=True,
                    tokenize_kwargs={"truncation": True, "max_length": 128},
                )
                pooled = hidden.to(device).float().mean(1)
                for t, head in model.heads.items():
                    out[t].append(torch.softmax(head(pooled) / temperature.get(t, 1.0), -1)
                                  .cpu().numpy())
        return {t: np.concatenate(v) for t, v in out.items()}

    return run


def matmul_peak(device: str, dtype: torch.dtype) -> float:
    """GFLOP/s of a square matmul in ``dtype`` (the best of a few timed repeats)."""
    n = 8192 if device == "cuda" else 1024
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    best = 0.0
    for _ in range(3 if device == "cuda" else 5):
        reps = 10 if device == "cuda" else 3
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        if device == "cuda":
            torch.cuda.synchronize()
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - start) / 1e9)
    return best


def flops_per_token(config, mean_len: float) -> float:
    """Encoder matmul FLOPs per token: projections + feed-forward + attention scores/values."""
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    return layers * (2 * (4 * h * h + 2 * h * i) + 4 * mean_len * h)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "models" / "sentinel-minilm"))
    parser.add_argument("--texts", type=int, default=1000, help="texts for the engine")
    parser.add_argument(
        "--baseline-texts",
        type=int,
        default=None,
        help="texts for the baselines and the fp32 reference (default: same)",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--token-budget", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    parser.add_argument("--warmup", type=int, default=200, help="texts in each warm-up pass")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    texts, source = load_texts(args.texts, args.seed)
    base_n = min(args.baseline_texts or len(texts), len(texts))
    base_texts = texts[:base_n]
    clf = load_classifier(
        args.model, device=args.device, precision=args.precision, token_budget=args.token_budget
    )
    device = clf.device
    budget = clf.runners[0][0].token_budget
    print(
        f"model={clf.name} version={clf.version} device={device} precision={clf.precision} "
        f"threads={torch.get_num_threads()} token_budget={budget} texts={len(texts)} "
        f"baseline_texts={base_n} source={source}"
    )
    if device == "cuda":
        print(f"gpu={torch.cuda.get_device_name(0)} torch={torch.__version__}")

    reference = load_classifier(args.model, device=device, precision="fp32", token_budget=budget)
    # one fp32 copy of the checkpoint serves both baselines (neither changes the weights)
    model, tokenizer, meta = load_multitask(args.model)
    methods = {
        "engine": (clf.predict_proba, texts),
        "fp32": (reference.predict_proba, base_texts),
        "naive": (naive_fn(model, tokenizer, device, meta), base_texts),
    }
    if not args.skip_pipeline:
        methods["pipeline"] = (pipeline_fn(model, tokenizer, device, meta), base_texts)
    rates, out = measure(methods, args.rounds, device, args.warmup)
    rate, fast, ref, naive = rates["engine"], out["engine"], out["fp32"], out["naive"]
    naive_rate, pipe_rate = rates["naive"], rates.get("pipeline", float("nan"))
    print(f"engine ({clf.precision}, buckets + token budget): {rate:9.1f} texts/s")
    print(f"engine fp32 (reference):                 {rates['fp32']:9.1f} texts/s")
    print(f"naive (a) max_length=128, batch 16, fp32: {naive_rate:9.1f} texts/s")
    print(f"pipeline (b) one text at a time, fp32:    {pipe_rate:9.1f} texts/s")

    agreement = {}
    for task in clf.tasks:
        fast_labels = fast[task][:base_n].argmax(1)
        agreement[task] = float((fast_labels == ref[task].argmax(1)).mean())
    naive_agree = min(float((naive[t].argmax(1) == ref[t].argmax(1)).mean()) for t in clf.tasks)
    print(
        "agreement with fp32 labels: "
        + " ".join(f"{t}={a:.4f}" for t, a in agreement.items())
        + f" (naive vs fp32 engine: {naive_agree:.4f})"
    )

    prepared = [text_preparer(meta)(t) for t in texts[:2000]]
    lengths = [len(ids) for ids in tokenizer(prepared)["input_ids"]]
    mean_len = float(np.mean(lengths))
    per_token = flops_per_token(model.encoder.config, mean_len)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(clf.precision, torch.float32)
    peak = matmul_peak(device, dtype)
    achieved = per_token * mean_len * rate / 1e9
    print(
        f"tokens/text={mean_len:.1f} GFLOP/text={per_token * mean_len / 1e9:.4f} "
        f"achieved={achieved:.1f} GFLOP/s measured {str(dtype).removeprefix('torch.')} "
        f"matmul peak={peak:.1f} GFLOP/s share={achieved / peak:.1%}"
    )

    print(
        f"RESULT texts_per_s={rate:.1f} ratio_vs_naive={rate / naive_rate:.2f} "
        f"ratio_vs_pipeline={rate / pipe_rate:.2f} agreement={min(agreement.values()):.4f}"
    )


if __name__ == "__main__":
    main()
