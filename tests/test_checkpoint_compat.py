"""Checkpoints of format versions 1 and 2, and of a ``--dropout`` run from before dropout was only a
layer (tests/fixtures/README.md), still load, evaluate and resume.

The fixtures were computed on another machine. OpenBLAS picks its kernels by CPU at run
time, so a resumed run computed here may differ from the old uninterrupted run in the
last bit of a float32 (observed: up to 1.5e-8 on weights of size 0.01-1, one unit in the
last place, on an AVX-512 Xeon and on an AMD EPYC). So the comparison with the fixtures is
within a tolerance (``CROSS_MACHINE``), and the bitwise promise of resuming is checked
between two runs on this machine (``test_resuming_an_old_checkpoint_is_bitwise_on_one_machine``).
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from purenet.cli.app import app
from purenet.core.layers import Dropout
from purenet.runs.checkpoint import FORMAT_VERSION, load

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_folder(folder: Path, mnist, version: int | str) -> Path:
    """``folder`` with both checkpoints of ``version`` (1, 2 or "3-dropout") and the data they were
    made from (MNIST's first 200 training and 100 test images, tests/fixtures/README.md)."""
    for epoch in (1, 2):
        shutil.copy(FIXTURES / f"checkpoint-v{version}-epoch{epoch}.npz", folder)
    train, test = mnist.train.take(slice(0, 200)), mnist.test.take(slice(0, 100))
    np.savez(folder / f"v{version}-data.npz", x_train=train.images.reshape(-1, 28, 28), y_train=train.labels,
             x_test=test.images.reshape(-1, 28, 28), y_test=test.labels)
    return folder


@pytest.fixture
def v1_folder(isolated, mnist) -> Path:
    """The current folder, holding both version-1 checkpoints and the data they were made from."""
    return fixture_folder(isolated, mnist, 1)


CROSS_MACHINE = dict(rtol=1e-5, atol=1e-7)
"""How far a float32 array computed here may be from the same array computed on another CPU.

A float32 has 24 bits of mantissa (one unit in the last place is 6e-8 relative); another
BLAS kernel sums the 784 products of a weight row in another order, which moves a result by
a few units in the last place per step, and a handful of SGD steps adds a few of those up.
``rtol=1e-5`` allows about 100 units in the last place (``atol`` covers values near zero,
such as Adam's second moments). Measured on one CPU against the fixtures: its rounding used
4% of this allowance, while one training image made one gray level brighter in 16 pixels
moved the weights 100 times beyond it (``test_the_tolerance_tells_a_different_step_apart``)."""


def training_arrays(checkpoint) -> list:
    return list(checkpoint.params.arrays()) + [a for s in checkpoint.opt_state.slots for a in s.arrays()]


def assert_same_training_state(resumed, straight) -> None:
    """Epoch and generator state equal; params and optimizer slots equal up to ``CROSS_MACHINE``."""
    assert resumed.epoch == straight.epoch == 2
    assert resumed.rng_state == straight.rng_state
    ours, theirs = training_arrays(resumed), training_arrays(straight)
    assert [a.shape for a in ours] == [a.shape for a in theirs]
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, **CROSS_MACHINE)


def assert_bitwise_equal(a, b) -> None:
    """Epoch, params, optimizer slots and generator state equal, byte for byte (one machine)."""
    assert a.epoch == b.epoch and a.rng_state == b.rng_state
    assert [x.tobytes() for x in training_arrays(a)] == [x.tobytes() for x in training_arrays(b)]


def test_a_version_1_checkpoint_loads_with_its_run_configuration(v1_folder):
    checkpoint = load("checkpoint-v1-epoch1.npz")
    assert FORMAT_VERSION > 1 and checkpoint.epoch == 1 and checkpoint.best.epoch == 1
    config = checkpoint.config
    assert (config.layers, config.optimizer, config.seed, config.patience) == ((784, 4, 10), "momentum", 5, 2)
    assert config.label_smoothing == 0.0  # a setting added after version 1
    assert config.data == str(v1_folder / "v1-data.npz")  # the relative path, read from the current folder
    assert checkpoint.settings["data"] == "v1-data.npz"  # kept as it was for scripts that read it


