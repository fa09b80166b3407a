"""One writer at a time: the advisory lock a run holds on its output.

    OutputLock(path, option="--out")   ``with OutputLock(path):`` while a run writes ``path``
    OutputLocked                        what a second run asking for the same path gets, at once

The lock file is ``.NAME.lock`` beside the output (``purenet.io.outputs.lock_path``,
where purenet's other own names are too). Nothing here prints: a refusal is a
``WriteRefused`` (``OutputLocked`` is one) whose message names the path.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from pathlib import Path

from purenet.io.outputs import WriteRefused, lock_path
from purenet.io.reading import file_kind
from purenet.io.writing import written_path

try:  # advisory locks exist on POSIX systems; elsewhere OutputLock does nothing
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class OutputLocked(WriteRefused):
    """Another purenet process is writing the same path right now."""


_LOCK_TEXT = re.compile(r"^(purenet lock (?P<pid>\d+)\n?)?$")
"""What a lock file holds: its holder's pid, or nothing yet (just created)."""


class OutputLock:
    """An advisory lock on ``path`` for as long as a run writes it, in ``.NAME.lock`` beside it.

    A second process asking for the same path gets ``OutputLocked`` at once. The lock is
    taken on the file ``path`` really names (``written_path``: a symbolic link's target),
    so two runs reaching one file by different names see the same lock. The lock file is
    removed on release; one left by a killed process holds no lock (the kernel releases
    a ``flock`` with its holder) and is reused. The lock file is never followed if it is
    a link, never opened if it is a FIFO or device, and never anything but a regular
    file holding ``purenet lock PID``; a lock file this run created is removed again if
    taking the lock fails (a full disk, say). (``flock`` locks: on POSIX systems;
    elsewhere the lock does nothing.)
    """

    def __init__(self, path: str | os.PathLike, option: str = "--out") -> None:
        self.path = Path(path)
        self.option = option  # how the user named the path, for the message
        try:
            target = written_path(self.path)
        except OSError:  # a broken link or a loop: check_target refuses those; lock the name itself
            target = self.path
        self.lock_path = lock_path(target)
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        if fcntl is not None:
            self._fd = self._acquire()
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            if self._still_linked(self._fd):  # never remove a file that took its name meanwhile
                with contextlib.suppress(OSError):
                    os.unlink(self.lock_path)
            os.close(self._fd)
            self._fd = None

    def _acquire(self) -> int:
        while True:
            fd, created = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self._holder(fd)
                os.close(fd)
                who = f" (process {holder})" if holder else ""
                raise OutputLocked(f"{self.path}: another purenet run{who} is writing it; "
                                   f"wait for it to finish or choose another {self.option}") from None
            except OSError as error:  # a file system without locks (ENOLCK): say so, leave nothing
                self._give_up(fd, created)
                raise WriteRefused(f"{self.lock_path}: cannot lock it ({error.strerror or error})") from None
            if not self._still_linked(fd):
                os.close(fd)  # the holder removed the file as we opened it: take the new one
                continue
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"purenet lock {os.getpid()}\n".encode())
            except OSError as error:  # a full disk, a quota: give back what this run made
                self._give_up(fd, created)
                raise WriteRefused(f"{self.lock_path}: cannot write the lock file ({error.strerror or error})") from None
            return fd

    def _open(self) -> tuple[int, bool]:
        """The lock file, opened read-write: (its descriptor, whether this call created it)."""
        flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
        while True:
            try:
                return os.open(self.lock_path, flags | os.O_CREAT | os.O_EXCL, 0o666), True
            except FileExistsError:
                pass
            except OSError as error:
                raise self._refused(error) from None
            try:
                fd = os.open(self.lock_path, flags)
            except FileNotFoundError:
                continue  # removed by its holder in between: create it
            except OSError as error:
                raise self._refused(error) from None
            self._check_ours(fd)
            return fd, False

    def _refused(self, error: OSError) -> WriteRefused:
        if os.path.islink(self.lock_path):
            return WriteRefused(f"{self.lock_path}: is a symbolic link, not a purenet lock file; purenet will not follow it")
        return WriteRefused(f"{self.lock_path}: cannot create the lock file ({error.strerror or error})")

    def _check_ours(self, fd: int) -> None:
        """Close ``fd`` and refuse unless it is a regular file with one name holding a purenet lock's text."""
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                problem = f"is {file_kind(status.st_mode)}, not a purenet lock file"
            elif status.st_nlink > 1:
                problem = "has other names (hard links), so it is not a purenet lock file"
            elif not _LOCK_TEXT.match(os.pread(fd, 64, 0).decode(errors="replace")):
                problem = "exists and is not a purenet lock file"
            else:
                return
        except OSError as error:
            problem = f"cannot be read ({error.strerror or error})"
        os.close(fd)
        raise WriteRefused(f"{self.lock_path}: {problem}; purenet will not touch it")

    def _give_up(self, fd: int, created: bool) -> None:
        if created and self._still_linked(fd):
            with contextlib.suppress(OSError):
                os.unlink(self.lock_path)
        os.close(fd)

    def _holder(self, fd: int) -> str:
        try:
            match = _LOCK_TEXT.match(os.pread(fd, 64, 0).decode(errors="replace"))
        except OSError:
            return ""
        return match["pid"] if match and match["pid"] else ""

    def _still_linked(self, fd: int) -> bool:
        try:
            on_disk = os.lstat(self.lock_path)
        except OSError:
            return False
        mine = os.fstat(fd)
        return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)
