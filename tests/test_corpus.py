"""A standing corpus of user mistakes: what purenet promises for each, checked the same way.

For every case of ``corpus_cases.CASES`` (a fresh folder each, as the working folder):

- the exit code (2 for every mistake);
- stderr holds exactly one line ``purenet: error: ...`` naming the file or option
  (or, for ``predict`` with several bad files, one line per bad file);
- no traceback anywhere, and no exception escaped the command;
- every file that existed before keeps its SHA-256 (FIFOs, sockets and links: their
  kind and target), except those the case says the command may change;
- a mistake (exit 2) creates nothing at all; no command leaves a hidden or temporary
  file (``.NAME.*.tmp``, ``*.part``, ``.purenet-probe*``, a lock file).

A case that may hang inside NumPy (where no Python signal handler runs) is run as a
real process of the installed ``purenet`` script, killed after ``PROCESS_SECONDS``.

Then real processes for what needs them: two runs writing the same file at once,
SIGTERM and Ctrl-C after an epoch and inside one (fresh and resumed), and resuming an
interrupted run into its own file.

When a case fails, its id names it and the message shows the command and all it printed.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np
import pytest
from conftest import Blocked, fail_if_blocked
from corpus_cases import CASES, OFFLINE_MIRROR, Case, World, idx_folder, png_bytes
from typer.testing import CliRunner

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="the corpus uses FIFOs and signals (POSIX)")

BLOCK_SECONDS = 30
"""A single command of the corpus that runs longer than this is taken to be blocked (a FIFO...)."""


# --- snapshots of a folder -----------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (not following links): files by SHA-256, others by kind."""
    entries: dict[str, tuple] = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, root)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                entries[relative] = ("link", os.readlink(path))
            elif stat.S_ISDIR(mode):
                entries[relative] = ("folder",)
            elif stat.S_ISREG(mode):
                with open(path, "rb") as handle:
                    entries[relative] = ("file", hashlib.sha256(handle.read()).hexdigest())
            else:  # FIFO, socket, device: never opened
                entries[relative] = ("special", stat.S_IFMT(mode))
    return entries


LEFTOVER = re.compile(r"(^\.)|(\.tmp$)|(\.part$)|(purenet-probe)|(\.lock$)")


def check_files(before: dict, after: dict, code: int, changes=()) -> None:
    changed = sorted(path for path in before if path not in changes and after.get(path) != before[path])
    assert not changed, f"files changed or removed: {changed}"
    new = sorted(set(after) - set(before))
    leftovers = [path for path in new if LEFTOVER.search(os.path.basename(path))]
    assert not leftovers, f"temporary or hidden files left behind: {leftovers}"
    if code == 2:
        assert not new, f"a refused command created files: {new}"


def outcome(result) -> str:
    """Everything a failed assertion should show about a CliRunner result."""
    text = f"exit {result.exit_code}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        text += "\n--- exception\n" + "".join(traceback.format_exception(result.exception))[-3000:]
    return text


# --- the session's material ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(mnist, tmp_path_factory) -> World:
    from purenet.cli.app import app
    from purenet.core.network import init
    from purenet.core.optim import make_optimizer
    from purenet.runs.checkpoint import Checkpoint, save

    root = tmp_path_factory.mktemp("corpus-world")
    train_x = mnist.train.images[:300].reshape(-1, 28, 28).copy()
    test_x = mnist.test.images[:100].reshape(-1, 28, 28).copy()
    w = World(train_x=train_x, train_y=mnist.train.labels[:300].copy(), test_x=test_x, test_y=mnist.test.labels[:100].copy(),
              root=root, idx_dir=root / "mnist", base=root / "base.npz", script=root / "script.npz",
              model400=root / "model400.npz", report={}, digit_png=b"")
    idx_folder(w, w.idx_dir)
    env = {"XDG_STATE_HOME": str(root / "state"), "PURENET_MIRRORS": OFFLINE_MIRROR, "NO_COLOR": "1", "PURENET_DATA": None}
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--layers", "784,16,10", "--batch-size", "64", "--epochs", "1",
                                 "--data", str(w.idx_dir), "--out", str(w.base)], env=env)
    assert result.exit_code == 0, outcome(result)
    for path, sizes in ((w.script, [784, 16, 10]), (w.model400, [400, 16, 10])):
        # exactly as docs/api.md shows a script saving one: no run configuration, empty settings
        params = init(sizes, rng=np.random.default_rng(0))
        save(path, Checkpoint(params=params, opt_state=make_optimizer("sgd", 0.1).init(params), epoch=1,
                              rng_state=np.random.default_rng(1).bit_generator.state))
    idx_folder(w, root / "mnist-10", n_test=10)
    result = runner.invoke(app, ["evaluate", str(w.base), "--data", str(root / "mnist-10"), "--report", str(root / "report")],
                           env=env)
    assert result.exit_code == 0, outcome(result)
    w.report = {path.name: path.read_bytes() for path in (root / "report").iterdir()}
    assert sorted(w.report) == ["classes.png", "confusion.png", "curves.png", "misclassified.png"]
    from PIL import Image

    digit = Image.fromarray(255 - mnist.test.images[0].reshape(28, 28)).resize((140, 140), Image.Resampling.BICUBIC)
    w.digit_png = png_bytes(np.asarray(digit))
    shutil.rmtree(root / "report")
    w.before = snapshot(root)
    return w


