"""The BLAS thread count: the policy (idle cores), who wins (--threads, then the environment), and that it reaches BLAS.

The suite runs with OPENBLAS_NUM_THREADS=1 and PURENET_THREADS=1 (conftest.py), so in-process
commands keep one thread; anything that changes the process's count runs in a subprocess
(marked slow: a fresh interpreter loading the command and NumPy). The tests of the policy
and of the environment's variables clear PURENET_THREADS, which would otherwise decide.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from purenet.apps.threads import (
    ENVIRONMENT_VARIABLES,
    MAX_THREADS,
    ThreadChoice,
    choose_threads,
    cpu_times,
    idle_cores,
    parse_threads,
    policy_threads,
    user_setting,
)
from purenet.cli.app import app


def proc_stat(*cpus: tuple[int, int]) -> str:
    """A /proc/stat text whose cpuN lines hold (busy, idle) ticks: busy as user time, idle split into idle and iowait."""
    total_busy, total_idle = sum(b for b, _ in cpus), sum(i for _, i in cpus)
    lines = [f"cpu  {total_busy} 0 0 {total_idle} 0 0 0 0 0 0"]
    lines += [f"cpu{n} {busy} 0 0 {idle - idle // 4} {idle // 4} 0 0 0 0 0" for n, (busy, idle) in enumerate(cpus)]
    return "\n".join(lines + ["intr 1 2 3", "procs_running 3"]) + "\n"


def readings(*texts: str):
    texts_left = list(texts)
    return lambda: texts_left.pop(0)


# --- reading the idle cores ---------------------------------------------------------------------


def test_cpu_times_sums_idle_and_iowait_of_the_cores_asked_for():
    text = proc_stat((100, 40), (10, 130), (50, 50))
    assert cpu_times(text, [0]) == (40, 140)
    assert cpu_times(text, [1, 2]) == (180, 240)
    assert cpu_times(text, [7]) == (0, 0)  # a core the machine does not list


def test_idle_cores_from_two_readings():
    # over the sample, core 0 was busy 15 of 15 ticks and core 1 idle 15 of 15: one idle core
    before, after = proc_stat((100, 100), (100, 100)), proc_stat((115, 100), (100, 115))
    slept = []
    assert idle_cores(readings(before, after), slept.append, seconds=0.1, cpus=[0, 1]) == pytest.approx(1.0)
    assert slept == [0.1]
    # only the cores this process may use count: core 1 alone is wholly idle
    assert idle_cores(readings(before, after), lambda s: None, cpus=[1]) == pytest.approx(1.0)
    assert idle_cores(readings(before, after), lambda s: None, cpus=[0]) == pytest.approx(0.0)


def test_idle_cores_falls_back_to_the_load_average_then_to_nothing():
    def missing() -> str:
        raise OSError("no /proc here")

    assert idle_cores(missing, lambda s: None, cpus=[0, 1, 2, 3], loadavg=lambda: (1.5, 0.0, 0.0)) == pytest.approx(2.5)
    assert idle_cores(missing, lambda s: None, cpus=[0, 1], loadavg=lambda: (7.0, 0.0, 0.0)) == 0.0
    unchanged = proc_stat((1, 1))  # no tick between the readings: nothing learnt, so the load average
    assert idle_cores(readings(unchanged, unchanged), lambda s: None, cpus=[0], loadavg=lambda: (0.25, 0, 0)) == 0.75

    def no_loadavg():
        raise OSError("unsupported")

    assert idle_cores(missing, lambda s: None, cpus=[0], loadavg=no_loadavg) is None


# --- the policy -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("idle", "cores", "blas", "threads"), [
    (2.0, 2, None, 2),    # a quiet 2-core machine: both threads
    (1.85, 2, None, 2),   # a little background work still counts as idle
    (1.7, 2, None, 1),    # a neighbour using a third of a core: one thread
    (1.0, 2, None, 1),    # one busy process beside it
    (0.0, 2, None, 1),    # every core busy: still one thread
    (7.9, 8, None, 8),
    (5.5, 8, None, 5),
    (8.0, 8, 4, 4),       # never more than BLAS would use by itself
    (3.0, 2, None, 2),    # never more than the cores
])
def test_policy_counts_the_cores_nearly_all_idle(idle, cores, blas, threads):
    assert policy_threads(idle, cores, blas) == threads


def test_choose_threads_asks_the_policy_with_the_measured_idle_cores():
    choice = choose_threads(environ={}, measure=lambda: 1.0, cores=2)
    assert (choice.threads, choice.source, choice.idle, choice.cores) == (1, "policy", 1.0, 2)
    assert "1.0 of 2 cores idle" in choice.reason
    assert choose_threads(environ={}, measure=lambda: 2.0, cores=2).threads == 2
    unknown = choose_threads(environ={}, measure=lambda: None, cores=2)
    assert (unknown.threads, unknown.source) == (None, "blas")


@pytest.mark.parametrize("variable", ENVIRONMENT_VARIABLES)
def test_the_users_variable_wins_over_the_policy(variable):
    def never() -> float:
        raise AssertionError("the policy measured although the environment sets the count")

    choice = choose_threads(environ={variable: "3"}, measure=never, cores=2)
    assert (choice.threads, choice.source, choice.reason) == (None, "environment", f"{variable}=3")


def test_an_empty_variable_is_not_a_choice():
    assert user_setting({"OPENBLAS_NUM_THREADS": " ", "PATH": "/bin"}) is None
    assert user_setting({"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "1"}) == ("OPENBLAS_NUM_THREADS", "1")


def test_the_count_a_run_was_trained_with_comes_after_the_option_and_the_environment():
    def never() -> float:
        raise AssertionError("the policy measured although the checkpoint keeps a count")

    kept = choose_threads(environ={}, measure=never, cores=2, kept=2)
    assert (kept.threads, kept.source, kept.reason) == (2, "checkpoint", "the count the run was trained with")
    assert choose_threads(1, environ={}, measure=never, cores=2, kept=2).source == "option"
    assert choose_threads(environ={"OMP_NUM_THREADS": "1"}, measure=never, cores=2, kept=2).source == "environment"
    assert choose_threads(environ={}, measure=lambda: 0.0, cores=2, kept=None).source == "policy"  # an older checkpoint
    with pytest.raises(ValueError, match="at least 1"):
        choose_threads(environ={}, cores=2, kept=0)


def test_a_number_asked_for_wins_over_the_environment():
    choice = choose_threads(3, environ={"OPENBLAS_NUM_THREADS": "1"}, measure=lambda: 0.0, cores=2)
    assert (choice.threads, choice.source) == (3, "option")
    with pytest.raises(ValueError, match="at least 1"):
        choose_threads(0, environ={}, cores=2)


def test_the_choice_in_words_and_as_json():
    choice = ThreadChoice(threads=1, source="policy", reason="0.4 of 2 cores idle at start", cores=2, idle=0.4, applied=1)
    assert choice.in_words() == "1 (policy: 0.4 of 2 cores idle at start)"
    assert choice.to_json() == {"threads": 1, "source": "policy", "reason": "0.4 of 2 cores idle at start", "cores": 2,
                                "idle": 0.4, "applied": 1, "most": None}
    assert "BLAS default" in ThreadChoice(threads=None, source="blas", reason="unknown", cores=2).in_words()


# --- --threads as typed ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "count"), [("auto", None), ("AUTO", None), ("0", None), ("1", 1), ("16", 16),
                                             (str(MAX_THREADS), MAX_THREADS)])
def test_parse_threads(text, count):
    assert parse_threads(text) == count


@pytest.mark.parametrize("text", ["x", "-1", "1.5", "2 threads", "+2", "²", str(MAX_THREADS + 1), "1e3"])
def test_parse_threads_refuses(text):
    with pytest.raises(ValueError) as error:
        parse_threads(text)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("command", [["train", "--dry-run"], ["evaluate"], ["bench"], ["serve"]])
@pytest.mark.parametrize(("value", "said"), [("many", "'many' is not a whole number or 'auto'"),
                                             ("-2", "'-2' is not a whole number or 'auto'"),
                                             ("5000", "5000 is more than 1024 threads")])
def test_a_bad_thread_count_is_one_line(command, value, said, isolated):
    result = CliRunner().invoke(app, [*command, "--threads", value])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--threads" in lines[0] and said in lines[0], result.stderr


def test_every_computing_command_takes_threads():
    for command in ("train", "evaluate", "bench", "serve"):
        result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert "--threads" in result.stdout and "auto" in result.stdout and "PURENET_THREADS" in result.stdout, command


def test_dry_run_shows_the_choice(isolated):
    result = CliRunner().invoke(app, ["train", "--dry-run"], env={"OPENBLAS_NUM_THREADS": "1", "PURENET_THREADS": None})
    assert result.exit_code == 0, result.output
    assert "environment: OPENBLAS_NUM_THREADS=1" in result.stdout


def test_purenet_threads_is_the_default_of_threads(isolated):
    said = CliRunner().invoke(app, ["train", "--dry-run"], env={"PURENET_THREADS": "1"})
    assert said.exit_code == 0 and re.search(r"^threads +1 \(option: asked for\)$", said.stdout, re.M), said.output
    typed = CliRunner().invoke(app, ["train", "--dry-run", "--threads", "auto"], env={"PURENET_THREADS": "1"})
    assert typed.exit_code == 0 and "environment: OPENBLAS_NUM_THREADS=1" in typed.stdout, typed.output  # the command line wins
    bad = CliRunner().invoke(app, ["train", "--dry-run"], env={"PURENET_THREADS": "many"})
    assert bad.exit_code == 2 and "PURENET_THREADS" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.output


# --- the count reaches BLAS, in a process of its own -------------------------------------------------

PROBE = """
import json, sys
from threadpoolctl import threadpool_info
from purenet.cli.app import app
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    print(json.dumps([pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]))
"""


def blas_threads_after(args: list[str], tmp_path, **env: str) -> list[int]:
    """The BLAS pools' thread counts in a fresh process after ``purenet ARGS`` (with ``env`` on top of no thread variable)."""
    clean = {k: v for k, v in os.environ.items() if k not in (*ENVIRONMENT_VARIABLES, "PURENET_THREADS")}
    clean.update(env, XDG_STATE_HOME=str(tmp_path / "state"))
    done = subprocess.run([sys.executable, "-c", PROBE, *args], env=clean, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


needs_two_cores = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 if hasattr(os, "sched_getaffinity")
                                     else (os.cpu_count() or 1) < 2, reason="BLAS caps its threads at the cores")


