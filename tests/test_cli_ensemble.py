"""Several models as one: ``purenet evaluate A B ...`` and ``purenet predict --model A --model B ...``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from purenet.cli.app import app
from purenet.core.ensemble import evaluate_ensemble
from purenet.core.network import init
from purenet.core.optim import make_optimizer
from purenet.data import load
from purenet.runs.checkpoint import Checkpoint, save
from purenet.runs.checkpoint import load as load_checkpoint

pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture(scope="module")
def second_model(tmp_path_factory, small_mnist_dir) -> Path:
    """A second, different network (one epoch of a small CNN) trained on the same data as ``small_model``."""
    path = tmp_path_factory.mktemp("second") / "cnn.npz"
    args = ["train", "--layers", "conv2k5,pool4,10", "--epochs", "1", "--data", str(small_mnist_dir), "--out", str(path),
            "--seed", "1", "--threads", "1"]
    result = CliRunner().invoke(app, args, env={"XDG_STATE_HOME": str(path.parent / "state")})
    assert result.exit_code == 0, result.output
    return path


def _untrained(path: Path, layers) -> Path:
    params = init(layers, rng=0)
    save(path, Checkpoint(params=params, opt_state=make_optimizer("sgd", 0.1).init(params), epoch=1,
                          rng_state=np.random.default_rng(0).bit_generator.state))
    return path


def run(*args: str):
    return CliRunner().invoke(app, [*args])


def test_evaluate_gives_the_ensemble_beside_each_member(small_model, second_model, small_mnist_dir):
    result = run("evaluate", str(small_model), str(second_model), "--json", "--threads", "1")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for member, path in zip(report["members"], (small_model, second_model)):
        alone = json.loads(run("evaluate", str(path), "--json", "--threads", "1").stdout)
        assert member["model"] == str(path) and member["accuracy"] == alone["accuracy"]
        assert member["loss"] == pytest.approx(alone["loss"], rel=1e-6)
    members = [load_checkpoint(path).model for path in (small_model, second_model)]
    expected = evaluate_ensemble(members, load(small_mnist_dir).test)
    assert report["accuracy"] == expected.accuracy and report["loss"] == pytest.approx(expected.loss)
    confusion = np.array(report["confusion"])
    assert confusion.sum() == report["samples"] == 1000
    assert np.trace(confusion) / 1000 == pytest.approx(report["accuracy"])
    assert report["models"] == [str(small_model), str(second_model)]


def test_evaluate_table_has_a_row_per_member_and_the_ensemble(small_model, second_model):
    result = run("evaluate", str(small_model), str(second_model), "--threads", "1")
    assert result.exit_code == 0, result.output
    assert "an ensemble of 2 models" in result.stdout and "confusion matrix" in result.stdout
    rows = [line for line in result.stdout.splitlines() if small_model.name in line or "ensemble  " in line
            or second_model.name in line]
    assert len(rows) >= 3


def test_one_model_keeps_its_own_report(small_model):
    report = json.loads(run("evaluate", str(small_model), "--json", "--threads", "1").stdout)
    assert report["model"] == str(small_model) and "members" not in report


def test_members_with_other_classes_are_refused_in_one_line(small_model, tmp_path):
    other = _untrained(tmp_path / "letters.npz", [784, 8, 26])
    for args in (["evaluate", str(small_model), str(other)], ["predict", "x.png", "--model", str(small_model),
                                                                 "--model", str(other)]):
        result = run(*args)
        assert result.exit_code == 2
        assert result.stderr.strip() == (f"purenet: error: {other} has 26 classes but {small_model} has 10: "
                                          "the members of an ensemble must share their classes")


def test_evaluate_refuses_a_report_for_an_ensemble(small_model, second_model):
    result = run("evaluate", str(small_model), str(second_model), "--report", "pictures")
    assert result.exit_code == 2 and "--report" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not Path("pictures").exists()


def test_predict_with_several_models_averages_their_probabilities(small_model, second_model, mnist, tmp_path):
    photo = tmp_path / "digit.png"
    Image.fromarray(255 - mnist.test.images[0].reshape(28, 28)).save(photo)  # dark ink on white, as on paper
    answers = []
    for models in ([small_model], [second_model], [small_model, second_model]):
        args = [item for path in models for item in ("--model", str(path))]
        result = run("predict", str(photo), "--json", *args)
        assert result.exit_code == 0, result.output
        answers.append(json.loads(result.stdout))
    alone = np.array([answers[0]["probabilities"], answers[1]["probabilities"]])
    together = np.array(answers[2]["probabilities"])
    np.testing.assert_allclose(together, alone.mean(axis=0), rtol=1e-6)
    assert answers[2]["digit"] == int(together.argmax())


def _photo(mnist, tmp_path) -> Path:
    photo = tmp_path / "digit.png"
    Image.fromarray(255 - mnist.test.images[0].reshape(28, 28)).save(photo)
    return photo


def test_the_api_answers_with_the_ensemble_as_predict_does(small_model, second_model, mnist, tmp_path):
    from test_serve import call

    from purenet.apps.serve import make_app

    photo = _photo(mnist, tmp_path)
    members = [load_checkpoint(path).model for path in (small_model, second_model)]
    status, body = call(make_app(members), "POST", "/api/predict", photo.read_bytes())
    assert status == 200
    result = run("predict", str(photo), "--json", "--model", str(small_model), "--model", str(second_model))
    expected = json.loads(result.stdout)
    got = json.loads(body)
    assert got["probabilities"] == expected["probabilities"] and got["digit"] == expected["digit"]  # to the bit


@pytest.mark.slow
def test_serve_takes_several_models(small_model, second_model, mnist, tmp_path):
    from serving import Server, post_image

    photo = _photo(mnist, tmp_path)
    server = Server(["--model", str(small_model), "--model", str(second_model), "--port", "0", "--threads", "1"], tmp_path,
                    {"XDG_STATE_HOME": str(tmp_path / "state")})
    try:
        port = server.wait_until_serving()
        status, got = post_image(port, photo.read_bytes())
    finally:
        server.stop()
    assert status == 200
    assert f"serving an ensemble of 2 models ({small_model}, {second_model})" in server.stderr
    expected = json.loads(run("predict", str(photo), "--json", "--model", str(small_model), "--model", str(second_model)).stdout)
    assert got["probabilities"] == expected["probabilities"]
