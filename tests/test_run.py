"""The library owns the run: a script doing what docs/api.md shows writes the CLI's very bytes,
and checkpoints continue in either direction, bit for bit.

The default data is pointed at the small MNIST of conftest ($PURENET_DATA), so the docs'
examples run unchanged and fast.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import ROOT
from typer.testing import CliRunner

from purenet.cli.app import app
from purenet.core.training import EpochRecord, Progress
from purenet.runs.checkpoint import Checkpoint, CheckpointError, load, save
from purenet.runs.config import ConfigError, preset
from purenet.runs.run import checkpoint_after, prepare, prepare_resumed, resume, start

API = (ROOT / "docs" / "api.md").read_text()


def example(title: str) -> str:
    """The first Python block under the docs/api.md heading ``### title``."""
    section = API.split(f"### {title}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def run_example(title: str) -> dict:
    namespace: dict = {}
    exec(compile(example(title), "docs/api.md", "exec"), namespace)
    return namespace


def cli(*args: str) -> None:
    result = CliRunner().invoke(app, ["train", *args])
    assert result.exit_code == 0, result.output


def assert_same_run(a: Checkpoint, b: Checkpoint) -> None:
    """The same weights, optimizer state, generator state and measured history, to the bit."""
    assert a.epoch == b.epoch
    assert [x.tobytes() for x in a.params.arrays()] == [x.tobytes() for x in b.params.arrays()]
    assert [x.tobytes() for s in a.opt_state.slots for x in s.arrays()] == [x.tobytes() for s in b.opt_state.slots for x in s.arrays()]
    assert a.opt_state.step == b.opt_state.step and a.rng_state == b.rng_state
    assert [h["test_acc"] for h in a.history] == [h["test_acc"] for h in b.history]


@pytest.fixture
def small_default(isolated, small_mnist_dir, monkeypatch):
    """The current folder is a fresh one, and the default data is the small MNIST."""
    monkeypatch.setenv("PURENET_DATA", str(small_mnist_dir))
    return isolated


def test_the_reproduce_example_writes_the_bytes_the_cli_writes(small_default, capsys):
    run_example("Reproduce a `purenet train` run from a script")
    assert "epoch 2: test accuracy" in capsys.readouterr().out
    cli("--seed", "3", "--epochs", "2", "--out", "cli.npz")
    script, command = load("model.npz"), load("cli.npz")
    assert_same_run(script, command)
    assert script.config == command.config


def test_the_best_preset_from_a_script_is_the_clis(small_default):
    run = prepare(preset("best", seed=4, epochs=2, layers=(784, 64, 64, 10)))  # narrower: a test's budget
    saved = run.initial_checkpoint
    for record in run.records():
        if isinstance(record, EpochRecord):
            saved = checkpoint_after(record, saved)
    cli("--preset", "best", "--seed", "4", "--epochs", "2", "--layers", "784,64,64,10", "--out", "cli.npz")
    assert_same_run(saved, load("cli.npz"))
    assert saved.config.augment.elastic_alpha == 34.0 and saved.config.schedule == "cosine"  # the preset's, not the defaults


def test_the_continue_example_matches_an_uninterrupted_run(small_default):
    cli("--seed", "3", "--epochs", "1", "--out", "model.npz")
    namespace = run_example("Continue a checkpoint from a script")
    assert namespace["saved"].epoch == 4
    cli("--seed", "3", "--epochs", "4", "--out", "straight.npz")
    assert_same_run(load("model.npz"), load("straight.npz"))


def test_the_cli_resumes_a_checkpoint_a_script_wrote(small_default):
    run = prepare(preset("default", seed=5, epochs=1, optimizer="momentum", val_fraction=0.1))
    save("script.npz", checkpoint_after(next(r for r in run.records() if isinstance(r, EpochRecord)), run.initial_checkpoint))
    cli("--resume", "script.npz", "--epochs", "3")
    straight = prepare(preset("default", seed=5, epochs=3, optimizer="momentum", val_fraction=0.1))
    last = straight.initial_checkpoint
    for record in straight.records():
        if isinstance(record, EpochRecord):
            last = checkpoint_after(record, last)
    assert_same_run(load("script.npz"), last)


def test_start_and_resume_yield_progress_and_epoch_records(small_default):
    records = list(start(preset("default", seed=1, epochs=1, batch_size=500), progress_every=2))
    assert [type(r).__name__ for r in records] == ["Progress"] * 3 + ["EpochRecord"]  # 6 steps of 500
    assert all(isinstance(r, Progress) for r in records[:3]) and records[-1].rng_state is not None
    run = prepare(preset("default", seed=1, epochs=1, batch_size=500))
    save("one.npz", checkpoint_after(records[-1], run.initial_checkpoint))
    more = [r for r in resume("one.npz", epochs=2) if isinstance(r, EpochRecord)]
    assert [r.epoch for r in more] == [2]


def test_resume_refuses_what_it_cannot_continue(small_default):
    run = prepare(preset("default", seed=1, epochs=1))
    first = next(r for r in run.records() if isinstance(r, EpochRecord))
    done = checkpoint_after(first, run.initial_checkpoint)
    with pytest.raises(ConfigError, match=r"already has 1 epoch, and its run planned 1: nothing to do; to train further, give epochs a total above 1"):
        prepare_resumed(done)
    with pytest.raises(ConfigError, match=r"the checkpoint already has 1 epoch \(epochs 1 asked for\): nothing to do"):
        prepare_resumed(done, epochs=1)
    script_made = Checkpoint(params=done.params, opt_state=done.opt_state, epoch=1, rng_state=done.rng_state)
    save("no-config.npz", script_made)
    with pytest.raises(CheckpointError, match="no-config.npz: holds no run configuration"):
        prepare_resumed("no-config.npz", epochs=2)


@pytest.mark.parametrize(
    "changes, field",
    [({"layers": (100, 10)}, "layers"), ({"layers": (784, 5)}, "layers"), ({"val_fraction": 0.9, "batch_size": 1}, None)],
)
def test_a_config_that_does_not_fit_the_data_is_one_config_error(small_default, changes, field):
    if field is None:  # 0.9 of 3000 still leaves both parts: this one fits
        assert prepare(preset("default", **changes)).val is not None
        return
    with pytest.raises(ConfigError) as caught:
        prepare(preset("default", **changes))
    assert caught.value.field == field and "\n" not in str(caught.value)


def test_the_records_do_not_depend_on_how_often_progress_is_reported(small_default):
    config = preset("default", seed=2, epochs=1)
    quiet = [r for r in start(config) if isinstance(r, EpochRecord)][0]
    chatty = [r for r in start(config, progress_every=1) if isinstance(r, EpochRecord)][0]
    assert [a.tobytes() for a in quiet.params.arrays()] == [a.tobytes() for a in chatty.params.arrays()]
    assert np.isclose(quiet.test_acc, chatty.test_acc)


def test_the_layer_list_example_builds_a_convolutional_network():
    cnn = run_example("Layer lists")["cnn"]
    kinds = [type(layer).__name__ for layer in cnn.layers]
    assert kinds == ["ToImage", "Conv2D", "MaxPool", "Conv2D", "MaxPool", "Flatten", "Dense", "Dense"]
    assert cnn.layers[3].w.shape == (5, 5, 32, 64) and cnn.layers[6].w.shape == (7 * 7 * 64, 256)


def test_the_layer_of_your_own_example_trains_and_checkpoints(tmp_path):
    from purenet.runs import checkpoint

    namespace = run_example("The layer protocol, and a layer of your own")  # asserts that the loss fell
    params = namespace["params"]
    assert type(params.layers[1]).__name__ == "Scale" and params.arch.layers == (784, 200, "scale", 10)
    saved = checkpoint.Checkpoint(params=params, opt_state=namespace["state"], epoch=1, rng_state=np.random.default_rng(0).bit_generator.state, history=[])
    loaded = checkpoint.load(checkpoint.save(tmp_path / "scaled.npz", saved))
    assert loaded.params == params and loaded.opt_state.step == 20


def test_the_0_1_name_of_the_initial_checkpoint_still_works_with_a_warning(small_default):
    run = prepare(preset("default", epochs=1, layers=(784, 8, 10)))
    with pytest.warns(DeprecationWarning, match="Run.start is now Run.initial_checkpoint"):
        assert run.start is run.initial_checkpoint
    assert run.initial_checkpoint.epoch == 0
