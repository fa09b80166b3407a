"""Checkpoints of format version 1 (tests/fixtures/README.md) still load, evaluate and resume bit for bit."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from purenet.checkpoint import FORMAT_VERSION, load
from purenet.cli.app import app

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def v1_folder(isolated, mnist) -> Path:
    """The current folder, holding both version-1 checkpoints and the data they were made from."""
    for name in ("checkpoint-v1-epoch1.npz", "checkpoint-v1-epoch2.npz"):
        shutil.copy(FIXTURES / name, isolated / name)
    train, test = mnist.train.take(slice(0, 200)), mnist.test.take(slice(0, 100))
    np.savez(isolated / "v1-data.npz", x_train=train.images.reshape(-1, 28, 28), y_train=train.labels,
             x_test=test.images.reshape(-1, 28, 28), y_test=test.labels)
    return isolated


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
    resumed, straight = load("resumed.npz"), load("checkpoint-v1-epoch2.npz")
    assert resumed.epoch == straight.epoch == 2
    assert [a.tobytes() for a in resumed.params.arrays()] == [a.tobytes() for a in straight.params.arrays()]
    assert [a.tobytes() for s in resumed.opt_state.slots for a in s.arrays()] == [
        a.tobytes() for s in straight.opt_state.slots for a in s.arrays()]
    assert resumed.rng_state == straight.rng_state
