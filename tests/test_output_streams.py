"""A command whose stdout or stderr cannot be written: one line and exit 74, never a traceback.

Real processes of the installed ``purenet``, their output sent where it cannot go:
``> /dev/full`` (the disk is full), ``>&-`` (stdout closed), a pipe whose reader has
gone, ``2>&-`` and ``2> /dev/full`` (nowhere to say anything: the exit code tells).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from serving import installed_purenet

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/full") or shutil.which("sh") is None,
                                reason="needs /dev/full and a POSIX shell")

WHERE = {"disk-full": ">/dev/full", "stdout-closed": ">&-"}
CANNOT_WRITE = {"disk-full": "purenet: error: cannot write the output (stdout): No space left on device",
                "stdout-closed": "purenet: error: cannot write the output (stdout): it is closed"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory, small_model, small_mnist_dir, mnist) -> Path:
    here = tmp_path_factory.mktemp("streams")
    shutil.copy(small_model, here / "model.npz")
    Image.fromarray(255 - mnist.test.images[0].reshape(28, 28)).resize((140, 140)).save(here / "seven.png")
    (here / "mnist").symlink_to(small_mnist_dir)
    return here


def purenet(folder: Path, args: list[str], redirect: str = "", **options) -> subprocess.CompletedProcess:
    """``purenet ARGS REDIRECT`` through the shell, which sets the redirection up as a user's would."""
    env = {**os.environ, "XDG_STATE_HOME": str(folder / "state"), "PURENET_MIRRORS": "http://127.0.0.1:9/"}
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **options}
    return subprocess.run(["sh", "-c", f'exec "$0" "$@" {redirect}', installed_purenet(), *args], cwd=folder, env=env,
                          text=True, timeout=120, **streams)


COMMANDS = {
    "predict": ["predict", "--model", "model.npz", "seven.png"],
    "predict-json": ["predict", "--json", "--model", "model.npz", "seven.png"],
    "evaluate": ["evaluate", "model.npz", "--data", "mnist"],
    "evaluate-json": ["evaluate", "--json", "model.npz", "--data", "mnist"],
    "train": ["train", "--layers", "784,16,10", "--epochs", "1", "--data", "mnist", "--out", "fresh.npz"],
    "train-json": ["train", "--json", "--layers", "784,16,10", "--epochs", "1", "--data", "mnist", "--out", "fresh.npz"],
    "bench": ["bench", "--layers", "784,16,10", "--seconds", "0.02", "--repeats", "1"],
    "export": ["export", "model.npz", "-o", "model.onnx"],
    "help": ["train", "--help"],
    "version": ["--version"],
}


@pytest.mark.parametrize("where", list(WHERE))
def test_predict_with_nowhere_to_write_says_so_in_one_line(folder, where):
    done = purenet(folder, COMMANDS["predict"], WHERE[where])
    assert (done.returncode, done.stderr.splitlines()) == (74, [CANNOT_WRITE[where]]), done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("where", list(WHERE))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_with_nowhere_to_write_says_so_in_one_line(folder, command, where):
    done = purenet(folder, COMMANDS[command], WHERE[where])
    assert done.returncode == 74 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1] == CANNOT_WRITE[where], done.stderr


def test_a_reader_that_went_away_ends_it_quietly_with_141(folder):
    """``purenet predict ... | head -1``: the rest has no reader; no error line, the exit code of a SIGPIPE."""
    reading, writing = os.pipe()
    os.close(reading)  # the reader is gone before the first line
    try:
        done = purenet(folder, ["predict", "--model", "model.npz", "seven.png", "seven.png"], stdout=writing)
    finally:
        os.close(writing)
    assert (done.returncode, done.stderr) == (141, "")


@pytest.mark.slow
@pytest.mark.parametrize("redirect", ["2>&-", "2>/dev/full"], ids=["stderr-closed", "stderr-full"])
def test_with_stderr_unwritable_a_mistake_still_exits_2_and_stdout_stays_clean(folder, redirect):
    """The error line has nowhere to go; it must not land on stdout, and the exit code still tells."""
    done = purenet(folder, ["predict", "--model", "model.npz", "missing.png"], redirect)
    assert (done.returncode, done.stdout) == (2, "")
    done = purenet(folder, ["predict", "--model", "model.npz", "seven.png"], redirect)
    assert done.returncode == 0 and done.stdout.startswith("seven.png: ")
