"""purenet sweep: the sweep file's checks, the driver (in this process, on threads), one trial, stale trials.

The end-to-end runs of the command (worker processes, kill -9, a Dask cluster) are in
tests/test_sweep_processes.py, marked slow.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("optuna")

from conftest import write_idx  # noqa: E402

from purenet.apps.sweep.spec import SpecError, read_spec  # noqa: E402
from purenet.apps.sweep.study import (  # noqa: E402
    SweepError,
    counted,
    open_study,
    run_sweep,
    threads_per_worker,
    trials_best_first,
)

SPEC = """\
trials = {trials}
search = "random"
sampler_seed = 3
pruner = "none"
[settings]
layers = "784,32,10"
epochs = 2
augment = "none"
data = "tiny"
[vary]
lr = {{log = [1e-3, 1e-1]}}
act = ["relu", "tanh"]
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, mnist) -> Path:
    """A folder with tiny MNIST (300 training, 100 test images) and a sweep file beside it."""
    folder = tmp_path_factory.mktemp("sweep")
    data = folder / "tiny"
    data.mkdir()
    for prefix, split in {"train": mnist.train.take(slice(0, 300)), "t10k": mnist.test.take(slice(0, 100))}.items():
        write_idx(data / f"{prefix}-images-idx3-ubyte.gz", split.images.reshape(-1, 28, 28))
        write_idx(data / f"{prefix}-labels-idx1-ubyte.gz", split.labels)
    return folder


def write_spec(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def threads_executor():
    return concurrent.futures.ThreadPoolExecutor(1)


# --- the sweep file ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text, message", [
    ('objective = "test_acc"\ntrials = 2', "objective: test_acc would choose settings on the test set"),
    ("trials = 2\nwhat = 1", "what: not a key of a sweep file"),
    ("trials = 2\n[vary]\nseed = [0, 1]", "vary.seed: give the seeds as seeds"),
    ("trials = 2\n[vary]\nval_fraction = [0.1, 0.2]", "vary.val_fraction: every trial is scored on the same split"),
    ("trials = 2\n[vary]\nact = ['relu', 'nope']", "vary.act: 'nope': act 'nope' is not one of"),
    ("trials = 2\n[vary]\nlr = {log = [0, 1]}", "vary.lr: a log range must be above 0"),
    ("trials = 2\n[vary]\nlr = {range = [1, 0.1]}", "vary.lr: range must be [low, high]"),
    ("trials = 2\n[vary]\nwidth = [1, 2]", "vary.width: not a setting of a run"),
    ("trials = 2\n[settings]\nval_fraction = 0.0", "settings.val_fraction: a sweep scores trials on a validation split"),
    ("trials = 2\n[settings]\nepochs = 0", "settings.epochs: epochs must be a whole number"),
    ('search = "grid"\n[vary]\nlr = {log = [0.001, 0.1]}', "vary.lr: a grid search needs every setting as a list"),
    ("[vary]\nact = ['relu']", "trials: missing"),
    ('base = "fastest"\ntrials = 1', "base: 'fastest' is not a preset"),
    ("trials = [", "not TOML"),
])
def test_a_mistake_in_the_sweep_file_is_one_line_naming_the_key(tmp_path, text, message):
    with pytest.raises(SpecError) as caught:
        read_spec(write_spec(tmp_path, "s.toml", text))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_sweep_file_defaults_a_validation_split_and_reads_data_beside_it(tmp_path):
    spec = read_spec(write_spec(tmp_path, "s.toml", 'search = "grid"\nseeds = [0, 1]\n[settings]\ndata = "d"\n'
                                                    "[vary]\nbatch_size = {range = [32, 96], step = 32}\nact = ['relu', 'tanh']"))
    assert spec.settings["val_fraction"] == 0.1 and spec.settings["data"] == str(tmp_path / "d")
    assert spec.trials == 3 * 2 * 2  # the grid's size: batch sizes, activations, seeds
    assert spec.config({"batch_size": 64, "act": "tanh", "seed": 1}).batch_size == 64
    assert spec.folder == tmp_path / "s" and spec.default_storage.endswith(str(tmp_path / "s.db"))


def test_threads_per_worker_share_the_cores_out():
    assert [threads_per_worker(jobs, cores=8) for jobs in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]


# --- the driver ---------------------------------------------------------------------------------------


