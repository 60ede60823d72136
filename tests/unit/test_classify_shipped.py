"""The shipped model: loads offline, answers unambiguous headlines, and its fast CPU path agrees
with fp32. Skipped (with the reason) when models/sentinel-minilm has not been trained yet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models" / "sentinel-minilm"

pytestmark = pytest.mark.skipif(
    not (SHIPPED / "model.safetensors").is_file(),
    reason=f"no shipped model at {SHIPPED}; train it (see models/sentinel-minilm/model_card.md)",
)

HEADLINES = {
    "Apple shares plunge 8% after iPhone sales miss estimates": ("negative", None),
    "Tesla stock soars to record high after blowout quarterly profit": ("positive", None),
    "Fed raises interest rates by 25 basis points, Powell signals more hikes": (
        None,
        "Fed | Central Banks",
    ),
    "Oil prices climb as OPEC+ agrees to extend output cuts": (None, "Energy | Oil"),
    "Coca-Cola declares quarterly dividend of $0.46 per share": (None, "Dividend"),
    "Nvidia downgraded to sell at Morgan Stanley, shares tumble": ("negative", None),
    "Microsoft beats earnings estimates as cloud revenue jumps 30%": ("positive", None),
}

SCRIPT = """
import json, sys
from sentinel.classify.classifier import load_classifier
clf = load_classifier(sys.argv[1], precision="fp32", device="cpu")
texts = json.loads(sys.stdin.read())
print(json.dumps({"version": clf.version, "tasks": clf.tasks, "metrics": clf.metrics,
                  "predictions": [p.__dict__ for p in clf.classify(texts)]}))
"""


@pytest.fixture(scope="module")
def offline_run() -> dict:
    """Load and classify in a fresh interpreter with HF_HUB_OFFLINE=1 (no hub lookups)."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": "/nonexistent-hf-home",
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(SHIPPED)],
        input=json.dumps(list(HEADLINES)),
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_loads_offline_with_both_heads_and_metrics(offline_run) -> None:
    meta = json.loads((SHIPPED / "sentinel.json").read_text())
    assert offline_run["version"] == meta["version"]
    assert offline_run["tasks"]["sentiment"] == ["negative", "neutral", "positive"]
    assert len(offline_run["tasks"]["topic"]) == 20
    assert {"sentiment", "topic"} <= set(offline_run["metrics"])


@pytest.mark.parametrize("index", range(len(HEADLINES)))
def test_unambiguous_headlines(offline_run, index) -> None:
    text, (sentiment, topic) = list(HEADLINES.items())[index]
    got = offline_run["predictions"][index]
    if sentiment:
        assert got["sentiment"] == sentiment, (text, got)
    if topic:
        assert got["topic"] == topic, (text, got)


def test_shipped_weights_are_small_and_fp16() -> None:
    meta = json.loads((SHIPPED / "sentinel.json").read_text())
    assert meta["dtype"] == "float16"
    assert (SHIPPED / "model.safetensors").stat().st_size < 60e6
    assert (SHIPPED / "model_card.md").is_file() and (SHIPPED / "metrics.json").is_file()


def test_fast_cpu_path_agrees_with_fp32_on_a_fixed_sample() -> None:
    from sentinel.classify.classifier import load_classifier
    from sentinel.classify.engine import cpu_supports_bf16

    # bf16 is the CPU default where the CPU has it; elsewhere the default is fp32 itself (int8
    # is opt-in, documented as lossy), so there is no fast path to hold to fp32
    if not cpu_supports_bf16():
        pytest.skip("this CPU has no avx512_bf16/AMX: its default CPU path is fp32 itself")
    precision, least = "bf16", 0.97
    texts = _fixed_sample(200)
    reference = load_classifier(SHIPPED, precision="fp32", device="cpu").predict_proba(texts)
    fast = load_classifier(SHIPPED, precision=precision, device="cpu").predict_proba(texts)
    for task in reference:
        agreement = (reference[task].argmax(1) == fast[task].argmax(1)).mean()
        assert agreement >= least, f"{task}: {precision} agrees with fp32 on {agreement:.3f}"


def _fixed_sample(n: int) -> list[str]:
    """Validation texts when ../shared/datasets is there, else the headlines above, repeated
    with variations."""
    from sentinel.classify.data import SPLITS, datasets_dir, read_table

    path = datasets_dir(REPO) / SPLITS[("sentiment", "valid")]
    if path.is_file():
        return [str(t) for t in read_table(path)["text"].tolist()[:n]]
    base = list(HEADLINES)
    return [f"{base[i % len(base)]} ({i})" for i in range(n)]


def test_declares_its_languages_and_calibration_and_headline_metrics() -> None:
    meta = json.loads((SHIPPED / "sentinel.json").read_text())
    metrics = json.loads((SHIPPED / "metrics.json").read_text())
    assert meta["languages"] == ["en"] and meta["text_prep"] == "headline/2"
    temperature = meta["calibration"]["temperature"]
    assert set(temperature) == {"sentiment", "topic"} and all(t > 0 for t in temperature.values())
    for key in ("sentiment", "topic", "sentiment_headlines"):
        assert 0 <= metrics[key]["ece"] <= 1 and "ece_uncalibrated" in metrics[key]
    assert set(metrics["sentiment_headlines"]["subsets"]) == {"selection", "holdout"}


def test_shipped_reports_name_no_machine_path():
    """The evaluation reports shipped with the model name their data relative to the checkout
    (``../shared/datasets/...``), never an absolute path of the machine that wrote them."""
    for report in sorted(SHIPPED.glob("eval_*.json")):
        data = json.loads(report.read_text())
        for key in ("file", "source"):
            assert not Path(str(data.get(key, ""))).is_absolute(), (report.name, key, data[key])
