"""purenet sweep in real processes: local workers, a driver killed with SIGKILL and started again, a Dask cluster.

All slow: each starts Python processes that import NumPy, Optuna and purenet.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("optuna")

from conftest import write_idx  # noqa: E402

pytestmark = pytest.mark.slow

SPEC = """\
trials = {trials}
search = "random"
sampler_seed = 5
pruner = "none"
[settings]
layers = "{layers}"
epochs = {epochs}
augment = "none"
data = "data"
[vary]
lr = {{log = [1e-3, 1e-2]}}
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory, mnist) -> Path:
    """A folder with a small MNIST (600 training, 100 test images) for the sweep files written in it."""
    folder = tmp_path_factory.mktemp("sweeps")
    data = folder / "data"
    data.mkdir()
    for prefix, split in {"train": mnist.train.take(slice(0, 600)), "t10k": mnist.test.take(slice(0, 100))}.items():
        write_idx(data / f"{prefix}-images-idx3-ubyte.gz", split.images.reshape(-1, 28, 28))
        write_idx(data / f"{prefix}-labels-idx1-ubyte.gz", split.labels)
    return folder


def environment(folder: Path) -> dict:
    return {**os.environ, "PURENET_THREADS": "1", "XDG_STATE_HOME": str(folder / "state"), "COLUMNS": "200"}


def sweep_command(spec: Path, *more: str) -> list[str]:
    return [sys.executable, "-m", "purenet.cli.app", "sweep", str(spec), *more]


def load(spec: Path):
    import optuna

    return optuna.load_study(study_name=spec.stem, storage=f"sqlite:///{spec.with_suffix('.db')}")


def states(study) -> list[str]:
    return [t.state.name for t in study.get_trials()]


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # noqa: BLE001 - the study not created yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"waited {seconds} s for {what}")


def test_local_workers_run_the_trials_and_json_has_one_object_per_event(folder):
    spec = folder / "local.toml"
    spec.write_text(SPEC.format(trials=3, layers="784,32,10", epochs=2))
    done = subprocess.run(sweep_command(spec, "--jobs", "2", "--json"), capture_output=True, text=True,
                          env=environment(folder), timeout=600)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(e["number"] for e in events if e["event"] == "end") == [0, 1, 2]
    assert {e["state"] for e in events if e["event"] == "end"} == {"complete"}
    assert "3 complete, 0 pruned, 0 failed of 3" in done.stderr
    workers = {t.user_attrs["worker"] for t in load(spec).get_trials()}
    assert len(workers) == 2  # two worker processes, neither of them the driver
    picture = folder / "local.png"
    shown = subprocess.run(sweep_command(spec, "--show", "--plot", str(picture)), capture_output=True, text=True,
                           env=environment(folder), timeout=120)
    assert shown.returncode == 0 and "purenet train --config" in shown.stderr and "--threads 1" in shown.stderr
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((folder / "local" / "best.json").read_text())["epochs"] == 2


def test_a_driver_killed_with_sigkill_loses_no_finished_trial_and_the_same_command_continues(folder):
    spec = folder / "killed.toml"
    spec.write_text(SPEC.format(trials=5, layers="784,conv4k5,maxpool2,10", epochs=3))
    driver = subprocess.Popen(sweep_command(spec, "--jobs", "2", "--json"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=environment(folder))
    try:
        wait_for(lambda: "COMPLETE" in states(load(spec)) and "RUNNING" in states(load(spec)), 300,
                 "a finished trial and a running one")
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.communicate(timeout=60)
    before = {t.number: t.value for t in load(spec).get_trials() if t.state.name == "COMPLETE"}
    running = {t.number: t.params for t in load(spec).get_trials() if t.state.name == "RUNNING"}
    assert before and running
    again = subprocess.run(sweep_command(spec, "--jobs", "2"), capture_output=True, text=True, env=environment(folder),
                           timeout=600)
    assert again.returncode == 0, again.stderr
    study = load(spec)
    trials = study.get_trials()
    assert {t.number: t.value for t in trials if t.number in before} == before  # nothing finished was lost
    counted = [t for t in trials if not t.user_attrs.get("requeued")]
    assert len(counted) == 5 and {t.state.name for t in counted} == {"COMPLETE"}
    for number, params in running.items():  # each trial the driver left running: failed with why, and run again
        left = trials[number]
        assert left.state.name == "FAIL" and "driver stopped" in left.user_attrs["reason"]
        retried = [t for t in trials if t.user_attrs.get("retry_of") == number]
        assert len(retried) == 1 and retried[0].params == params and retried[0].state.name == "COMPLETE"


# --- a Dask cluster -------------------------------------------------------------------------------------


@pytest.fixture
def cluster(tmp_path):
    """A Dask scheduler on a free local port and two worker processes: (address, worker processes)."""
    pytest.importorskip("distributed")
    dask = [sys.executable, "-m", "dask"]
    file = tmp_path / "scheduler.json"
    env = {**os.environ, "PURENET_THREADS": "1"}
    scheduler = subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(file)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    started = [scheduler]
    try:
        wait_for(file.exists, 120, "the Dask scheduler")
        address = json.loads(file.read_text())["address"]
        for name in ("w1", "w2"):
            started.append(subprocess.Popen([*dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--name", name,
                                             "--no-dashboard", "--no-nanny"], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, env=env))
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address, started[1:]
    finally:
        for process in reversed(started):
            if process.poll() is None:
                process.terminate()
        for process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


EPOCHS = 8
"""Epochs of each trial on the Dask cluster: enough that one is caught part way through."""


def test_a_dask_cluster_runs_the_trials_and_a_worker_killed_mid_trial_has_its_trial_run_elsewhere_once(folder, cluster):
    address, workers = cluster
    spec = folder / "dask.toml"
    spec.write_text(SPEC.format(trials=4, layers="784,conv4k5,maxpool2,10", epochs=EPOCHS))
    driver = subprocess.Popen(sweep_command(spec, "--scheduler", address, "--json"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=environment(folder))
    pids = {process.pid for process in workers}
    killed: list[int] = []

    def kill_one_mid_trial() -> bool:  # a worker whose trial has finished an epoch, far from its last
        for trial in load(spec).get_trials():
            pid = int(str(trial.user_attrs.get("worker", ":0")).rsplit(":", 1)[1])
            # a window of several epochs (each a fraction of a second here): a poll cannot miss it
            if trial.state.name == "RUNNING" and pid in pids and 1 <= len(trial.intermediate_values) <= EPOCHS // 2:
                os.kill(pid, signal.SIGKILL)
                killed.append((trial.number, pid))
                return True
        return False

    try:
        wait_for(kill_one_mid_trial, 300, "a trial half done on a worker")
        out, err = driver.communicate(timeout=600)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.communicate()
    assert driver.returncode == 0, err
    ends = [json.loads(line) for line in out.splitlines() if json.loads(line)["event"] == "end"]
    assert sorted(e["number"] for e in ends) == [0, 1, 2, 3]  # each trial told once, the one retried among them
    trials = load(spec).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    number, pid = killed[0]
    assert int(trials[number].user_attrs["worker"].rsplit(":", 1)[1]) != pid  # finished on the other worker
    assert len(trials[number].intermediate_values) == EPOCHS
