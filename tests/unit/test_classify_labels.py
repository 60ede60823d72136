"""Label names, ids and explicit label maps for external checkpoints (never guessed by position)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sentinel.classify.labels import (
    SENTIMENT_LABELS,
    TOPIC_LABELS,
    LabelError,
    explicit_label_map,
    id_to_label,
    normalise_labels,
    parse_label_names,
)

PROSUS = {0: "positive", 1: "negative", 2: "neutral"}  # ProsusAI/finbert
TONE = {0: "neutral", 1: "positive", 2: "negative"}  # yiyanghkust/finbert-tone


def test_dataset_ids_follow_the_published_order() -> None:
    assert normalise_labels("sentiment", [0, 1, 2, "2"]) == [
        "negative",
        "positive",
        "neutral",
        "neutral",
    ]
    assert normalise_labels("topic", [0, 11, 19]) == ["Analyst Update", "IPO", "Stock Movement"]
    assert len(TOPIC_LABELS) == 20


def test_names_and_aliases_are_case_insensitive() -> None:
    assert normalise_labels("sentiment", ["Bearish", "BULLISH", " neutral ", "Negative"]) == [
        "negative",
        "positive",
        "neutral",
        "negative",
    ]
    assert normalise_labels("topic", ["ipo", "fed | central banks"]) == [
        "IPO",
        "Fed | Central Banks",
    ]


def test_label_names_option_maps_ids_by_position_given() -> None:
    names = parse_label_names("Bullish, Neutral ,Bearish")
    assert id_to_label("sentiment", names) == {0: "positive", 1: "neutral", 2: "negative"}
    assert normalise_labels("sentiment", [0, 2], names) == ["positive", "negative"]


def test_unknown_labels_are_reported_with_what_was_expected() -> None:
    with pytest.raises(LabelError) as err:
        normalise_labels("sentiment", [0, 1, 7, "meh"])
    message = str(err.value)
    assert "2 sentiment label(s)" in message and "7" in message and "'meh'" in message
    assert "--label-names" in message
    with pytest.raises(LabelError, match="same sentiment label"):
        id_to_label("sentiment", ["Bearish", "negative", "Neutral"])


def test_explicit_map_must_cover_every_output() -> None:
    assert explicit_label_map(
        "sentiment", {"0": "positive", "1": "negative", "2": "neutral"}, 3
    ) == [
        "positive",
        "negative",
        "neutral",
    ]
    with pytest.raises(LabelError, match="3 outputs"):
        explicit_label_map("sentiment", {0: "positive", 1: "negative"}, 3)
    with pytest.raises(LabelError, match="unknown sentiment label"):
        explicit_label_map("sentiment", {0: "up", 1: "down", 2: "flat"}, 3)


@pytest.fixture(scope="module")
def finbert_like(tmp_path_factory: pytest.TempPathFactory):
    """The same random weights saved twice, with ProsusAI's and finbert-tone's id2label."""
    from sentinel.classify.testing import write_tiny_sequence_classifier

    root = tmp_path_factory.mktemp("finbert")
    prosus = write_tiny_sequence_classifier(root / "prosus", PROSUS, seed=3)
    tone = write_tiny_sequence_classifier(root / "tone", TONE, seed=3)
    return prosus, tone


def _raw_probs(model_dir, texts):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return torch.softmax(logits, -1).numpy()


@pytest.mark.parametrize("which,mapping", [(0, PROSUS), (1, TONE)])
def test_external_checkpoint_probabilities_are_mapped_by_name(finbert_like, which, mapping) -> None:
    from sentinel.classify.classifier import load_classifier

    model_dir = finbert_like[which]
    texts = ["apple shares plunge after earnings miss", "fed raises rates", "oil rises"]
    clf = load_classifier(
        None, sentiment_model=model_dir, sentiment_labels=mapping, precision="fp32", device="cpu"
    )
    assert clf.tasks == {"sentiment": list(SENTIMENT_LABELS)}
    raw = _raw_probs(model_dir, texts)
    column = {name: i for i, name in mapping.items()}
    for prediction, row in zip(clf.classify(texts), raw, strict=True):
        assert prediction.p_positive == pytest.approx(row[column["positive"]], abs=1e-5)
        assert prediction.p_negative == pytest.approx(row[column["negative"]], abs=1e-5)
        assert prediction.p_neutral == pytest.approx(row[column["neutral"]], abs=1e-5)
        assert prediction.sentiment == mapping[int(row.argmax())]
        assert prediction.topic is None


def test_same_weights_with_other_label_order_give_other_labels(finbert_like) -> None:
    """Identical logits, different id2label: the verdicts follow the names, not positions."""
    from sentinel.classify.classifier import load_classifier

    texts = ["tesla stock soars to record high", "bank shares drops"]
    prosus = load_classifier(
        None,
        sentiment_model=finbert_like[0],
        sentiment_labels=PROSUS,
        precision="fp32",
        device="cpu",
    ).predict_proba(texts)["sentiment"]
    tone = load_classifier(
        None, sentiment_model=finbert_like[1], sentiment_labels=TONE, precision="fp32", device="cpu"
    ).predict_proba(texts)["sentiment"]
    raw = _raw_probs(finbert_like[0], texts)
    order = list(SENTIMENT_LABELS)
    # id 0 is "positive" for ProsusAI but "neutral" for finbert-tone.
    np.testing.assert_allclose(prosus[:, order.index("positive")], raw[:, 0], atol=1e-5)
    np.testing.assert_allclose(tone[:, order.index("neutral")], raw[:, 0], atol=1e-5)


def test_external_checkpoint_without_a_map_is_refused(finbert_like) -> None:
    from sentinel.classify.classifier import load_classifier
    from sentinel.classify.model import ModelError

    with pytest.raises(ModelError, match="explicit id->label map"):
        load_classifier(None, sentiment_model=finbert_like[0], sentiment_labels=None)
