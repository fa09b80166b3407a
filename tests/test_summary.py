"""A network at a glance: ``purenet.core.summary`` (a record, never printed) and ``purenet summary``."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import purenet
from purenet.cli.app import app
from purenet.core.arrays import learned_names
from purenet.core.layers import elements_per_sample
from purenet.core.summary import LayerRow, Summary, summary
from purenet.runs.checkpoint import load as load_checkpoint

CNN = ["conv4k5", "pool2", 16, 10]


# --- the library ------------------------------------------------------------------------------


def test_a_dense_network_row_by_row():
    described = summary([784, 200, 10])
    assert described.rows == (LayerRow("dense", 200, (200,), 784 * 200 + 200, 200 * 4),
                              LayerRow("dense", 10, (10,), 200 * 10 + 10, 10 * 4))
    assert described.input_shape == (784,) and described.dtype == "float32"
    assert described.parameters == purenet.init([784, 200, 10], rng=0).size
    assert described.parameter_bytes == 4 * described.parameters
    assert described.activation_bytes == 4 * (200 + 10)


def test_image_layers_and_the_layers_the_network_inserts():
    described = summary(CNN)  # starts with a layer: 28x28x1 images, as --layers reads it
    assert described.layers == (784, "conv4k5", "maxpool2", 16, 10)
    assert [(row.kind, row.token, row.output_shape) for row in described.rows] == [
        ("to_image", None, (28, 28, 1)), ("conv2d", "conv4k5", (28, 28, 4)), ("maxpool", "maxpool2", (14, 14, 4)),
        ("flatten", None, (784,)), ("dense", 16, (16,)), ("dense", 10, (10,))]
    params = purenet.init(CNN, rng=0)
    assert [row.parameters for row in described.rows] == [
        sum(array.size for array in _arrays(layer)) for layer in params.layers]
    assert described.activation_bytes == 4 * elements_per_sample(described.layers)  # im2col's scratch included


def _arrays(layer) -> list[np.ndarray]:
    return [getattr(layer, name) for name in learned_names(type(layer))]


def test_a_network_is_described_in_its_own_dtype():
    params = purenet.init([784, 32, 10], rng=0, dtype=np.float64)
    described = summary(params)
    assert described == summary([784, 32, 10], dtype=np.float64)
    assert described.dtype == "float64" and described.parameter_bytes == 8 * params.size


def test_a_huge_layer_list_is_described_without_allocating_it():
    described = summary([784, 2**20, 10])  # 3.3 GB of float32 weights
    assert described.parameters == 785 * 2**20 + 2**20 * 10 + 10
    assert described.parameter_bytes == 4 * described.parameters


@pytest.mark.parametrize("layers, item", [([784, "bogus", 10], "item 2 (bogus)"), (["conv4k5", "pool99", 10], "item 3 (maxpool99)"),
                                          ([784], "item 1")])
def test_a_bad_layer_list_names_the_item(layers, item):
    with pytest.raises(ValueError, match="layer list") as caught:
        summary(layers)
    assert item in str(caught.value)


def test_only_float_dtypes():
    with pytest.raises(ValueError, match="float32 or float64"):
        summary([784, 10], dtype=np.int8)


def test_the_record_is_json_and_nothing_is_printed(capsys):
    described = summary(CNN)
    assert isinstance(described, Summary)
    as_json = json.loads(json.dumps(described.to_json()))
    assert as_json["parameters"] == described.parameters and len(as_json["rows"]) == len(described.rows)
    assert as_json["rows"][0] == {"kind": "to_image", "token": None, "output_shape": [28, 28, 1], "parameters": 0,
                                  "output_bytes": 28 * 28 * 4}
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("first", ["import purenet", "import purenet.core.summary, purenet", "from purenet.core.summary import Summary; import purenet"])
def test_purenet_summary_is_the_function_whatever_was_imported_first(first):
    """The module purenet/core/summary.py and the function purenet.core.summary share a name."""
    code = f"{first}\nprint(purenet.summary([784, 10]).parameters)"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert ran.stdout.strip() == "7850", ran.stderr


# --- the command ------------------------------------------------------------------------------


def invoke(*args: str):
    return CliRunner().invoke(app, ["summary", *args])


@pytest.fixture
def here(isolated):
    return isolated


def test_a_layer_list_as_a_table(here):
    result = invoke("--layers", "conv4k5,pool2,16,10")
    assert result.exit_code == 0, result.output
    for shown in ("conv4k5", "to_image (inserted)", "(N, 28, 28, 4)", "dense 16", f"{summary(CNN).parameters:,}"):
        assert shown in result.stdout
    assert result.stderr == ""


def test_a_layer_list_as_json(here):
    result = invoke("--layers", "784,200,10", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown == {"model": None, "act": None, "loss": None, **summary([784, 200, 10]).to_json()}


def test_a_model_file(here, small_model):
    result = invoke(str(small_model), "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    params = load_checkpoint(small_model).model
    assert shown["model"] == str(small_model) and shown["act"] == params.arch.act and shown["loss"] == params.arch.loss
    assert shown["parameters"] == params.size and shown["layers"] == list(params.arch.layers)
    table = invoke(str(small_model))
    assert table.exit_code == 0 and "dense 64" in table.stdout and str(small_model) in table.stdout


def test_without_a_model_it_takes_model_npz_here(here, small_model):
    (here / "model.npz").write_bytes(small_model.read_bytes())
    result = invoke("--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"] == "model.npz"


@pytest.mark.parametrize("args, names", [
    (["--layers", "784,x,10"], "--layers item 2, x: not a layer"),
    (["--layers", "784,16,conv4k5,10"], "--layers item 3, conv4k5: it needs an image"),
    (["--layers", "784"], "--layers"),
    (["--layers", "784,200,10", "model.npz"], "not both"),
    (["missing.npz"], "missing.npz"),
    ([], "no model given"),
])
def test_a_mistake_is_one_line_and_exit_2(here, args, names):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("purenet: error: ") and names in lines[0], result.stderr
    assert result.stdout == "" and (result.exception is None or isinstance(result.exception, SystemExit))
    assert sorted(path.name for path in here.iterdir()) == []


def test_help_shows_no_python_type_names():
    shown = CliRunner().invoke(app, ["summary", "--help"]).stdout
    assert "--layers" in shown and "--json" in shown
    assert re.findall(r"<(?:bool|list\[[^\]]*\]|str)>|\b(?:Path|NoneType)\b", shown) == []