@pytest.fixture(scope="module", autouse=True)
def one_command_tree():
    """Build the app's command tree once, not on every CliRunner.invoke (40 ms each, x 400 cases)."""
    import typer.testing

    built = {}
    original = typer.testing._get_command

    def cached(app):
        if id(app) not in built:
            built[id(app)] = (app, original(app))
        return built[id(app)][1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(typer.testing, "_get_command", cached)
        yield


@pytest.fixture
def here(isolated, monkeypatch) -> Path:
    """The case's working folder; nothing can download, and no data folder is set."""
    monkeypatch.setenv("PURENET_MIRRORS", OFFLINE_MIRROR)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("PURENET_DATA", raising=False)
    return isolated


@pytest.fixture(autouse=True)
def no_blocking():
    with fail_if_blocked(BLOCK_SECONDS):
        yield


# --- running one command -------------------------------------------------------------------------


def in_process(args: list[str]):
    from purenet.cli.app import app

    return CliRunner().invoke(app, args)


class Finished:
    """A real process's outcome, shaped like CliRunner's result."""

    def __init__(self, code: int, stdout: str, stderr: str, exception: BaseException | None = None) -> None:
        self.exit_code, self.stdout, self.stderr, self.exception = code, stdout, stderr, exception
        self.output = stdout + stderr


PROCESS_SECONDS = 6
"""A case run as a process of its own (``Case.process``) is killed after this long: it hung."""


def in_a_process(args: list[str], cwd: Path) -> Finished:
    """Run the installed script (the environment is the test's: XDG_STATE_HOME in ``cwd``)."""
    child = subprocess.Popen([purenet_script(), *args], cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    try:
        stdout, stderr = child.communicate(timeout=PROCESS_SECONDS)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGTERM)  # the user's next move: does it even stop?
        try:
            stdout, stderr = child.communicate(timeout=2)
            stopped = f"it stopped on SIGTERM (exit {child.returncode})"
        except subprocess.TimeoutExpired:
            child.kill()
            stdout, stderr = child.communicate()
            stopped = "SIGTERM did not stop it within 2 s either (killed)"
        return Finished(child.returncode, stdout, stderr, Blocked(f"still running after {PROCESS_SECONDS} s; {stopped}"))
    return Finished(child.returncode, stdout, stderr)


# --- the corpus ------------------------------------------------------------------------------------


def test_the_corpus_is_wide():
    assert len(CASES) >= 80
    assert len({case.id for case in CASES}) == len(CASES)


QUICK_SHARE = 6
"""One case in six runs in the quick loop (``pytest``), spread evenly over the families of
``corpus_cases``; the other five are marked slow, so ``pytest -m slow`` (and CI) runs them too."""


def _in_the_loops(cases) -> list:
    return [pytest.param(case, id=case.id, marks=() if index % QUICK_SHARE == 0 else pytest.mark.slow)
            for index, case in enumerate(cases)]


@pytest.mark.parametrize("case", _in_the_loops(CASES))
def test_case(case: Case, world: World, here: Path, monkeypatch):
    args = case.build(world, here)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    before = snapshot(here)
    result = in_process(args) if not case.process else in_a_process(args, here)
    after = snapshot(here)
    shown = f"purenet {' '.join(map(repr, args))}\n{outcome(result)}"

    assert not isinstance(result.exception, Blocked), shown
    assert result.exception is None or isinstance(result.exception, SystemExit), shown
    for text in (result.output, result.stdout, result.stderr):
        assert "Traceback" not in text, shown
    assert result.exit_code in case.codes, shown
    errors = result.stderr.splitlines()
    if case.lines is not None and (result.exit_code != 0 or case.code == 0):
        assert len(errors) == case.lines, shown
        if result.exit_code != 0 and case.lines == 1:
            assert errors[0].startswith("purenet: error: "), shown
            assert not case.needle or any(needle in errors[0] for needle in case.needle), (
                f"the line names none of {case.needle}\n{shown}")
    check_files(before, after, result.exit_code, case.changes)
    if case.after is not None:
        case.after(here, result, world)


# --- real processes: two runs at once, SIGTERM, Ctrl-C, resuming -------------------------------------


def purenet_script() -> str:
    beside = Path(sys.executable).with_name("purenet")
    found = str(beside) if beside.is_file() else shutil.which("purenet")
    if not found:
        pytest.skip("the purenet command is not installed in this environment (pip install -e .)")
    return found


class Child:
    """A ``purenet`` process whose stdout lines are read as they come, so that a test can wait for one."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {**os.environ, "XDG_STATE_HOME": str(cwd / "state"), "PURENET_MIRRORS": OFFLINE_MIRROR, "NO_COLOR": "1",
               "OPENBLAS_NUM_THREADS": "1"}
        env.pop("PURENET_DATA", None)
        self.args = args
        self.proc = subprocess.Popen([purenet_script(), *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr = ""
        self._out = threading.Thread(target=self._read_stdout, daemon=True)
        self._err = threading.Thread(target=self._read_stderr, daemon=True)
        self._out.start()
        self._err.start()

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            self.stdout.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def _read_stderr(self) -> None:
        self.stderr = self.proc.stderr.read()

    def wait_for_event(self, event: str, timeout: float = 60) -> dict:
        """The first JSON object on stdout whose "event" is ``event``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                pytest.fail(f"no {event!r} event within {timeout} s from purenet {' '.join(self.args)}")
            if line is None:
                self.finish(5)
                pytest.fail(f"purenet {' '.join(self.args)} ended (exit {self.proc.returncode}) "
                            f"before an {event!r} event:\n{self.stderr}")
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if obj.get("event") == event:
                return obj

    def finish(self, timeout: float = 60) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"purenet {' '.join(self.args)} did not end within {timeout} s")
        self._out.join(10)
        self._err.join(10)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def run_purenet(args: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_STATE_HOME": str(cwd / "state"), "PURENET_MIRRORS": OFFLINE_MIRROR, "NO_COLOR": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    env.pop("PURENET_DATA", None)
    return subprocess.run([purenet_script(), *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def long_run(out: str, epochs: int = 100_000) -> list[str]:
    return ["train", "--layers", "784,16,10", "--batch-size", "64", "--epochs", str(epochs), "--data", "mnist",
            "--out", out, "--json"]


@pytest.fixture
def lab(world: World, here: Path) -> Path:
    """A working folder with the small MNIST and a note of the user's."""
    idx_folder(world, here / "mnist")
    (here / "notes.txt").write_text("my notes\n")
    return here


EPOCHS_OF_THE_FIRST = 80
"""About 3 s of training: long enough for a second process to start and be refused."""


@pytest.mark.slow
def test_two_runs_with_the_same_out(lab: Path):
    before = snapshot(lab)
    first = Child(long_run("same.npz", epochs=EPOCHS_OF_THE_FIRST), lab)
    try:
        first.wait_for_event("epoch")
        second = run_purenet(["train", "--layers", "784,16,10", "--epochs", "1", "--data", "mnist", "--out", "same.npz"], lab)
        assert first.proc.poll() is None, "the first run ended before the second one was checked: the test proves nothing"
        code = first.finish()
    finally:
        first.kill()
    shown = f"second: exit {second.returncode}\n{second.stderr}\nfirst: exit {code}\n{first.stderr}"
    assert second.returncode == 2, shown
    lines = second.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("purenet: error: ") and "same.npz" in lines[0], shown
    assert str(first.proc.pid) in lines[0], f"the line does not name the other run (process {first.proc.pid})\n{shown}"
    assert "Traceback" not in second.stdout + second.stderr + first.stderr, shown
    assert code == 0, shown
    from purenet.runs.checkpoint import load

    assert load(lab / "same.npz").epoch == EPOCHS_OF_THE_FIRST
    check_files(before, snapshot(lab), 0)


def signalled(args: list[str], lab: Path, event: str, signum: int):
    """Run ``purenet ARGS`` in ``lab``, send ``signum`` once it reports ``event`` (JSON), let it
    finish; returns (the child, its exit code, its stderr lines, a text to show on failure)."""
    child = Child(args, lab)
    try:
        child.wait_for_event(event)
        child.proc.send_signal(signum)
        got = child.finish()
    finally:
        child.kill()
    shown = f"exit {got}\n--- stderr\n{child.stderr}\n--- stdout (last lines)\n{''.join(child.stdout[-3:])}"
    return child, got, child.stderr.splitlines(), shown


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_signal_after_an_epoch(lab: Path, signum: int, code: int):
    from purenet.runs.checkpoint import load

    before = snapshot(lab)
    child, got, lines, shown = signalled(long_run("run.npz"), lab, "epoch", signum)
    assert got == code, shown
    assert len(lines) == 1 and "Traceback" not in child.stderr, shown
    held = load(lab / "run.npz").epoch
    assert held >= 1, shown
    assert names_the_epoch(lines[0], held), f"the line does not name epoch {held}, which run.npz holds\n{shown}"
    assert "run.npz" in lines[0], shown
    for line in child.stdout:
        json.loads(line)  # --json: nothing but JSON on stdout, even when stopped
    check_files(before, snapshot(lab), 0)


def names_the_epoch(line: str, held: int) -> bool:
    """Whether ``line`` names epoch ``held`` (and no other, but the one in progress, ``held + 1``)."""
    named = set(re.findall(r"\bepoch (\d+)\b", line))
    return str(held) in named and named <= {str(held), str(held + 1)}


def test_sigterm_during_the_first_epoch(lab: Path):
    """Stopped inside epoch 1 (after its first step): nothing to save, so nothing written, one line."""
    before = snapshot(lab)
    args = ["train", "--layers", "784,16,10", "--batch-size", "4", "--epochs", "3", "--every", "1", "--json",
            "--data", "mnist", "--out", "run.npz"]
    child, got, lines, shown = signalled(args, lab, "step", signal.SIGTERM)
    assert got == 143, shown
    assert len(lines) == 1 and "Traceback" not in child.stderr, shown
    if (lab / "run.npz").exists():  # the epoch ended before the signal came: the line must say which
        from purenet.runs.checkpoint import load

        assert names_the_epoch(lines[0], load(lab / "run.npz").epoch), shown
        check_files(before, snapshot(lab), 0)
    else:
        check_files(before, {k: v for k, v in snapshot(lab).items() if not k.startswith("state")}, 2)


@pytest.mark.slow
def test_ctrl_c_during_a_resumed_epoch(lab: Path):
    """Ctrl-C inside an epoch of a resumed run: the file still holds what it held (or the epoch that just ended)."""
    from purenet.cli.app import app
    from purenet.runs.checkpoint import load

    first = CliRunner().invoke(app, ["train", "--layers", "784,16,10", "--batch-size", "4", "--epochs", "1", "--data", "mnist",
                                     "--out", "run.npz"])
    assert first.exit_code == 0, outcome(first)
    before = snapshot(lab)
    child, got, lines, shown = signalled(["train", "--resume", "run.npz", "--epochs", "50", "--every", "1", "--json"],
                                         lab, "step", signal.SIGINT)
    assert got == 130, shown
    assert len(lines) == 1 and "Traceback" not in child.stderr, shown
    held = load(lab / "run.npz").epoch
    assert names_the_epoch(lines[0], held), f"the line does not name epoch {held}, which run.npz holds\n{shown}"
    for line in child.stdout:
        json.loads(line)
    check_files(before, snapshot(lab), 0, changes=["run.npz"])


@pytest.mark.slow
def test_ctrl_c_then_resume_continues_into_the_same_file(lab: Path, world: World):
    from purenet.runs.checkpoint import load

    (lab / "model.npz").write_bytes(world.base.read_bytes())  # a checkpoint of the user's, not to be touched
    before = snapshot(lab)
    child, got, _, shown = signalled(long_run("run.npz"), lab, "epoch", signal.SIGINT)
    assert got == 130, shown
    held = load(lab / "run.npz").epoch
    resumed = run_purenet(["train", "--resume", "run.npz", "--epochs", str(held + 2)], lab)
    shown = f"first: {child.stderr}\nresumed: exit {resumed.returncode}\n{resumed.stdout[-2000:]}\n{resumed.stderr}"
    assert resumed.returncode == 0, shown
    assert "Traceback" not in resumed.stdout + resumed.stderr, shown
    checkpoint = load(lab / "run.npz")
    assert checkpoint.epoch == held + 2, shown
    assert [h["epoch"] for h in checkpoint.history] == list(range(1, held + 3)), shown
    check_files(before, snapshot(lab), 0)  # model.npz byte-identical, no temp files


def test_zz_the_sessions_files_are_untouched(world: World):
    """Cases read the session's data and checkpoints (through a resumed run's saved data path): unchanged."""
    check_files(world.before, snapshot(world.root), 0)
