"""Writing files: atomic writes, stale temps (io.writing); target checks, folders we make (io.outputs); the lock (io.lock)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from purenet.io.lock import OutputLock, OutputLocked
from purenet.io.outputs import WriteRefused, check_folder_writable, check_target, make_folder, remove_made
from purenet.io.writing import atomic_write, remove_stale_temps


def write_bytes(data: bytes):
    return lambda handle: handle.write(data)


def test_atomic_write_creates_and_replaces(tmp_path):
    path = tmp_path / "f.bin"
    atomic_write(path, write_bytes(b"one"))
    atomic_write(path, write_bytes(b"two"))
    assert path.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_create_only_never_replaces(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        atomic_write(path, write_bytes(b"theirs"), overwrite=False)
    assert path.read_bytes() == b"mine"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_a_failing_writer_leaves_nothing(tmp_path):
    path = tmp_path / "f.bin"

    def boom(handle):
        handle.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, boom)
    assert list(tmp_path.iterdir()) == []


def test_new_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "f.bin", write_bytes(b"x"))
        made = make_folder(tmp_path / "a" / "b")
    finally:
        os.umask(old)
    assert (tmp_path / "f.bin").stat().st_mode & 0o777 == 0o640
    assert [p.stat().st_mode & 0o777 for p in made] == [0o750, 0o750]


def test_temps_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    path = tmp_path / "model.npz"
    # a writer that dies (os._exit, as kill -9 would) with its temp file in place
    script = textwrap.dedent(f"""
        import os
        from purenet.io.writing import atomic_write
        def die(handle):
            handle.write(b"partial")
            os._exit(9)
        atomic_write({str(path)!r}, die)
    """)
    assert subprocess.run([sys.executable, "-c", script]).returncode == 9
    stale = [p.name for p in tmp_path.iterdir()]
    assert len(stale) == 1 and stale[0].startswith(".model.npz.") and stale[0].endswith(".tmp")
    unrelated = tmp_path / ".model.npz.notes.tmp"  # not of our naming: never touched
    unrelated.write_bytes(b"keep")
    atomic_write(path, write_bytes(b"whole"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.npz.notes.tmp", "model.npz"]


def test_temps_of_a_running_writer_are_kept(tmp_path):
    path = tmp_path / "model.npz"
    alive = tmp_path / f".model.npz.{os.getppid()}.0123abcd.tmp"  # our parent process runs
    alive.write_bytes(b"busy")
    assert remove_stale_temps(path) == []
    assert alive.exists()


def test_check_target_allows_new_files_and_our_own(tmp_path):
    assert check_target(tmp_path / "new.npz", lambda p: False, what="ours") == tmp_path / "new.npz"
    ours = tmp_path / "ours.npz"
    ours.write_bytes(b"x")
    assert check_target(ours, lambda p: True, what="ours") == ours


@pytest.mark.parametrize("force", [False, True])
def test_check_target_refuses_what_is_not_ours(tmp_path, force):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    if force:
        assert check_target(notes, lambda p: False, what="ours", force=True) == notes
    else:
        with pytest.raises(WriteRefused, match="notes.txt: exists and is not ours"):
            check_target(notes, lambda p: False, what="ours")
    with pytest.raises(WriteRefused, match="is a folder"):
        check_target(tmp_path, lambda p: True, what="ours", force=force)


def test_check_target_refuses_special_files_and_missing_folders(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(WriteRefused, match="not a regular file"):
        check_target(fifo, lambda p: True, what="ours", force=True)
    with pytest.raises(WriteRefused, match="no such folder"):
        check_target(tmp_path / "nowhere" / "m.npz", lambda p: True, what="ours")
    (tmp_path / "broken").symlink_to(tmp_path / "gone")
    with pytest.raises(WriteRefused, match="broken symbolic link"):
        check_target(tmp_path / "broken", lambda p: True, what="ours")


def test_check_folder_writable_leaves_nothing_behind(tmp_path):
    check_folder_writable(tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(WriteRefused, match="no such folder"):
        check_folder_writable(tmp_path / "absent")


def test_remove_made_takes_away_only_empty_folders_it_made(tmp_path):
    made = make_folder(tmp_path / "a" / "b" / "c")
    assert [p.relative_to(tmp_path).as_posix() for p in made] == ["a", "a/b", "a/b/c"]
    (tmp_path / "a" / "keep.txt").write_text("a file arrived meanwhile")
    remove_made(made)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["a", "a/keep.txt"]


def test_the_lock_refuses_a_second_writer_and_is_reusable(tmp_path):
    path = tmp_path / "m.npz"
    with OutputLock(path):
        with pytest.raises(OutputLocked, match="another purenet run"):
            with OutputLock(path):
                pass
    assert list(tmp_path.iterdir()) == []  # released: its file is gone
    with OutputLock(path):
        pass


def test_the_lock_of_a_killed_process_is_free(tmp_path):
    path = tmp_path / "m.npz"
    script = f"import os; from purenet.io.lock import OutputLock; OutputLock({str(path)!r}).__enter__(); os._exit(0)"
    assert subprocess.run([sys.executable, "-c", script]).returncode == 0
    assert (tmp_path / ".m.npz.lock").exists()  # left behind, but holding no lock
    with OutputLock(path):
        pass
    assert list(tmp_path.iterdir()) == []


def test_the_lock_never_touches_a_foreign_file_of_its_name(tmp_path):
    foreign = tmp_path / ".m.npz.lock"
    foreign.write_text("my own notes")
    with pytest.raises(WriteRefused, match="not a purenet lock file"):
        with OutputLock(tmp_path / "m.npz"):
            pass
    assert foreign.read_text() == "my own notes"