@pytest.mark.slow  # several trials: seconds
def test_a_sweep_runs_its_trials_keeps_each_checkpoint_and_continues(tiny):
    spec = read_spec(write_spec(tiny, "a.toml", SPEC.format(trials=3)))
    events = []
    study = open_study(spec, spec.default_storage)
    result = run_sweep(spec, study, spec.default_storage, threads_executor, 1, on_event=events.append)
    assert (result.complete, result.pruned, result.failed) == (3, 0, 0)
    assert sorted(p.name for p in spec.folder.glob("*.npz")) == ["trial-0.npz", "trial-1.npz", "trial-2.npz"]
    ends = [e for e in events if e.kind == "end"]
    assert [len(e.by_epoch) for e in ends] == [2, 2, 2] and all(e.value == e.by_epoch[-1] for e in ends)
    ranked = trials_best_first(study)
    assert [t.value for t in ranked] == sorted((t.value for t in ranked), reverse=True)
    from purenet.runs.checkpoint import load

    saved = load(spec.folder / "trial-0.npz")
    assert saved.epoch == 2 and saved.history[-1]["test_acc"] is None  # a trial never measures the test set
    assert saved.history[-1]["val_acc"] == ranked[[t.number for t in ranked].index(0)].value
    # the same sweep again: nothing to do; with more trials asked for, it goes on from where it was
    again = run_sweep(spec, open_study(spec, spec.default_storage), spec.default_storage, threads_executor, 1)
    assert again.complete == 3
    more = read_spec(write_spec(tiny, "a.toml", SPEC.format(trials=4)))
    assert run_sweep(more, open_study(more, more.default_storage), more.default_storage, threads_executor, 1).complete == 4


@pytest.mark.slow  # several trials: seconds
def test_a_failing_trial_is_recorded_with_its_reason_and_the_sweep_goes_on(tiny):
    text = SPEC.format(trials=2).replace('act = ["relu", "tanh"]', 'layers = ["784,32,5", "784,16,10"]').replace(
        'layers = "784,32,10"\n', "").replace('search = "random"', 'search = "grid"').replace("lr = {log = [1e-3, 1e-1]}\n", "")
    spec = read_spec(write_spec(tiny, "f.toml", text))
    study = open_study(spec, spec.default_storage)
    result = run_sweep(spec, study, spec.default_storage, threads_executor, 1)
    assert (result.complete, result.failed) == (1, 1)
    failed = [t for t in study.get_trials() if t.state.name == "FAIL"]
    assert "layers ends with 5 outputs" in failed[0].user_attrs["reason"]


def test_a_changed_sweep_file_does_not_continue_another_study(tiny):
    spec = read_spec(write_spec(tiny, "c.toml", SPEC.format(trials=1)))
    open_study(spec, spec.default_storage)
    changed = read_spec(write_spec(tiny, "c.toml", SPEC.format(trials=1).replace("1e-1]", "1e-2]")))
    with pytest.raises(SweepError, match="its vary changed since the study 'c' began"):
        open_study(changed, changed.default_storage)


def test_a_new_study_does_not_write_over_another_sweeps_checkpoints(tiny):
    spec = read_spec(write_spec(tiny, "n.toml", SPEC.format(trials=1)))
    spec.folder.mkdir()
    (spec.folder / "trial-0.npz").write_bytes(b"someone's")
    with pytest.raises(SweepError, match="holds trial checkpoints"):
        open_study(spec, spec.default_storage)
    assert (spec.folder / "trial-0.npz").read_bytes() == b"someone's"


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.slow  # several trials: seconds
def test_a_trial_left_running_by_a_stopped_driver_is_queued_again_with_its_settings(tiny):
    import socket

    spec = read_spec(write_spec(tiny, "k.toml", SPEC.format(trials=2)))
    study = open_study(spec, spec.default_storage)
    orphan = study.ask()
    orphan.suggest_float("lr", 1e-3, 1e-1, log=True)
    orphan.suggest_categorical("act", ["relu", "tanh"])
    orphan.set_user_attr("driver", {"host": socket.gethostname(), "pid": dead_pid()})
    import time

    orphan.set_user_attr("alive", time.time())
    events = []
    result = run_sweep(spec, study, spec.default_storage, threads_executor, 1, on_event=events.append)
    assert result.complete == 2 and counted(study)[:3] == (2, 0, 0)
    first = study.get_trials()[0]
    assert first.state.name == "FAIL" and first.user_attrs["requeued"] and "driver stopped" in first.user_attrs["reason"]
    retried = [t for t in study.get_trials() if t.user_attrs.get("retry_of") == 0]
    assert len(retried) == 1 and retried[0].params == first.params and retried[0].state.name == "COMPLETE"
    assert [e.kind for e in events][0] == "requeue"


