"""Temperature scaling and the expected calibration error (sentinel.classify.calibrate)."""

from __future__ import annotations

import numpy as np
import pytest

from sentinel.classify.calibrate import (
    expected_calibration_error,
    fit_temperature,
    softmax,
    temperatures,
    uncalibrate,
)


def test_ece_of_a_hand_computed_example() -> None:
    # two rows at confidence 0.9 (one right), two at 0.6 (both right): bins 14 and 9
    probs = np.array([[0.9, 0.1], [0.1, 0.9], [0.6, 0.4], [0.4, 0.6]])
    gold = [0, 0, 0, 1]
    expected = 0.5 * abs(0.5 - 0.9) + 0.5 * abs(1.0 - 0.6)
    assert expected_calibration_error(probs, gold) == pytest.approx(expected)


def test_a_perfectly_calibrated_sample_has_small_ece() -> None:
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, 20_000)
    correct = rng.uniform(size=confidence.size) < confidence
    probs = np.stack([confidence, 1 - confidence], axis=1)
    gold = np.where(correct, 0, 1)
    assert expected_calibration_error(probs, gold) < 0.02


def test_fit_temperature_recovers_the_temperature_that_made_the_labels() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, size=(20_000, 3))
    true_t = 2.5  # labels drawn from softmax(logits / 2.5): the logits are over-confident
    probs = softmax(logits, true_t)
    gold = np.array([rng.choice(3, p=p) for p in probs])
    t = fit_temperature(logits, gold)
    assert t == pytest.approx(true_t, rel=0.05)
    before = expected_calibration_error(softmax(logits), gold)
    after = expected_calibration_error(softmax(logits, t), gold)
    assert after < 0.02 < before


def test_temperature_never_changes_the_winning_label() -> None:
    logits = np.random.default_rng(2).normal(size=(500, 20))
    for t in (0.3, 1.0, 4.0):
        assert (softmax(logits, t).argmax(1) == logits.argmax(1)).all()


def test_uncalibrate_undoes_a_temperature() -> None:
    logits = np.random.default_rng(3).normal(0, 2, size=(50, 3))
    np.testing.assert_allclose(uncalibrate(softmax(logits, 1.7), 1.7), softmax(logits),
                               atol=1e-9)


def test_temperatures_read_from_model_metadata() -> None:
    assert temperatures(None) == {}
    assert temperatures({"calibration": {"temperature": {"sentiment": 1.4}}}) == {
        "sentiment": 1.4}