@pytest.mark.slow
@needs_two_cores
def test_threads_reaches_blas(tmp_path):
    assert blas_threads_after(["train", "--dry-run", "--threads", "1"], tmp_path, OPENBLAS_NUM_THREADS="2") == [1]
    assert blas_threads_after(["train", "--dry-run", "--threads", "2"], tmp_path, OPENBLAS_NUM_THREADS="1") == [2]


@pytest.mark.slow
@needs_two_cores
def test_auto_keeps_the_users_variable(tmp_path):
    # BLAS starts with the variable's count; auto leaves it, whatever the cores' load
    assert blas_threads_after(["train", "--dry-run"], tmp_path, OPENBLAS_NUM_THREADS="2") == [2]
    assert blas_threads_after(["train", "--dry-run", "--threads", "auto"], tmp_path, OMP_NUM_THREADS="2") == [2]


@pytest.mark.slow
def test_auto_sets_the_policys_count(tmp_path):
    counts = blas_threads_after(["train", "--dry-run"], tmp_path)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert counts and all(1 <= n <= cores for n in counts)


# --- purenet train: one count for the whole run, kept in its checkpoint ------------------------------

SMALL_RUN = ["train", "--layers", "784,16,10", "--batch-size", "32", "--seed", "5"]


def test_train_decides_once(small_mnist_dir, isolated, monkeypatch):
    """The count is set before the first epoch and never again: the epochs' bits depend on it."""
    import purenet.cli.train as train_command

    calls: list = []
    chosen = ThreadChoice(threads=1, source="option", reason="asked for", cores=2, applied=1)
    monkeypatch.setattr(train_command, "set_blas_threads", lambda asked, kept=None: calls.append((asked, kept)) or chosen)
    result = CliRunner().invoke(app, [*SMALL_RUN, "--epochs", "2", "--data", str(small_mnist_dir), "--json", "--threads", "1"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert calls == [(1, None)]
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]
    assert not any("threads" in e for e in events if e["event"] == "epoch")  # one count a run: in the summary
    assert events[-1]["threads"]["threads"] == 1


def test_a_resumed_run_keeps_its_thread_count_and_its_bits(small_mnist_dir, isolated, monkeypatch):
    """Trained with --threads 1 for one epoch, resumed with no --threads to two: the same bits as two
    epochs in one go, the count taken from the checkpoint (no thread variable set to decide instead)."""
    from purenet.runs.checkpoint import load

    for name in (*ENVIRONMENT_VARIABLES, "PURENET_THREADS"):
        monkeypatch.delenv(name, raising=False)  # BLAS keeps the one thread it started with (conftest.py)
    data = ["--data", str(small_mnist_dir)]
    for epochs, out in (("2", "straight.npz"), ("1", "first.npz")):
        result = CliRunner().invoke(app, [*SMALL_RUN, *data, "--epochs", epochs, "--out", out, "--threads", "1"])
        assert result.exit_code == 0, result.output
    assert load(isolated / "first.npz").settings == {"blas_threads": 1}
    resumed = CliRunner().invoke(app, ["train", "--resume", "first.npz", "--epochs", "2", "--out", "resumed.npz"])
    assert resumed.exit_code == 0, resumed.output
    assert "BLAS threads 1 (checkpoint: the count the run was trained with)" in resumed.stdout
    a, b = load(isolated / "resumed.npz"), load(isolated / "straight.npz")
    assert a.epoch == b.epoch == 2 and a.settings == {"blas_threads": 1}
    assert [x.tobytes() for x in a.params.arrays()] == [x.tobytes() for x in b.params.arrays()]
    assert ([x.tobytes() for s in a.opt_state.slots for x in s.arrays()]
            == [x.tobytes() for s in b.opt_state.slots for x in s.arrays()])


def test_a_count_left_to_the_environment_is_not_kept(small_mnist_dir, isolated, monkeypatch):
    """BLAS's own count (a thread variable set) is not purenet's to keep: a later --resume decides afresh."""
    from purenet.runs.checkpoint import load

    monkeypatch.delenv("PURENET_THREADS", raising=False)
    result = CliRunner().invoke(app, [*SMALL_RUN, "--epochs", "1", "--data", str(small_mnist_dir)])
    assert result.exit_code == 0, result.output
    assert "BLAS threads 1 (environment: OPENBLAS_NUM_THREADS=1)" in result.stdout
    assert "blas_threads" not in load(isolated / "model.npz").settings
