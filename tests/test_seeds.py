"""``purenet train --seeds``: its pieces (purenet.apps.seeds), the runs bit for bit those of ``--seed``, and a stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from test_cli_train import installed_purenet
from typer.testing import CliRunner

from purenet.apps.seeds import mean_and_spread, parse_seeds, plan_workers, seed_paths
from purenet.cli.app import app
from purenet.runs.checkpoint import load as load_checkpoint

TINY = ["--layers", "784,16,10", "--epochs", "2", "--threads", "1"]


def test_seeds_as_typed():
    assert parse_seeds("0,1,2") == (0, 1, 2)
    assert parse_seeds(" 3 , 5-7 ") == (3, 5, 6, 7)
    for text, words in [("", "not a list of seeds"), ("a", "not a list"), ("-1", "not a list"), ("1,1", "seed 1 is given twice"),
                        ("4-2", "goes down"), ("0-99999", "more than 1000")]:
        with pytest.raises(ValueError, match=words):
            parse_seeds(text)


def test_each_seed_has_its_own_file_beside_the_one_named():
    assert seed_paths("run.npz", (0, 12)) == (Path("run-s0.npz"), Path("run-s12.npz"))
    assert seed_paths("out/run", (1,)) == (Path("out/run-s1.npz"),)
    assert seed_paths("a.b/model.npz", (2,)) == (Path("a.b/model-s2.npz"),)


def test_workers_never_ask_for_more_threads_than_cores():
    assert plan_workers(3, cores=2).workers == 2 and plan_workers(3, cores=2).threads == 1
    assert plan_workers(1, cores=8).workers == 1
    plan = plan_workers(8, threads=2, cores=8)
    assert (plan.workers, plan.threads) == (4, 2)
    assert plan_workers(3, threads=4, cores=2).workers == 1  # more threads than cores: one worker still runs
    assert plan_workers(3, cores=4, environment="OMP_NUM_THREADS=2").threads is None
    with pytest.raises(ValueError):
        plan_workers(2, threads=0)


def test_mean_and_sample_spread():
    assert mean_and_spread([0.5]) == (0.5, 0.0)
    mean, spread = mean_and_spread([0.1, 0.2, 0.3])
    assert mean == pytest.approx(0.2) and spread == pytest.approx(0.1)


@pytest.mark.usefixtures("isolated")
@pytest.mark.parametrize("args, words", [
    (["--seeds", "0,1", "--seed", "3"], "does not take --seed"),
    (["--seeds", "0,1", "--resume", "x.npz"], "does not take --resume"),
    (["--seeds", "0,1", "--log", "run.csv"], "does not take --log"),
    (["--seeds", "0,0"], "--seeds: seed 0 is given twice"),
    (["--seeds", "0,1", "--lr", "-1"], "--lr"),
])
def test_mistakes_are_one_line_before_anything_is_written(args, words):
    result = CliRunner().invoke(app, ["train", *TINY, *args, "--out", "run.npz"])
    assert result.exit_code == 2 and words in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    assert os.listdir(".") == ["state"] or os.listdir(".") == []


def test_a_file_that_is_not_a_checkpoint_is_refused_before_any_seed_trains(isolated):
    Path("run-s1.npz").write_text("my notes")
    result = CliRunner().invoke(app, ["train", *TINY, "--seeds", "0,1", "--out", "run.npz"])
    assert result.exit_code == 2 and "run-s1.npz" in result.stderr
    assert not Path("run-s0.npz").exists() and Path("run-s1.npz").read_text() == "my notes"


def _same_run(a: Path, b: Path) -> None:
    """Two checkpoint files of the same run: every array (weights, optimizer state) equal to the bit, and
    their metadata (settings, history, generator state) too, the epochs' timings aside."""
    timings = ("seconds", "eval_seconds")

    def timeless(meta: dict) -> dict:
        return {**meta, "history": [{k: v for k, v in row.items() if k not in timings} for row in meta["history"]]}

    with np.load(a) as one, np.load(b) as two:
        assert sorted(one.files) == sorted(two.files)
        assert all(np.array_equal(one[key], two[key]) for key in one.files if key != "meta")
        assert timeless(json.loads(str(one["meta"]))) == timeless(json.loads(str(two["meta"])))
    assert load_checkpoint(a).epoch == 2


@pytest.mark.slow
def test_each_seed_is_bit_for_bit_the_run_of_that_seed_alone(isolated, small_mnist_dir):
    data = ["--data", str(small_mnist_dir)]
    result = CliRunner().invoke(app, ["train", *TINY, *data, "--seeds", "0,1", "--out", "run.npz", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["event"] == "summary" and [s["out"] for s in summary["seeds"]] == ["run-s0.npz", "run-s1.npz"]
    accuracies = [s["test_acc"] for s in summary["seeds"]]
    assert summary["test_acc_mean"] == pytest.approx(np.mean(accuracies))
    for seed in (0, 1):
        alone = CliRunner().invoke(app, ["train", *TINY, *data, "--seed", str(seed), "--out", f"alone{seed}.npz"])
        assert alone.exit_code == 0, alone.output
        _same_run(Path(f"run-s{seed}.npz"), Path(f"alone{seed}.npz"))
    assert load_checkpoint("run-s0.npz").settings == {"blas_threads": 1}


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_and_keeps_what_was_saved(tmp_path, small_mnist_dir):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    args = [installed_purenet(), "train", "--layers", "784,16,10", "--epochs", "500", "--threads", "1", "--data",
            str(small_mnist_dir), "--seeds", "0,1,2", "--out", "run.npz"]
    child = subprocess.Popen(args, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "run-s0.npz").exists() and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.1)
        workers = _children(child.pid)
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    assert child.returncode == 130, stderr
    lines = stderr.splitlines()
    assert lines[0].startswith("training 3 seeds") and len(lines) == 2 and "Traceback" not in stderr, stderr
    assert lines[1].startswith("interrupted: run-s0.npz holds epoch") and "purenet train --resume" in lines[1], stderr
    for name in os.listdir(tmp_path):
        if name.startswith("run-s"):
            assert load_checkpoint(tmp_path / name).epoch >= 1
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".") or name.endswith(".tmp")]
    assert workers and not [pid for pid in workers if _alive(pid)]


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux: read from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
