"""Evaluation metrics, the JSON report and the Markdown table."""

from __future__ import annotations

import json

import pytest

from sentinel.classify.evaluate import render_markdown, score, write_report

LABELS = ["negative", "neutral", "positive"]


def test_score_matches_a_hand_computed_example() -> None:
    gold = ["negative", "negative", "neutral", "positive", "positive", "positive"]
    pred = ["negative", "neutral", "neutral", "positive", "positive", "negative"]
    report = score(gold, pred, LABELS)
    assert report["accuracy"] == pytest.approx(4 / 6)
    neg = report["per_class"]["negative"]
    assert (neg["precision"], neg["recall"], neg["support"]) == (0.5, 0.5, 2)
    neutral = report["per_class"]["neutral"]
    assert neutral["precision"] == 0.5 and neutral["recall"] == 1.0
    assert neutral["f1"] == pytest.approx(2 / 3)
    pos = report["per_class"]["positive"]
    assert pos["precision"] == 1.0 and pos["recall"] == pytest.approx(2 / 3)
    assert report["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)
    assert report["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_classes_absent_everywhere_do_not_drag_the_macro_average() -> None:
    report = score(["negative", "positive"], ["negative", "positive"], LABELS)
    assert report["macro_f1"] == 1.0
    assert report["per_class"]["neutral"]["support"] == 0


def test_report_round_trips_and_renders(tmp_path) -> None:
    report = score(["negative", "positive"], ["negative", "negative"], LABELS)
    report.update(task="sentiment", file="/x/sent_valid.csv")
    path = write_report(report, tmp_path / "out" / "report.json")
    assert json.loads(path.read_text())["accuracy"] == 0.5
    table = render_markdown(report)
    assert "**sentiment** on `sent_valid.csv` (n=2): accuracy **0.5000**" in table
    assert "| negative | 0.500 | 1.000 | 0.667 | 1 |" in table
    assert "| 2 positive | 1 | 0 | 0 |" in table


def test_topic_names_with_pipes_are_escaped_in_tables() -> None:
    labels = ["Fed | Central Banks", "IPO"]
    report = score(["IPO", "Fed | Central Banks"], ["IPO", "IPO"], labels)
    report.update(task="topic", file="t.csv")
    assert "| Fed \\| Central Banks | 0.000 | 0.000 | 0.000 | 1 |" in render_markdown(report)


def test_evaluate_reads_ids_with_label_names(tmp_path) -> None:
    from sentinel.classify.classifier import load_classifier
    from sentinel.classify.evaluate import evaluate
    from sentinel.classify.testing import write_tiny_multitask

    clf = load_classifier(write_tiny_multitask(tmp_path / "m"), precision="fp32", device="cpu")
    csv = tmp_path / "labelled.csv"
    csv.write_text('headline,y\n"stock soars",0\n"oil, gas and energy",2\n')
    report = evaluate(
        csv,
        "sentiment",
        classifier=clf,
        text_col="headline",
        label_col="y",
        label_names=["Bullish", "Neutral", "Bearish"],
    )
    assert report["n"] == 2
    assert [report["per_class"][k]["support"] for k in LABELS] == [1, 0, 1]
    assert report["model"] == "tiny" and report["version"] == clf.version
