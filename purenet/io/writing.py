"""Writing files so that nobody ever sees half of one.

    atomic_write(path, write)              create or replace ``path`` in one step (``overwrite=False``: create only)
    atomic_write_all([(path, write), ...]) several files together: none is replaced unless all could be written
    written_path(path)                     the file a write of ``path`` replaces: a link's target, the link kept
    fsync_folder(folder)                   flush a folder's entries, so that a rename in it survives a power loss
    temp_path(path) / TEMP_NAME            the temporary file a write of ``path`` fills, and the form of its name
    remove_stale_temps(path)               remove the temporary files of ``path`` that killed writers left

``atomic_write`` lets ``write`` fill a temporary file in the same folder, flushes
it to disk, renames it over ``path`` in one step (``os.replace``), then flushes
the folder itself, so that after a power loss the folder names either the old
file or the whole new one. If anything fails, or the process is interrupted, the
temporary file is removed and ``path`` keeps its old content (or stays absent).
A temporary file left by a process that was killed (``kill -9``) is removed by
the next write to the same path.

Whether a path may be written at all (not a user's own file, not an input) is
checked before any work by ``purenet.io.outputs``; one writer at a time is
``purenet.io.lock``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from pathlib import Path
from typing import BinaryIO, Callable, Sequence

from purenet.io.reading import file_kind


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None], *, overwrite: bool = True) -> Path:
    """Create or replace ``path`` with what ``write(handle)`` writes, atomically.

    With ``overwrite=False`` the file is only created: if ``path`` exists by the time the
    new file is complete, nothing is replaced and ``FileExistsError`` is raised. A new
    file's permissions follow the umask, as for any file a program creates; a replaced
    one keeps its own. A symbolic link is written through (``written_path``): the file
    it leads to is replaced, the link is kept. Returns the path given.
    """
    given = Path(path)
    path = written_path(given) if overwrite else given
    temp = _written_temp(path, write, keep_mode=overwrite)
    try:
        _move_into_place(temp, path, overwrite)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)
    return given


def atomic_write_all(writes: Sequence[tuple[str | os.PathLike, Callable[[BinaryIO], None]]]) -> list[Path]:
    """Create or replace several files together, as ``atomic_write`` does one: (path, write) each.

    Every file is first written whole to its temporary file and flushed to disk; only then
    are they renamed into place, one after the other (a rename needs no space). If writing
    any of them fails (a full disk, a quota, an interruption), none is replaced and no
    temporary file is left: a set of files that belong together (a report's pictures) is
    never left half old, half new. Returns the paths given.
    """
    targets = [written_path(path) for path, _ in writes]
    temps: list[Path] = []
    try:
        for target, (_, write) in zip(targets, writes):
            temps.append(_written_temp(target, write, keep_mode=True))
        for temp, target in zip(temps, targets):
            os.replace(temp, target)
    except BaseException:
        for temp in temps:
            temp.unlink(missing_ok=True)
        raise
    for folder in dict.fromkeys(target.parent for target in targets):
        fsync_folder(folder)
    return [Path(path) for path, _ in writes]


def written_path(path: str | os.PathLike) -> Path:
    """The file that writing ``path`` replaces: ``path``, or the file a symbolic link
    ``path`` leads to (through any chain of links), so that a user's link is kept and
    its target gets the new content. A broken link or a loop raises ``OSError``."""
    path = Path(path)
    if not os.path.islink(path):
        return path
    return Path(os.path.realpath(path, strict=True))


# --- the steps of a write -------------------------------------------------------------------------


def _written_temp(path: Path, write: Callable[[BinaryIO], None], *, keep_mode: bool) -> Path:
    """A temporary file beside ``path`` holding what ``write`` wrote, flushed to disk; with
    ``keep_mode``, the permission bits of the file at ``path``. Removed again if anything fails."""
    remove_stale_temps(path)
    temp = temp_path(path)
    try:  # from the creation on: a signal that arrives just after it still removes the file
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666: the umask decides
        with os.fdopen(fd, "wb") as handle:
            if keep_mode:
                _keep_mode(handle.fileno(), path)
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):  # never created, if a name too long or a full disk stopped it
            temp.unlink()
        raise
    return temp


def _keep_mode(fd: int, path: Path) -> None:
    """Give the new file the permission bits of the regular file it will replace, if any
    (replacing a private 0600 checkpoint must not leave a 0644 one). A folder, FIFO or
    device there is never replaced."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return  # nothing there yet: the umask decides
    if not stat.S_ISREG(status.st_mode):
        raise FileExistsError(errno.EEXIST, f"is {file_kind(status.st_mode)}, not replaced", str(path))
    os.fchmod(fd, stat.S_IMODE(status.st_mode))


def _move_into_place(temp: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temp, path)
        return
    try:
        os.link(temp, path)  # fails with FileExistsError instead of replacing: create-only, atomically
    except OSError as error:
        if error.errno in (errno.EEXIST,):
            raise
        if path.exists():  # a file system without hard links: check, then rename
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        os.replace(temp, path)
        return
    temp.unlink()


def fsync_folder(folder: str | os.PathLike) -> None:
    """Flush a folder's entries to disk, so a rename in it survives a power loss (POSIX only)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - Windows cannot open folders; nothing to do there
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems do not support it for folders
        pass
    finally:
        os.close(fd)


# --- temporary files, and those killed writers left ---------------------------------------------


TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$")
"""The form of a temporary file's name, ``.NAME.PID.RANDOM.tmp`` (``temp_path``)."""


def temp_path(path: Path) -> Path:
    """``.NAME.PID.RANDOM.tmp`` beside ``path``: hidden, ours by its form, its writer's pid inside."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove temporary files of ``path`` whose writing process no longer runs; return them."""
    path = Path(path)
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        match = TEMP_NAME.match(entry.name)
        if match and match["name"] == path.name and not _process_runs(int(match["pid"])):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _process_runs(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own temps from an earlier, failed write are stale too
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # it exists but is someone else's, or we cannot tell: leave it
    return True
