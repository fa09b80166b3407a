"""What a hostile tester found about paths (issue 22), where a corpus case cannot say it:
links written through, modes kept, lock files that are not ours, full disks, stdin as
an image, and a run killed with SIGKILL whose lock file stays behind."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from purenet.io.lock import OutputLock, OutputLocked
from purenet.io.outputs import WriteRefused, check_not_input, check_target
from purenet.io.writing import atomic_write

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="links, FIFOs and signals (POSIX)")

SMALL = ["--layers", "784,16,10", "--batch-size", "64", "--epochs", "1"]


def write_bytes(data: bytes):
    return lambda handle: handle.write(data)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- links and modes --------------------------------------------------------------------------------


def test_a_link_is_written_through_and_stays_a_link(tmp_path):
    (tmp_path / "models").mkdir()
    target = tmp_path / "models" / "real.npz"
    target.write_bytes(b"old")
    link = tmp_path / "link.npz"
    link.symlink_to("models/real.npz")
    atomic_write(link, write_bytes(b"new"))
    assert link.is_symlink() and os.readlink(link) == "models/real.npz"
    assert target.read_bytes() == b"new"
    assert names(tmp_path / "models") == ["real.npz"] and names(tmp_path) == ["link.npz", "models"]


def test_a_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "private.npz"
    path.write_bytes(b"old")
    path.chmod(0o600)
    old = os.umask(0o022)
    try:
        atomic_write(path, write_bytes(b"new"))
    finally:
        os.umask(old)
    assert path.read_bytes() == b"new" and path.stat().st_mode & 0o777 == 0o600


def test_a_fifo_behind_a_link_is_never_replaced(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "link").symlink_to("pipe")
    with pytest.raises(FileExistsError):
        atomic_write(tmp_path / "link", write_bytes(b"x"))
    assert (tmp_path / "pipe").is_fifo() and names(tmp_path) == ["link", "pipe"]


def test_check_target_judges_a_link_by_its_target_and_refuses_a_loop(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "link").symlink_to("notes.txt")
    with pytest.raises(WriteRefused, match="link: exists and is not ours"):
        check_target(tmp_path / "link", lambda p: False, what="ours")
    (tmp_path / "loop").symlink_to("loop")
    with pytest.raises(WriteRefused, match="loop: cannot write there"):
        check_target(tmp_path / "loop", lambda p: True, what="ours", force=True)


def test_check_target_refuses_a_name_whose_temporary_file_is_too_long(tmp_path):
    long = tmp_path / ("m" * 241 + ".npz")  # 245 characters fit; .NAME.PID.RANDOM.tmp does not
    with pytest.raises(WriteRefused, match="File name too long"):
        check_target(long, lambda p: True, what="ours")
    assert names(tmp_path) == []


def test_check_not_input_refuses_the_file_its_links_and_anything_in_a_folder(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("1,2\n")
    (tmp_path / "digits" / "3").mkdir(parents=True)
    os.link(data, tmp_path / "hard.csv")
    (tmp_path / "soft.csv").symlink_to("data.csv")
    for refused, source in ((data, data), (tmp_path / "hard.csv", data), (tmp_path / "soft.csv", data),
                            (tmp_path / "digits" / "m.npz", tmp_path / "digits"),
                            (tmp_path / "digits" / "3" / "new" / "m.npz", tmp_path / "digits"),
                            (tmp_path / "digits", tmp_path / "digits")):
        with pytest.raises(WriteRefused, match="or inside it"):
            check_not_input(refused, [(source, "the data")], option="--out")
    for allowed, source in ((tmp_path / "m.npz", data), (tmp_path / "digits-2" / "m.npz", tmp_path / "digits"),
                            (tmp_path / "x", None)):
        assert check_not_input(allowed, [(source, "the data")], option="--out") == allowed


# --- the lock -----------------------------------------------------------------------------------------


def test_the_lock_of_a_link_is_the_lock_of_its_target(tmp_path):
    (tmp_path / "real.npz").write_bytes(b"x")
    (tmp_path / "link.npz").symlink_to("real.npz")
    with OutputLock(tmp_path / "real.npz"):
        with pytest.raises(OutputLocked, match="link.npz: another purenet run"):
            with OutputLock(tmp_path / "link.npz"):
                pass
    assert names(tmp_path) == ["link.npz", "real.npz"]


def _fifo(path: Path) -> None:
    os.mkfifo(path)


@pytest.mark.parametrize("make, message", [
    (_fifo, "is a named pipe"),
    (lambda path: path.symlink_to("notes.txt"), "is a symbolic link"),
    (lambda path: path.symlink_to("made-through-the-link"), "is a symbolic link"),
    (lambda path: os.link(path.with_name("notes.txt"), path), "has other names"),
], ids=["fifo", "link-to-a-users-file", "dangling-link", "hard-link"])
def test_a_lock_file_that_is_not_a_regular_file_of_ours_is_refused_untouched(tmp_path, make, message):
    notes = tmp_path / "notes.txt"
    notes.write_text("")  # empty: its text alone would pass for a lock's
    lock = tmp_path / ".m.npz.lock"
    make(lock)
    before = {p.name: (p.is_symlink(), p.is_fifo()) for p in tmp_path.iterdir()}
    with pytest.raises(WriteRefused, match=f"m.npz.lock: {message}"):
        with OutputLock(tmp_path / "m.npz"):
            pass
    assert notes.read_text() == "" and {p.name: (p.is_symlink(), p.is_fifo()) for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EDQUOT, errno.EROFS])
def test_a_full_disk_while_taking_the_lock_leaves_nothing(tmp_path, monkeypatch, error):
    def full(fd, data):
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr("purenet.io.lock.os.write", full)
    with pytest.raises(WriteRefused, match=os.strerror(error)):
        with OutputLock(tmp_path / "m.npz"):
            pass
    assert names(tmp_path) == []


def test_a_file_system_without_locks_is_one_refusal_and_leaves_nothing(tmp_path, monkeypatch):
    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr("purenet.io.lock.fcntl.flock", no_locks)
    with pytest.raises(WriteRefused, match="cannot lock it"):
        with OutputLock(tmp_path / "m.npz"):
            pass
    assert names(tmp_path) == []


# --- full disks in the commands ---------------------------------------------------------------------


class FullDisk:
    """A file handle whose writes fail as on a full disk, after the first bytes."""

    def __init__(self, handle, error: int) -> None:
        self.handle, self.error = handle, error

    def write(self, data) -> int:
        self.handle.write(bytes(data)[:10])
        raise OSError(self.error, os.strerror(self.error))

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


@pytest.fixture
def full_disk(monkeypatch):
    """Every file ``atomic_write`` fills fails with ENOSPC."""
    import purenet.io.writing

    real = purenet.io.writing.os.fdopen
    monkeypatch.setattr(purenet.io.writing.os, "fdopen", lambda fd, mode: FullDisk(real(fd, mode), errno.ENOSPC))


def one_error_line(result) -> str:
    assert ("Traceback" not in result.output
            and not (result.exception and not isinstance(result.exception, SystemExit))), result.output
    lines = result.stderr.splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("purenet: error: "), result.output
    return lines[0]


def test_export_on_a_full_disk_is_one_line_and_leaves_nothing(small_model, isolated, full_disk):
    pytest.importorskip("onnx")
    from purenet.cli.app import app

    before = names(isolated)
    line = one_error_line(CliRunner().invoke(app, ["export", str(small_model), "-o", "m.onnx"]))
    assert "m.onnx" in line and "No space left on device" in line
    assert names(isolated) == before


def test_a_first_epoch_that_cannot_be_saved_leaves_nothing(small_mnist_dir, isolated, full_disk):
    from purenet.cli.app import app

    line = one_error_line(CliRunner().invoke(app, ["train", *SMALL, "--data", str(small_mnist_dir), "--out", "m.npz"]))
    assert "m.npz" in line and "nothing was saved" in line and "previous epoch" not in line
    assert names(isolated) == []


# --- standard input is not an image ------------------------------------------------------------------


def purenet_script() -> str:
    script = Path(sys.executable).with_name("purenet")
    if not script.is_file():
        pytest.skip("the purenet command is not installed in this environment")
    return str(script)


def test_dev_stdin_redirected_from_a_file_is_not_read_as_an_image(small_model, tmp_path, mnist):
    from PIL import Image

    Image.fromarray(255 - mnist.test.images[0].reshape(28, 28)).save(tmp_path / "d.png")
    with open(tmp_path / "d.png", "rb") as stdin:
        done = subprocess.run([purenet_script(), "predict", "--model", str(small_model), "/dev/stdin"], stdin=stdin,
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")})
    assert done.returncode == 2 and done.stdout == "", done.stdout + done.stderr
    assert done.stderr.splitlines() == ["purenet: error: /dev/stdin: is a device or process file (under /dev or /proc, "
                                        "as /dev/stdin), not an image file"]


# --- a run killed with SIGKILL leaves its lock file: the next run goes on ---------------------------------


@pytest.mark.slow
def test_a_lock_left_by_a_run_killed_with_sigkill_is_stale(small_mnist_dir, tmp_path):
    from purenet.runs.checkpoint import load

    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "OPENBLAS_NUM_THREADS": "1"}
    args = [purenet_script(), "train", "--layers", "784,16,10", "--batch-size", "64", "--epochs", "1000", "--json",
            "--data", str(small_mnist_dir), "--out", "run.npz"]
    child = subprocess.Popen(args, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        for line in child.stdout:  # the first epoch is saved: the run holds its lock
            if json.loads(line).get("event") == "epoch":
                break
        assert (tmp_path / ".run.npz.lock").exists()
        child.send_signal(signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        child.stdout.close()
    assert (tmp_path / ".run.npz.lock").read_text() == f"purenet lock {child.pid}\n"  # left behind by the killed run
    held = load(tmp_path / "run.npz").epoch
    again = subprocess.run([purenet_script(), "train", "--resume", "run.npz", "--epochs", str(held + 1)], cwd=tmp_path, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert load(tmp_path / "run.npz").epoch == held + 1
    assert not [name for name in names(tmp_path) if name.startswith(".")]  # no lock, no temporary file left


# --- the CLI: a link to a checkpoint another run writes; the state file as a link or a FIFO -------------------


def test_train_through_a_link_to_a_checkpoint_another_run_writes_is_refused(small_model, small_mnist_dir, isolated):
    from purenet.cli.app import app

    (isolated / "real.npz").write_bytes(small_model.read_bytes())
    (isolated / "link.npz").symlink_to("real.npz")
    before = (isolated / "real.npz").read_bytes()
    with OutputLock(isolated / "real.npz"):  # the other run, writing real.npz
        line = one_error_line(CliRunner().invoke(app, ["train", *SMALL, "--data", str(small_mnist_dir), "--out", "link.npz"]))
    assert "link.npz: another purenet run" in line and str(os.getpid()) in line
    assert (isolated / "real.npz").read_bytes() == before


@pytest.mark.parametrize("kind", ["link-to-a-users-file", "fifo"])
def test_train_never_writes_through_or_replaces_an_odd_state_file(small_mnist_dir, isolated, kind):
    from purenet.cli.app import app
    from purenet.cli.state import state_file

    state = state_file()
    state.parent.mkdir(parents=True)
    notes = isolated / "notes.txt"
    notes.write_text("my notes\n")
    if kind == "fifo":
        os.mkfifo(state)
    else:
        state.symlink_to(notes)
    result = CliRunner().invoke(app, ["train", *SMALL, "--data", str(small_mnist_dir), "--out", "m.npz"])
    assert result.exit_code == 0, result.output
    assert notes.read_text() == "my notes\n"
    assert state.is_fifo() if kind == "fifo" else (state.is_symlink() and os.readlink(state) == str(notes))
