"""Resuming after a real ``kill -9`` of ``purenet train`` gives bit-identical params."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from test_cli_train import installed_purenet

from purenet.runs.checkpoint import load as load_checkpoint

RUN = ["--layers", "784,32,10", "--batch-size", "8", "--val-fraction", "0.1", "--optimizer", "momentum", "--seed", "3"]


def purenet(args: list[str], tmp_path, **kwargs):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    return subprocess.Popen([installed_purenet(), "train", *args], cwd=tmp_path, env=env, text=True, **kwargs)


@pytest.mark.slow
def test_resume_after_kill_9_matches_an_uninterrupted_run(small_mnist_dir, tmp_path):
    data = ["--data", str(small_mnist_dir), "--epochs", "4"]
    straight = purenet([*RUN, *data, "--out", "straight.npz", "--json"], tmp_path, stdout=subprocess.DEVNULL)

    victim = purenet([*RUN, *data, "--out", "killed.npz", "--log", "killed.csv", "--json"], tmp_path, stdout=subprocess.PIPE)
    first_epoch = json.loads(victim.stdout.readline())  # a checkpoint exists once epoch 1 is reported
    assert first_epoch["event"] == "epoch" and first_epoch["epoch"] == 1
    time.sleep(0.1)  # well into the next epoch
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    saved = load_checkpoint(tmp_path / "killed.npz")
    assert 1 <= saved.epoch < 4  # the kill came before the end
    # (a kill in the middle of a save may leave a hidden temp file, never a torn killed.npz)
    logged = _logged_epochs(tmp_path / "killed.csv")  # whole: the epochs saved (the last one missing, if killed between)
    assert logged in (list(range(1, saved.epoch + 1)), list(range(1, saved.epoch)))

    resumed = purenet(["--resume", "killed.npz", "--epochs", "4", "--out", "killed.npz", "--log", "killed.csv", "--json"],
                      tmp_path, stdout=subprocess.DEVNULL)
    assert resumed.wait(timeout=120) == 0 and straight.wait(timeout=120) == 0
    a, b = load_checkpoint(tmp_path / "killed.npz"), load_checkpoint(tmp_path / "straight.npz")
    assert a.epoch == b.epoch == 4
    assert [x.tobytes() for x in a.params.arrays()] == [x.tobytes() for x in b.params.arrays()]
    assert [x.tobytes() for s in a.opt_state.slots for x in s.arrays()] == [x.tobytes() for s in b.opt_state.slots for x in s.arrays()]
    assert [h["test_acc"] for h in a.history] == [h["test_acc"] for h in b.history]
    assert _logged_epochs(tmp_path / "killed.csv") == [1, 2, 3, 4]  # the resumed run continued the log


def _logged_epochs(path) -> list[int]:
    import csv

    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]