def test_evaluate_reads_a_version_1_checkpoint(v1_folder):
    result = CliRunner().invoke(app, ["evaluate", "checkpoint-v1-epoch2.npz", "--json"])
    assert result.exit_code == 0, result.output
    assert '"samples": 100' in result.stdout


def test_resuming_a_version_1_checkpoint_matches_the_old_uninterrupted_run(v1_folder):
    result = CliRunner().invoke(app, ["train", "--resume", "checkpoint-v1-epoch1.npz", "--epochs", "2", "--out", "resumed.npz"])
    assert result.exit_code == 0, result.output
    assert_same_training_state(load("resumed.npz"), load("checkpoint-v1-epoch2.npz"))


@pytest.fixture
def v2_folder(isolated, mnist) -> Path:
    """The current folder, holding both version-2 checkpoints and the data they were made from."""
    return fixture_folder(isolated, mnist, 2)


def test_a_version_2_checkpoint_loads_as_a_dense_network(v2_folder):
    checkpoint = load("checkpoint-v2-epoch1.npz")
    assert checkpoint.config.label_smoothing == 0.0  # a setting added after version 2
    assert FORMAT_VERSION > 2 and checkpoint.epoch == 1
    assert checkpoint.params.arch.layers == (784, 6, 10)
    assert [type(layer).__name__ for layer in checkpoint.params.layers] == ["Dense", "Dense"]
    assert (checkpoint.config.optimizer, checkpoint.config.weight_decay, len(checkpoint.opt_state.slots)) == ("adam", 1e-4, 2)


def test_evaluate_reads_a_version_2_checkpoint(v2_folder):
    result = CliRunner().invoke(app, ["evaluate", "checkpoint-v2-epoch2.npz", "--data", "v2-data.npz", "--json"])
    assert result.exit_code == 0, result.output
    assert '"samples": 100' in result.stdout


def test_resuming_a_version_2_checkpoint_matches_the_old_uninterrupted_run_and_writes_version_3(v2_folder):
    """The old code's epoch 2, bit for bit, from its epoch 1: the dense step is unchanged by layer lists."""
    result = CliRunner().invoke(app, ["train", "--resume", "checkpoint-v2-epoch1.npz", "--epochs", "2",
                                      "--data", "v2-data.npz", "--out", "resumed.npz"])
    assert result.exit_code == 0, result.output
    assert_same_training_state(load("resumed.npz"), load("checkpoint-v2-epoch2.npz"))
    with zipfile.ZipFile("resumed.npz") as archive:
        meta = json.loads(str(np.load(archive.open("meta.npy"))))
    assert meta["version"] == FORMAT_VERSION == 3


@pytest.mark.parametrize("version", [1, 2, "3-dropout"])
def test_resuming_an_old_checkpoint_is_bitwise_on_one_machine(isolated, mnist, version):
    """From an old epoch 1: two epochs at once, and one epoch then another, give the same bytes."""
    fixture_folder(isolated, mnist, version)
    common = ["train", "--data", f"v{version}-data.npz"]
    straight = CliRunner().invoke(app, [*common, "--resume", f"checkpoint-v{version}-epoch1.npz", "--epochs", "3",
                                        "--out", "straight.npz"])
    assert straight.exit_code == 0, straight.output
    first = CliRunner().invoke(app, [*common, "--resume", f"checkpoint-v{version}-epoch1.npz", "--epochs", "2",
                                     "--out", "step.npz"])
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(app, [*common, "--resume", "step.npz", "--epochs", "3", "--out", "step.npz"])
    assert second.exit_code == 0, second.output
    assert load("straight.npz").epoch == 3
    assert_bitwise_equal(load("step.npz"), load("straight.npz"))


