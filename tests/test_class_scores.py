"""Precision, recall and F1 per class (purenet.core.metrics.class_scores), and where they are shown:
`evaluate`'s table and --json, the report's mistakes by confidence, --show-predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from purenet.cli.app import app
from purenet.core.metrics import class_scores, confusion_matrix

pytestmark = pytest.mark.usefixtures("isolated")

# Rows: true class, columns: predicted. Class 3 never occurs, class 2 is predicted once but has no samples.
CONFUSION = np.array([
    [8, 2, 0, 0],
    [1, 3, 1, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
])


def test_scores_by_hand():
    scores = class_scores(CONFUSION)
    # class 0: 8 right of 9 predicted as 0, of 10 true 0s; class 1: 3 of 5 and 3 of 5; class 2: 0 of 1 predicted
    np.testing.assert_allclose(scores.precision, [8 / 9, 3 / 5, 0, 0])
    np.testing.assert_allclose(scores.recall, [8 / 10, 3 / 5, 0, 0])
    f1_0 = 2 * (8 / 9) * (8 / 10) / (8 / 9 + 8 / 10)  # = 16/19
    np.testing.assert_allclose(scores.f1, [f1_0, 3 / 5, 0, 0])
    np.testing.assert_array_equal(scores.support, [10, 5, 0, 0])
    # macro: over classes 0, 1, 2 (3 occurs nowhere); weighted: by support 10 and 5
    np.testing.assert_allclose(scores.macro, [(8 / 9 + 3 / 5) / 3, (8 / 10 + 3 / 5) / 3, (f1_0 + 3 / 5) / 3])
    np.testing.assert_allclose(scores.weighted, [(10 * 8 / 9 + 5 * 3 / 5) / 15, (10 * 8 / 10 + 5 * 3 / 5) / 15,
                                                 (10 * f1_0 + 5 * 3 / 5) / 15])


def test_a_perfect_classifier_scores_one():
    scores = class_scores(np.diag([3, 4, 5]))
    assert scores.precision.tolist() == scores.recall.tolist() == scores.f1.tolist() == [1.0, 1.0, 1.0]
    assert scores.macro == scores.weighted == (1.0, 1.0, 1.0)


def test_scores_from_random_predictions_agree_with_counting():
    rng = np.random.default_rng(0)
    labels, predicted = rng.integers(0, 5, 500), rng.integers(0, 5, 500)
    scores = class_scores(confusion_matrix(labels, predicted, 5))
    for k in range(5):
        hits = np.sum((labels == k) & (predicted == k))
        assert scores.precision[k] == pytest.approx(hits / np.sum(predicted == k))
        assert scores.recall[k] == pytest.approx(hits / np.sum(labels == k))


def test_evaluate_json_and_table_carry_the_scores(small_model):
    result = CliRunner().invoke(app, ["evaluate", str(small_model), "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    expected = class_scores(np.array(shown["confusion"]))
    assert shown["classes"]["precision"] == expected.precision.tolist()
    assert shown["classes"]["recall"] == expected.recall.tolist()
    assert shown["classes"]["f1"] == expected.f1.tolist()
    assert shown["classes"]["support"] == expected.support.tolist() and sum(shown["classes"]["support"]) == 1000
    assert shown["classes"]["macro_avg"]["f1"] == pytest.approx(expected.macro[2])
    assert shown["classes"]["weighted_avg"]["recall"] == pytest.approx(shown["accuracy"])  # weighted recall is accuracy
    table = CliRunner().invoke(app, ["evaluate", str(small_model)], env={"COLUMNS": "120"}).stdout
    assert "precision" in table and "macro avg" in table and "weighted avg" in table
    assert f"{expected.f1[0]:.4f}" in table


def test_the_report_shows_the_most_confident_mistakes_first():
    from purenet.cli.report import most_confident_mistakes

    labels = np.array([0, 1, 2, 3, 4, 5])
    predicted = np.array([0, 7, 2, 8, 9, 5])
    confidence = np.array([0.99, 0.6, 0.9, 0.95, 0.6, 0.5])
    assert most_confident_mistakes(labels, predicted, confidence).tolist() == [3, 1, 4]


def test_show_predictions_draws_random_digits_seeded_by_the_run(small_mnist_dir, tmp_path):
    def shown(seed: int) -> list[dict]:
        args = ["train", "--layers", "784,16,10", "--epochs", "1", "--data", str(small_mnist_dir), "--seed", str(seed),
                "--show-predictions", "40", "--json", "--out", str(tmp_path / f"m{seed}.npz")]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout.splitlines()[-1])["predictions"]

    first, again, other = shown(0), shown(0), shown(1)
    indices = [p["index"] for p in first]
    assert first == again and indices != [p["index"] for p in other]
    assert len(set(indices)) == 40 and indices != list(range(40))  # random, not the first 40


def test_show_predictions_draws_the_mistakes_again(small_mnist_dir, tmp_path):
    args = ["train", "--layers", "784,10", "--epochs", "1", "--data", str(small_mnist_dir), "--show-predictions", "30"]
    out = CliRunner().invoke(app, args, env={"COLUMNS": "120"}).stdout
    header = next(line for line in out.splitlines() if line.startswith("30 random test digits (seed 0)"))
    wrong = int(header.rsplit(", ", 1)[1].split()[0])
    assert wrong > 0, "a one-epoch softmax regression on 3,000 images makes mistakes among 30 digits"
    assert f"the {wrong} mistake" in out
    assert out.count(" pred ") == 30 + wrong  # each mistake's caption twice
