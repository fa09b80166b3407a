"""An ensemble exported as one ONNX graph: onnxruntime gives the library's averaged probabilities on real test images."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from test_export import TOLERANCE, assert_same_answers, run, trained
from typer.testing import CliRunner

from purenet.apps.export import ExportError, to_onnx_ensemble
from purenet.cli.app import app
from purenet.core.ensemble import ensemble_predict, ensemble_probabilities
from purenet.runs.checkpoint import load as load_checkpoint


@pytest.fixture(scope="module")
def members(mnist):
    """Three networks of different layers and losses, each trained a few steps."""
    return (trained(mnist, "relu", "ce"),
            trained(mnist, "tanh", "mse", dtype=np.float64, layers=(784, 24, 10)),
            trained(mnist, "relu", "ce", layers=(784, "conv4k5", "pool2", "batchnorm", 10)))


def test_onnxruntime_gives_the_ensembles_probabilities_on_test_images(mnist, members):
    images = mnist.test.images[:1000]
    got = run(to_onnx_ensemble(members), images.astype(np.float32) / 255)
    expected = ensemble_probabilities(members, images)
    assert got.shape == (1000, 10)
    assert_same_answers(got, expected)
    alone = [ensemble_predict([m], images.astype(np.float32) / 255) for m in members]
    assert min(np.abs(got - a).max() for a in alone) > 100 * TOLERANCE  # the mean, not one member's answer


def test_the_file_names_every_member(members):
    model = to_onnx_ensemble(members)
    onnx.checker.check_model(model)
    props = {p.key: p.value for p in model.metadata_props}
    described = json.loads(props["architecture"])["ensemble"]
    assert [d["sizes"] for d in described] == [[784, 32, 16, 10], [784, 24, 10], [784, "conv4k5", "maxpool2", "bn", 10]]
    assert [o.name for o in model.graph.output] == ["probabilities"]


def test_members_that_do_not_fit_or_export_are_named(mnist, members, monkeypatch):
    other = trained(mnist, "relu", "ce", layers=(784, 8, 12), steps=1)
    with pytest.raises(ValueError, match="member 2 of the ensemble has 12 classes"):
        to_onnx_ensemble([members[0], other])
    import purenet.apps.export as export

    monkeypatch.setitem(export.ACTIVATION_NODES, "tanh", None)
    monkeypatch.delitem(export.ACTIVATION_NODES, "tanh")
    with pytest.raises(ExportError, match="^member 2 of the ensemble: layer 0"):
        to_onnx_ensemble(members)


@pytest.mark.usefixtures("isolated")
def test_the_command_exports_several_checkpoints_as_one_graph(small_model, mnist, tmp_path):
    import shutil

    second = tmp_path / "second.npz"
    shutil.copy(small_model, second)
    result = CliRunner().invoke(app, ["export", str(small_model), str(second), "-o", "ens.onnx"])
    assert result.exit_code == 0, result.output
    assert "an ensemble of 2 networks" in result.stdout
    images = mnist.test.images[:500]
    params = load_checkpoint(small_model).model
    got = run(onnx.load("ens.onnx"), images.astype(np.float32) / 255)
    assert_same_answers(got, ensemble_probabilities([params, params], images))
    refused = CliRunner().invoke(app, ["export", str(small_model), str(second), "-o", str(second)])
    assert refused.exit_code == 2 and len(refused.stderr.splitlines()) == 1
