"""Few-step training on a small sample: loss falls, the saved model reloads with the same outputs,
bad input files fail with a message that says what to fix."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from sentinel.classify.data import DataError

POSITIVE = [
    "stock soars to record high",
    "shares jumps after earnings beats",
    "apple gains on upgrade",
]
NEGATIVE = ["stock plunges after loss", "shares drops on weak revenue", "tesla sinks on downgrade"]
NEUTRAL = ["company names new ceo", "fed rates decision on the market", "oil price of the day"]
TOPICS = {
    "Fed | Central Banks": ["fed rates rise", "central bank inflation rate", "the fed cut rates"],
    "Energy | Oil": ["oil price rises", "opec cut oil", "gas and energy prices"],
    "Dividend": ["quarterly dividend raise", "company dividend cut", "dividend of 5 $"],
}


def write_csv(path, rows, header="text,label") -> str:
    lines = [header] + [f'"{text}",{label}' for text, label in rows]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = random.Random(0)
    sentiment = [(t, 1) for t in POSITIVE] + [(t, 0) for t in NEGATIVE] + [(t, 2) for t in NEUTRAL]
    topic_ids = {"Fed | Central Banks": 1, "Energy | Oil": 6, "Dividend": 4}
    topic = [(t, topic_ids[name]) for name, texts in TOPICS.items() for t in texts]
    sentiment, topic = sentiment * 4, topic * 4
    rng.shuffle(sentiment)
    rng.shuffle(topic)
    return {
        "sentiment": write_csv(root / "sent.csv", sentiment),
        "topic": write_csv(root / "topic.csv", topic),
        "root": root,
    }


@pytest.fixture(scope="module")
def trained(files, tmp_path_factory):
    from sentinel.classify.testing import write_tiny_base
    from sentinel.classify.train import TrainConfig, train

    root = tmp_path_factory.mktemp("train")
    base = write_tiny_base(root / "base", seed=0)
    return train(TrainConfig(
        train_files={"sentiment": files["sentiment"], "topic": files["topic"]},
        output_dir=root / "out",
        base_model=base,
        epochs=8,
        batch_size=8,
        lr=3e-3,
        warmup_ratio=0.1,
        max_length=32,
        seed=1,
        mixed_precision="fp32",
        progress=False,
        save_dtype="fp32",
        valid_files={"sentiment": files["sentiment"], "topic": files["topic"]},
        patience=99,
        checkpoint_dir=root / "best",
    ))


def test_loss_decreases(trained) -> None:
    losses = trained.losses
    assert len(losses) >= 40
    assert np.mean(losses[-8:]) < 0.6 * np.mean(losses[:8])
    assert trained.history[-1]["train_loss"] < trained.history[0]["train_loss"]


def test_saved_model_reloads_with_identical_outputs(trained) -> None:
    from sentinel.classify.engine import Runner
    from sentinel.classify.model import load_multitask

    texts = POSITIVE + NEGATIVE + ["fed rates rise", "a long text. " * 30]
    options = {"device": "cpu", "precision": "fp32", "max_length": 32, "token_budget": 256}
    in_memory = Runner(trained.model, *_tokenizer(trained), **options).probabilities(texts)
    model, tokenizer, meta = load_multitask(trained.output_dir)
    reloaded = Runner(model, tokenizer, **options).probabilities(texts)
    for task in in_memory:
        np.testing.assert_array_equal(in_memory[task], reloaded[task])
    assert meta["version"] == trained.meta["version"]
    assert meta["tasks"]["sentiment"] == ["negative", "neutral", "positive"]
    assert (trained.output_dir / "model.safetensors").is_file()
    assert json.loads((trained.output_dir / "sentinel.json").read_text())["training"]["best_epoch"]


def test_fp16_shipping_weights_stay_close(trained, tmp_path) -> None:
    import torch

    from sentinel.classify.engine import Runner
    from sentinel.classify.model import load_multitask, save_multitask

    save_multitask(
        trained.model,
        _tokenizer(trained)[0],
        tmp_path / "fp16",
        name="t",
        max_length=32,
        dtype=torch.float16,
    )
    model, tokenizer, meta = load_multitask(tmp_path / "fp16")
    options = {"device": "cpu", "precision": "fp32", "max_length": 32, "token_budget": 256}
    texts = POSITIVE + NEGATIVE + NEUTRAL
    a = Runner(trained.model, tokenizer, **options).probabilities(texts)
    b = Runner(model, tokenizer, **options).probabilities(texts)
    for task in a:
        np.testing.assert_allclose(a[task], b[task], atol=2e-2)
    assert meta["dtype"] == "float16" and meta["version"] != trained.meta["version"]


def test_trained_model_learned_the_training_rows(trained, files) -> None:
    from sentinel.classify.classifier import load_classifier
    from sentinel.classify.evaluate import evaluate

    clf = load_classifier(trained.output_dir, precision="fp32", device="cpu")
    report = evaluate(files["sentiment"], "sentiment", classifier=clf)
    assert report["accuracy"] >= 0.9
    assert trained.dev_metrics["sentiment"]["accuracy"] >= 0.9


def test_missing_column_is_named(files, tmp_path) -> None:
    from sentinel.classify.train import TrainConfig, train

    bad = write_csv(tmp_path / "bad.csv", [("stock soars", 1)], header="headline,label")
    with pytest.raises(DataError, match=r"missing column\(s\) 'text'.*'headline'.*--text-col"):
        train(TrainConfig(train_files={"sentiment": bad}, output_dir=tmp_path / "out",
                          base_model=tmp_path))


def test_unknown_label_is_named(files, tmp_path) -> None:
    from sentinel.classify.train import TrainConfig, train

    bad = write_csv(tmp_path / "bad.csv", [("stock soars", 1), ("stock falls", "down")])
    with pytest.raises(DataError, match=r"bad.csv: 1 sentiment label\(s\) not understood: 'down'"):
        train(TrainConfig(train_files={"sentiment": bad}, output_dir=tmp_path / "out",
                          base_model=tmp_path))


def test_parquet_input_and_label_names(tmp_path) -> None:
    import pandas as pd

    pytest.importorskip("pyarrow", reason="Parquet input needs pyarrow")

    from sentinel.classify.data import read_labelled

    path = tmp_path / "x.parquet"
    pd.DataFrame({"body": ["up", "down"], "y": [0, 1]}).to_parquet(path)
    data = read_labelled(
        path,
        "sentiment",
        text_col="body",
        label_col="y",
        label_names=["Bullish", "Bearish", "Neutral"],
    )
    assert data.labels == ["positive", "negative"]


def test_class_weights_favour_rare_classes() -> None:
    from sentinel.classify.train import class_weights

    labels = ["a"] * 90 + ["b"] * 10
    sqrt = class_weights(labels, ["a", "b", "c"], "sqrt")
    assert sqrt[1] == pytest.approx(3 * sqrt[0]) and sqrt[2] == pytest.approx(sqrt[2])
    mean = (90 * sqrt[0] + 10 * sqrt[1]) / 100
    assert mean == pytest.approx(1.0)
    assert class_weights(labels, ["a", "b"], "none") == [1.0, 1.0]


def _tokenizer(trained):
    from transformers import AutoTokenizer

    return (AutoTokenizer.from_pretrained(trained.output_dir),)


def test_class_weighting_per_task() -> None:
    from sentinel.classify.train_config import parse_weighting
    from sentinel.errors import SentinelError

    tasks = ["sentiment", "topic"]
    assert parse_weighting("sqrt", tasks) == {"sentiment": "sqrt", "topic": "sqrt"}
    assert parse_weighting("topic=sqrt", tasks) == {"sentiment": "none", "topic": "sqrt"}
    assert parse_weighting({"sentiment": "inverse"}, ["sentiment"]) == {"sentiment": "inverse"}
    with pytest.raises(SentinelError, match="expected none, sqrt or inverse"):
        parse_weighting("topic=log", tasks)
    with pytest.raises(SentinelError, match="unknown task"):
        parse_weighting("news=sqrt", tasks)
    with pytest.raises(SentinelError, match="expected task=value pairs"):
        parse_weighting("sentiment=none,topic", tasks)  # was a bare ValueError


def test_task_weights() -> None:
    from sentinel.classify.train_config import parse_task_weights
    from sentinel.errors import SentinelError

    tasks = ["sentiment", "topic"]
    assert parse_task_weights(None, tasks) == {"sentiment": 1.0, "topic": 1.0}
    assert parse_task_weights("sentiment=2", tasks) == {"sentiment": 2.0, "topic": 1.0}
    with pytest.raises(SentinelError, match="task=number"):
        parse_task_weights("sentiment=lots", tasks)
    with pytest.raises(SentinelError, match="positive weights"):
        parse_task_weights("news=2", tasks)


def test_limit_is_a_number_or_per_task_rows() -> None:
    from sentinel.classify.train_config import parse_limit
    from sentinel.errors import SentinelError

    assert parse_limit("500") == 500 and parse_limit(None) is None
    assert parse_limit("topic=6000") == {"topic": 6000}
    with pytest.raises(SentinelError, match="expected a number of rows or task=rows pairs"):
        parse_limit("topic=lots")


def test_train_config_checks_every_value_before_anything_is_loaded(tmp_path) -> None:
    from sentinel.classify.train_config import TrainConfig
    from sentinel.errors import SentinelError

    files = {"train_files": {"sentiment": tmp_path / "absent.csv"}, "output_dir": tmp_path}
    config = TrainConfig.build(**files, limit="topic=6000", class_weighting="sqrt")
    assert config.limit == {"topic": 6000} and config.weighting == {"sentiment": "sqrt"}
    assert config.task_weight == {"sentiment": 2.0}
    for values, message in [
        ({"epochs": 0}, "invalid training option: --epochs=0: expected an integer from 1 to "
                        "1000"),
        ({"lr": -1e-4, "threads": 0}, "--lr=-0.0001: expected a number greater than 0 and at "
                                      "most 1; --threads=0: expected an integer from 1 to 1024"),
        ({"dev_fraction": 1.0}, "--dev-fraction=1.0: expected a number from 0 and below 1"),
        ({"mixed_precision": "fp8"}, "--mixed-precision='fp8': expected one of auto, bf16, fp32"),
        ({"limit": "0"}, "limit '0': expected at least 1 row"),
        ({"class_weighting": "log"}, "class weighting 'log' for sentiment: expected none, sqrt"),
    ]:
        with pytest.raises(SentinelError) as error:
            TrainConfig.build(**{**files, **values})
        assert message in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(SentinelError, match="no training files"):
        TrainConfig.build(train_files={}, output_dir=tmp_path)
    with pytest.raises(SentinelError, match="unknown task 'news'"):
        TrainConfig.build(train_files={"news": tmp_path}, output_dir=tmp_path)


def test_sentinel_train_prints_a_bad_option_as_one_error_line(tmp_path) -> None:
    from typer.testing import CliRunner

    from sentinel.cli import app

    result = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "out"), "--sentiment",
                                      str(tmp_path / "s.csv"), "--warmup-ratio", "2"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "error: invalid training option: --warmup-ratio=2.0: expected a number from 0 to 1"]
    assert not (tmp_path / "out").exists()
