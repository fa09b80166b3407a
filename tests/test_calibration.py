"""Calibration: the temperature's fit, the calibration error, the scores and threshold, AUROC;
class names and calibrations kept in checkpoints; the commands that show and use them."""

from __future__ import annotations

import json

import attrs
import numpy as np
import pytest
from typer.testing import CliRunner

from purenet import Adam, init
from purenet.cli.app import app
from purenet.core.calibration import (
    Calibration,
    auroc,
    expected_calibration_error,
    fit_calibration,
    fit_temperature,
    input_scores,
    keep_threshold,
    nll,
)
from purenet.runs.checkpoint import Checkpoint, CheckpointError, load, save

NAMES = ("zero", "one", "two")


def overconfident(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a made-up 3-class model, right 2/3 of the time, far too sure of itself."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    z = rng.normal(size=(n, 3))
    right = rng.random(n) < 2 / 3
    z[np.arange(n), np.where(right, y, (y + 1) % 3)] += 2.0
    return 5 * z, y


def test_the_fitted_temperature_minimises_the_held_out_nll_and_lowers_the_calibration_error():
    z, y = overconfident()
    t = fit_temperature(z, y)
    assert t > 1.5  # the logits were made 5 times too large
    assert nll(z, y, t) < min(nll(z, y, t * 1.05), nll(z, y, t / 1.05), nll(z, y, 1.0))
    before = expected_calibration_error(Calibration(1.0).probabilities(z), y)
    after = expected_calibration_error(Calibration(t).probabilities(z), y)
    assert after < before / 3


def test_the_calibration_error_of_a_perfectly_calibrated_model_is_small_and_of_a_wrong_one_large():
    probabilities = np.array([[0.75, 0.25]] * 400)
    y = np.array([0] * 300 + [1] * 100)  # right 75% of the time at 75% confidence
    assert expected_calibration_error(probabilities, y) == pytest.approx(0.0, abs=1e-12)
    assert expected_calibration_error(probabilities, 1 - y) == pytest.approx(0.5)


def test_the_threshold_keeps_the_share_asked_for():
    scores = np.arange(1000, dtype=float)
    threshold = keep_threshold(scores, 0.99)
    assert (scores >= threshold).mean() == pytest.approx(0.99)
    assert keep_threshold(scores, 1.0) == 0.0


def test_scores_rank_a_confident_row_above_a_flat_one():
    z = np.array([[8.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    for score in ("energy", "maxlogit", "msp"):
        high, low = input_scores(z, score)
        assert high > low
    assert input_scores(z, "energy", 2.0)[1] == pytest.approx(2 * np.log(3 * np.exp(0.5)))


def test_auroc_counts_ties_half_and_matches_the_pairwise_count():
    rng = np.random.default_rng(1)
    inside, outside = rng.integers(0, 5, 40).astype(float), rng.integers(0, 5, 30).astype(float)
    pairs = (inside[:, None] > outside[None, :]).mean() + 0.5 * (inside[:, None] == outside[None, :]).mean()
    assert auroc(inside, outside) == pytest.approx(pairs)
    assert auroc([2.0, 3.0], [0.0, 1.0]) == 1.0


def test_a_calibration_refuses_bad_values():
    for bad in (dict(temperature=0.0), dict(temperature=1.0, score="mystery"), dict(temperature=1.0, keep=0.0)):
        with pytest.raises(ValueError):
            Calibration(**bad)


@pytest.fixture
def named(tmp_path) -> Checkpoint:
    rng = np.random.default_rng(0)
    params = init([12, 8, 3], rng=rng)
    z, y = overconfident(300)
    return Checkpoint(params=params, opt_state=Adam(1e-3).init(params), epoch=1, rng_state=rng.bit_generator.state,
                      data_name="toy", classes=NAMES, calibration=fit_calibration(z, y))


def test_names_and_calibration_round_trip(named, tmp_path):
    loaded = load(save(tmp_path / "m.npz", named))
    assert loaded == named
    assert loaded.class_names == NAMES and loaded.data_name == "toy"


def test_a_checkpoint_without_names_is_one_of_digits_and_writes_no_new_keys(named, tmp_path):
    plain = attrs.evolve(named, classes=None, data_name=None, calibration=None)
    path = save(tmp_path / "m.npz", plain)
    with np.load(path) as npz:
        meta = json.loads(str(npz["meta"]))
    assert not {"classes", "data_name", "calibration"} & set(meta)  # what purenet wrote before them
    assert load(path).class_names == ("0", "1", "2")


@pytest.mark.parametrize("change, message", [
    (dict(classes=("a", "b")), "2 class names for a network of 3 outputs"),
    (dict(classes=("a", "a", "b")), "must differ"),
    (dict(classes=("a", "b\x1b[31m", "c")), "printable"),
])
def test_bad_names_are_refused(named, change, message):
    with pytest.raises(ValueError, match=message):
        attrs.evolve(named, **change)


def test_tampered_names_in_a_file_are_refused(named, tmp_path):
    path = save(tmp_path / "m.npz", named)
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    meta = json.loads(str(arrays["meta"]))
    meta["classes"] = ["a", 3, "c"]
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(CheckpointError, match="classes"):
        load(tmp_path / "bad.npz")


# --- the commands, with a tiny model whose classes have made-up names -------------------------------


@pytest.fixture(scope="module")
def named_model(tmp_path_factory, small_mnist_dir):
    """A tiny model trained with a validation split (so calibrated), given the names of three digits."""
    from purenet.data.idx import load_idx_folder  # noqa: F401 - the folder reads as IDX

    folder = tmp_path_factory.mktemp("named")
    path = folder / "m.npz"
    args = ["train", "--layers", "784,32,10", "--epochs", "1", "--val-fraction", "0.2", "--data", str(small_mnist_dir),
            "--out", str(path)]
    result = CliRunner().invoke(app, args, env={"XDG_STATE_HOME": str(folder / "state")})
    assert result.exit_code == 0, result.output
    assert "calibrated on" in result.output
    words = ("nought", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    save(path, attrs.evolve(load(path), classes=words, data_name="words"))
    return path


def test_evaluate_shows_names_and_the_calibration_error(named_model, small_mnist_dir, isolated):
    result = CliRunner().invoke(app, ["evaluate", str(named_model), "--data", str(small_mnist_dir), "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout.splitlines()[-1])
    assert shown["class_names"][0] == "nought" and shown["data_name"] == "words"
    calibration = shown["calibration"]
    assert calibration["bins"] == 15 and 0 <= calibration["ece_after"] <= 1 and 0 < calibration["kept"] <= 1
    table = CliRunner().invoke(app, ["evaluate", str(named_model), "--data", str(small_mnist_dir)]).stdout
    assert "nought" in table and "expected calibration error (15 bins)" in table


def test_predict_names_the_class_and_its_exit_code_says_whether_it_is_sure(named_model, isolated):
    from PIL import Image

    image = np.zeros((60, 60), np.uint8)
    image[28:32, 10:50] = image[10:50, 28:32] = 255  # a plus sign, not a digit
    Image.fromarray(image).save("noise.png")
    result = CliRunner().invoke(app, ["predict", "--model", str(named_model), "--json", "noise.png"])
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer["label"] == ("nought", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")[answer["digit"]]
    assert isinstance(answer["score"], float)
    assert result.exit_code == (0 if answer["sure"] else 4)
    forced = CliRunner().invoke(app, ["predict", "--model", str(named_model), "--no-abstain", "--json", "noise.png"])
    assert forced.exit_code == 0 and json.loads(forced.stdout.splitlines()[-1])["sure"] is True


def test_a_threshold_above_every_input_makes_predict_answer_not_sure(named_model, isolated):
    from PIL import Image

    checkpoint = load(named_model)
    save("strict.npz", attrs.evolve(checkpoint, calibration=attrs.evolve(checkpoint.calibration, threshold=1e9)))
    image = np.zeros((28, 28), np.uint8)
    image[6:22, 12:16] = 255
    Image.fromarray(image).save("one.png")
    result = CliRunner().invoke(app, ["predict", "--model", "strict.npz", "one.png"])
    assert result.exit_code == 4
    assert "one.png: not sure (best guess " in result.stdout


def test_calibrate_refits_from_the_runs_validation_split(named_model, isolated):
    result = CliRunner().invoke(app, ["calibrate", str(named_model), "--score", "maxlogit", "--keep", "0.95",
                                      "--out", "again.npz", "--json"])
    assert result.exit_code == 0, result.output
    fitted = load("again.npz").calibration
    assert fitted.score == "maxlogit" and fitted.keep == 0.95 and fitted.samples == 600
    assert load("again.npz").classes == load(named_model).classes


def test_calibrate_refuses_a_run_without_a_validation_split(small_model, isolated):
    result = CliRunner().invoke(app, ["calibrate", str(small_model), "--out", "x.npz"])
    assert result.exit_code == 2
    assert "held out no validation split" in result.output
