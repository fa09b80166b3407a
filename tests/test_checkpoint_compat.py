"""Checkpoints of format versions 1 and 2 (tests/fixtures/README.md) still load, evaluate and resume bit for bit."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from purenet.checkpoint import FORMAT_VERSION, load
from purenet.cli.app import app

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_folder(folder: Path, mnist, version: int) -> Path:
    """``folder`` with both checkpoints of ``version`` and the data they were made from
    (MNIST's first 200 training and 100 test images, tests/fixtures/README.md)."""
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


def assert_same_training_state(resumed, straight) -> None:
    """Epoch, params, optimizer slots and generator state equal, byte for byte."""
    assert resumed.epoch == straight.epoch == 2
    assert [a.tobytes() for a in resumed.params.arrays()] == [a.tobytes() for a in straight.params.arrays()]
    assert [a.tobytes() for s in resumed.opt_state.slots for a in s.arrays()] == [
        a.tobytes() for s in straight.opt_state.slots for a in s.arrays()]
    assert resumed.rng_state == straight.rng_state


def test_a_version_1_checkpoint_loads_with_its_run_configuration(v1_folder):
    checkpoint = load("checkpoint-v1-epoch1.npz")
    assert FORMAT_VERSION > 1 and checkpoint.epoch == 1 and checkpoint.best.epoch == 1
    config = checkpoint.config
    assert (config.layers, config.optimizer, config.seed, config.patience) == ((784, 4, 10), "momentum", 5, 2)
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
    assert FORMAT_VERSION > 2 and checkpoint.epoch == 1
    assert checkpoint.params.arch.sizes == (784, 6, 10) and [type(l).__name__ for l in checkpoint.params.layers] == ["Dense", "Dense"]
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
