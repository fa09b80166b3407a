"""The BLAS thread count: the policy (idle cores), who wins (--threads, then the environment), and that it reaches BLAS.

The suite runs with OPENBLAS_NUM_THREADS=1 (conftest.py), so in-process commands keep
the environment's count; anything that changes the process's count runs in a subprocess
(marked slow: a fresh interpreter loading the command and NumPy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import attrs
import pytest
from typer.testing import CliRunner

from purenet.apps.threads import (
    ENVIRONMENT_VARIABLES,
    MAX_THREADS,
    CoreSample,
    ThreadChoice,
    choose_threads,
    cpu_times,
    idle_cores,
    others_busy,
    parse_threads,
    policy_threads,
    redecide,
    sample_cores,
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


# --- re-deciding between epochs ----------------------------------------------------------------------


FIRST = CoreSample(idle_ticks=1000, total_ticks=5000, own_seconds=3.0, wall=100.0)


def later(before: CoreSample, busy_cores: float, own_cores: float, cores: int = 2, seconds: float = 10.0) -> CoreSample:
    """The sample ``seconds`` after ``before`` when ``busy_cores`` were busy in all, ``own_cores`` of them this process's."""
    return CoreSample(idle_ticks=before.idle_ticks + int((cores - busy_cores) * seconds * 100),
                      total_ticks=before.total_ticks + int(cores * seconds * 100),
                      own_seconds=before.own_seconds + own_cores * seconds, wall=before.wall + seconds)


def samples(busy_cores: float, own_cores: float) -> tuple[CoreSample, CoreSample]:
    return FIRST, later(FIRST, busy_cores, own_cores)


def test_others_busy_takes_this_process_out():
    assert others_busy(*samples(busy_cores=2.0, own_cores=2.0), cores=2) == pytest.approx(0.0)
    assert others_busy(*samples(busy_cores=2.0, own_cores=1.3), cores=2) == pytest.approx(0.7)
    assert others_busy(*samples(busy_cores=1.0, own_cores=1.1), cores=2) == 0.0  # never below nothing
    same = samples(1.0, 1.0)[0]
    assert others_busy(same, same, cores=2) is None


POLICY = ThreadChoice(threads=2, source="policy", reason="2.0 of 2 cores idle at start", cores=2, idle=2.0, applied=2, most=2)


def test_redecide_drops_to_one_thread_when_other_work_arrives_and_comes_back():
    busy = redecide(POLICY, *samples(busy_cores=2.0, own_cores=1.3))  # a neighbour took 0.7 of a core
    assert (busy.threads, busy.source) == (1, "policy") and "0.7 of 2 cores busy" in busy.reason
    quiet = redecide(busy, *samples(busy_cores=1.05, own_cores=1.0))
    assert quiet.threads == 2
    assert redecide(quiet, *samples(busy_cores=2.0, own_cores=1.95)) is quiet  # unchanged: the same record


def test_redecide_keeps_a_count_the_user_chose_or_nothing_measured():
    asked = ThreadChoice(threads=2, source="option", reason="asked for", cores=2)
    assert redecide(asked, *samples(busy_cores=2.0, own_cores=0.5)) is asked
    assert redecide(POLICY, None, samples(2.0, 1.0)[1]) is POLICY
    assert redecide(attrs.evolve(POLICY, most=1), *samples(busy_cores=0.0, own_cores=0.0)).threads == 1  # BLAS's ceiling


def test_sample_cores_reads_the_counters():
    sample = sample_cores(lambda: proc_stat((10, 30), (20, 40)), cpus=[0, 1], own=lambda: 1.5, clock=lambda: 7.0)
    assert sample == CoreSample(idle_ticks=70, total_ticks=100, own_seconds=1.5, wall=7.0)

    def missing() -> str:
        raise OSError("no /proc here")

    assert sample_cores(missing, cpus=[0]) is None


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
        assert "--threads" in result.stdout and "auto" in result.stdout, command


def test_dry_run_shows_the_choice(isolated):
    result = CliRunner().invoke(app, ["train", "--dry-run"], env={"OPENBLAS_NUM_THREADS": "1"})
    assert result.exit_code == 0, result.output
    assert "environment: OPENBLAS_NUM_THREADS=1" in result.stdout


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
    clean = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT_VARIABLES}
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


# --- purenet train chooses again after each epoch -----------------------------------------------------


def test_train_chooses_the_policys_count_again_after_each_epoch(small_mnist_dir, isolated, monkeypatch):
    """The loop's wiring, with the counters faked: quiet during epoch 1 (a second thread), busy during epoch 2 (back to one)."""
    import purenet.cli.train as train_command

    start = ThreadChoice(threads=1, source="policy", reason="0.0 of 2 cores idle at start", cores=2, idle=0.0, applied=1, most=2)
    after_quiet = later(FIRST, busy_cores=1.0, own_cores=1.0)  # only this process: a core to spare
    after_busy = later(after_quiet, busy_cores=2.0, own_cores=1.0)  # another process took the other core
    readings_left = [FIRST, after_quiet, after_busy]
    applied: list[int] = []
    monkeypatch.setattr(train_command, "set_blas_threads", lambda asked: start)
    monkeypatch.setattr(train_command, "sample_cores", lambda: readings_left.pop(0))
    monkeypatch.setattr(train_command, "apply_threads", lambda choice: applied.append(choice.threads) or
                        attrs.evolve(choice, applied=choice.threads))
    args = ["train", "--layers", "784,16,10", "--epochs", "2", "--data", str(small_mnist_dir), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e.get("threads") for e in events if e["event"] == "epoch"] == [1, 2]
    assert applied == [2, 1] and not readings_left
    assert events[-1]["threads"]["threads"] == 1 and "busy with other work" in events[-1]["threads"]["reason"]


def test_a_count_the_user_chose_is_never_changed_between_epochs(small_mnist_dir, isolated, monkeypatch):
    import purenet.cli.train as train_command

    def never(*args):
        raise AssertionError("re-decided a count the user chose")

    monkeypatch.setattr(train_command, "sample_cores", never)
    monkeypatch.setattr(train_command, "apply_threads", never)
    result = CliRunner().invoke(app, ["train", "--layers", "784,16,10", "--epochs", "2", "--data", str(small_mnist_dir)])
    assert result.exit_code == 0, result.output  # the suite's OPENBLAS_NUM_THREADS=1: the environment's choice
    assert "BLAS threads 1 (environment: OPENBLAS_NUM_THREADS=1)" in result.stdout