@pytest.fixture
def dropout_folder(isolated, mnist) -> Path:
    """The current folder, holding both checkpoints of a ``--dropout 0.3`` run written before
    dropout was only a layer (their layer lists have no Dropout layers), and their data."""
    return fixture_folder(isolated, mnist, "3-dropout")


DROPOUT_PLACED = (784, "avgpool4", 5, "dropout0.3", 4, "dropout0.3", 10)
"""The fixture's layers, 784,avgpool4,5,4,10, with a Dropout layer after each hidden dense layer."""


def test_an_old_dropout_checkpoint_loads_with_dropout_layers_where_dropout_put_them(dropout_folder):
    checkpoint = load("checkpoint-v3-dropout-epoch1.npz")
    config = checkpoint.config
    assert (config.layers, config.dropout, config.network_layers) == ((784, "avgpool4", 5, 4, 10), 0.3, DROPOUT_PLACED)
    for record in (checkpoint.params, checkpoint.best.params, *checkpoint.opt_state.slots):
        assert record.arch.layers == DROPOUT_PLACED
        assert [type(layer).__name__ for layer in record.layers] == [
            "ToImage", "AvgPool", "Flatten", "Dense", "Dropout", "Dense", "Dropout", "Dense"]
        assert record.layers[4] == record.layers[6] == Dropout(0.3)


def test_evaluate_reads_an_old_dropout_checkpoint_as_the_old_code_measured_it(dropout_folder):
    result = CliRunner().invoke(app, ["evaluate", "checkpoint-v3-dropout-epoch2.npz", "--data", "v3-dropout-data.npz", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    checkpoint = load("checkpoint-v3-dropout-epoch2.npz")
    measured = checkpoint.history[checkpoint.best.epoch - 1]  # evaluate reads the best epoch's params
    assert shown["samples"] == 100 and shown["accuracy"] == measured["test_acc"]
    assert shown["loss"] == pytest.approx(measured["test_loss"], rel=1e-5)


def test_resuming_an_old_dropout_checkpoint_matches_the_old_uninterrupted_run(dropout_folder):
    """The old code's epoch 2 from its epoch 1: the Dropout layers draw the masks the network drew."""
    result = CliRunner().invoke(app, ["train", "--resume", "checkpoint-v3-dropout-epoch1.npz", "--epochs", "2",
                                      "--data", "v3-dropout-data.npz", "--out", "resumed.npz"])
    assert result.exit_code == 0, result.output
    assert_same_training_state(load("resumed.npz"), load("checkpoint-v3-dropout-epoch2.npz"))
    with zipfile.ZipFile("resumed.npz") as archive:
        meta = json.loads(str(np.load(archive.open("meta.npy"))))
    assert meta["arch"]["sizes"] == list(DROPOUT_PLACED)  # written with its Dropout layers
    assert meta["config"]["layers"] == [784, "avgpool4", 5, 4, 10] and meta["config"]["dropout"] == 0.3


def test_the_tolerance_tells_a_different_step_apart(v2_folder):
    """The cross-machine tolerance is not a blank cheque: one training image changed by a
    single gray level in a few pixels moves the weights beyond it."""
    with np.load("v2-data.npz") as archive:
        arrays = {key: archive[key].copy() for key in archive.files}
    arrays["x_train"][0, 10:14, 10:14] += 1  # 16 pixels of one image, one level of 255 brighter
    np.savez("v2-data.npz", **arrays)
    result = CliRunner().invoke(app, ["train", "--resume", "checkpoint-v2-epoch1.npz", "--epochs", "2",
                                      "--data", "v2-data.npz", "--out", "other.npz"])
    assert result.exit_code == 0, result.output
    with pytest.raises(AssertionError):
        assert_same_training_state(load("other.npz"), load("checkpoint-v2-epoch2.npz"))
