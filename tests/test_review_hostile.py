"""What the second hostile review found (issue 22), where a corpus case cannot say it: a report
half old, half new after a full disk; a stop signal lost in a garbage collector's callback or
killing the process after its work; mirrors that are not web addresses."""

from __future__ import annotations

import errno
import gc
import os
import signal
import weakref
from pathlib import Path

import pytest
from conftest import write_idx
from typer.testing import CliRunner

from purenet.io.writing import atomic_write_all

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals and file systems")

PICTURES = ("confusion.png", "misclassified.png", "classes.png", "curves.png")


def write_bytes(data: bytes):
    return lambda handle: handle.write(data)


def failing_on(call: int, monkeypatch) -> None:
    """The ``call``-th file purenet.io.writing fills (counted from 1) fails as on a full disk."""
    import purenet.io.writing

    real, calls = purenet.io.writing.os.fdopen, []

    def fdopen(fd, mode):
        calls.append(fd)
        if len(calls) == call:
            os.close(fd)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, mode)

    monkeypatch.setattr(purenet.io.writing.os, "fdopen", fdopen)


# --- several files that belong together: all replaced, or none ----------------------------------------


def test_atomic_write_all_replaces_none_when_one_cannot_be_written(tmp_path, monkeypatch):
    paths = [tmp_path / name for name in ("a", "b", "c")]
    for path in paths:
        path.write_bytes(b"old " + path.name.encode())
    failing_on(3, monkeypatch)
    with pytest.raises(OSError):
        atomic_write_all([(path, write_bytes(b"new")) for path in paths])
    assert [path.read_bytes() for path in paths] == [b"old a", b"old b", b"old c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]  # no temporary file left


def test_atomic_write_all_writes_through_links_and_keeps_modes(tmp_path):
    (tmp_path / "real").write_bytes(b"old")
    os.chmod(tmp_path / "real", 0o600)
    (tmp_path / "link").symlink_to("real")
    atomic_write_all([(tmp_path / "link", write_bytes(b"new")), (tmp_path / "other", write_bytes(b"x"))])
    assert (tmp_path / "link").is_symlink() and (tmp_path / "real").read_bytes() == b"new"
    assert (tmp_path / "real").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "other").read_bytes() == b"x"


@pytest.fixture
def few_test_images(tmp_path, mnist) -> Path:
    """An IDX folder with 40 test images: a report drawn in a second."""
    folder = tmp_path / "few"
    folder.mkdir()
    for prefix, split in (("train", mnist.train), ("t10k", mnist.test)):
        part = split.take(slice(0, 40))
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", part.images.reshape(-1, 28, 28))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", part.labels)
    return folder


def test_a_report_that_cannot_be_written_whole_replaces_no_picture(small_model, few_test_images, isolated, monkeypatch):
    pytest.importorskip("matplotlib")
    from purenet.cli.app import app

    (isolated / "R").mkdir()
    for name in PICTURES:  # an earlier report's pictures (with --force, any file may be replaced)
        (isolated / "R" / name).write_bytes(f"earlier {name}".encode())
    before = {name: (isolated / "R" / name).read_bytes() for name in PICTURES}
    failing_on(3, monkeypatch)  # the third picture meets a full disk
    result = CliRunner().invoke(app, ["evaluate", str(small_model), "--data", str(few_test_images), "--report", "R", "--force"])
    lines = result.stderr.splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "R" in lines[0] and "No space left" in lines[0], result.output
    assert {name: (isolated / "R" / name).read_bytes() for name in PICTURES} == before
    assert sorted(p.name for p in (isolated / "R").iterdir()) == sorted(PICTURES)


# --- stop signals ------------------------------------------------------------------------------------------


def test_a_stop_signal_caught_in_a_garbage_collector_callback_still_stops_the_command(capsys):
    """A handler that raises inside a weakref callback (matplotlib frees figures so) has its
    exception dropped by Python: the signal must reach the command all the same."""
    from purenet.cli.console import Terminated, signals_as_interrupts

    class Thing:
        pass

    def callback(_ref) -> None:
        signal.raise_signal(signal.SIGTERM)  # the handler runs at the next line: inside this callback
        sum(range(1000))

    with pytest.raises(Terminated) as stopped:
        with signals_as_interrupts():
            thing = Thing()
            ref = weakref.ref(thing, callback)  # noqa: F841 - kept alive so that its callback runs
            del thing
            gc.collect()
            for _ in range(10**7):  # the command's next steps: the signal must stop them
                pass
            pytest.fail("the signal was lost")
    assert stopped.value.signum == signal.SIGTERM
    assert "Traceback" not in capsys.readouterr().err


def test_once_the_console_scripts_command_is_over_a_stop_signal_is_ignored(monkeypatch):
    """The process only exits then: a late signal must not kill it silently on the way out."""
    from purenet.cli import console

    previous = {s: signal.getsignal(s) for s in console.SIGNAL_NAMES}
    monkeypatch.setattr(console._stop, "whole_process", True)
    try:
        with console.signals_as_interrupts():
            pass
        assert all(signal.getsignal(s) == signal.SIG_IGN for s in console.SIGNAL_NAMES)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


# --- mirrors --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mirror", ["file://elsewhere/tmp/", "file:relative/", "data:,hello", "ftp://127.0.0.1/", "http://",
                                    "https:///path", "mirror.example.org/mnist/"])
def test_a_mirror_that_is_not_a_web_address_or_a_local_folder_is_refused_before_anything_is_made(tmp_path, mirror):
    from purenet.data.download import DownloadError, download_mnist

    with pytest.raises(DownloadError, match="not an address a mirror can have"):
        download_mnist(tmp_path / "d", mirrors=[mirror])
    assert list(tmp_path.iterdir()) == []


# --- the state file --------------------------------------------------------------------------------------------


def test_the_state_file_is_never_rewritten_over_the_model_it_would_name(isolated):
    from purenet.cli.state import remember_model, state_file

    model = state_file()
    model.parent.mkdir(parents=True)
    model.write_bytes(b"a checkpoint written here by a script")
    remember_model(model)
    assert model.read_bytes() == b"a checkpoint written here by a script"