def test_a_trial_whose_epochs_fall_below_the_median_is_pruned(tiny):
    import optuna

    from purenet.apps.sweep.trial import TrialJob, run_trial

    spec = read_spec(write_spec(tiny, "p.toml", SPEC.format(trials=1).replace('pruner = "none"', 'pruner = "median"')))
    study = open_study(spec, spec.default_storage)
    distributions = {"lr": optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True),
                     "act": optuna.distributions.CategoricalDistribution(["relu", "tanh"])}
    for _ in range(5):  # the median pruner's five finished trials, each at 99% after every epoch
        study.add_trial(optuna.trial.create_trial(params={"lr": 0.01, "act": "relu"}, distributions=distributions,
                                                  value=0.99, intermediate_values={1: 0.99, 2: 0.99}))
    trial = study.ask()
    config = spec.config({"lr": 0.01, "act": "relu"}).to_json()
    outcome = run_trial(TrialJob(storage=spec.default_storage, study_name=spec.study_name, pruner="median",
                                 trial_id=trial._trial_id, number=trial.number, config=config,
                                 out=str(tiny / "pruned.npz"), objective="val_acc"))
    assert outcome.state == "pruned" and len(outcome.by_epoch) == 1 and outcome.value is None


def test_a_diverging_trial_fails_with_the_reason(tiny, monkeypatch):
    from purenet.apps.sweep import trial as trial_module
    from purenet.core.training import TrainingDiverged

    spec = read_spec(write_spec(tiny, "d.toml", SPEC.format(trials=1)))
    study = open_study(spec, spec.default_storage)

    def diverging(config):
        raise TrainingDiverged("the loss became nan at epoch 1, step 2")

    monkeypatch.setattr(trial_module, "prepare", diverging)
    result = run_sweep(spec, study, spec.default_storage, threads_executor, 1)
    assert result.failed == 1
    assert study.get_trials()[0].user_attrs["reason"] == "diverged: the loss became nan at epoch 1, step 2"


@pytest.mark.slow  # several trials: seconds
def test_same_bits_from_a_trial_and_train_config(tiny, tmp_path):
    """The best trial's settings, trained again by `purenet train --config`, give its weights bit for bit."""
    from typer.testing import CliRunner

    from purenet.cli.app import app
    from purenet.core.records import tree_map
    from purenet.runs.checkpoint import load

    spec = read_spec(write_spec(tiny, "b.toml", SPEC.format(trials=1)))
    run_sweep(spec, open_study(spec, spec.default_storage), spec.default_storage, threads_executor, 1, threads=None)
    runner, env = CliRunner(), {"XDG_STATE_HOME": str(tmp_path / "state")}
    shown = runner.invoke(app, ["sweep", str(spec.path), "--show", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    config = spec.folder / "best.json"
    out = tmp_path / "again.npz"
    trained = runner.invoke(app, ["train", "--config", str(config), "--out", str(out), "--json"], env=env)
    assert trained.exit_code == 0, trained.output
    ours, theirs = load(out), load(spec.folder / "trial-0.npz")
    assert ours.config == theirs.config
    same = []
    tree_map(lambda a, b: same.append(np.array_equal(a, b)) or a, ours.params, theirs.params)
    assert len(same) == 4 and all(same)
    # an option typed wins over the file
    other = runner.invoke(app, ["train", "--config", str(config), "--epochs", "1", "--dry-run", "--json"], env=env)
    assert other.exit_code == 0 and '"epochs": 1' in other.output
    refused = runner.invoke(app, ["train", "--config", str(config), "--preset", "cnn", "--dry-run"], env=env)
    assert refused.exit_code == 2 and "give one of them" in refused.output


def test_sweep_refuses_test_accuracy_from_the_command_line(tmp_path):
    from typer.testing import CliRunner

    from purenet.cli.app import app

    path = write_spec(tmp_path, "t.toml", 'objective = "test_acc"\ntrials = 3')
    result = CliRunner().invoke(app, ["sweep", str(path)])
    assert result.exit_code == 2 and "objective: test_acc" in result.output and "Traceback" not in result.output
    assert not os.path.exists(tmp_path / "t.db")


def test_without_the_sweep_extra_the_command_says_how_to_install_it(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from purenet.cli.app import app

    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna raises ImportError
    result = CliRunner().invoke(app, ["sweep", str(write_spec(tmp_path, "s.toml", "trials = 1"))])
    assert result.exit_code == 2 and "purenet sweep needs the sweep extra: pip install" in result.output
    assert "optuna" in result.output and not (tmp_path / "s.db").exists()
