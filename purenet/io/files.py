"""Writing files so that nobody ever sees half of one, and nothing of the user's is replaced.

    atomic_write(path, write)              create or replace ``path`` in one step (``overwrite=False``: create only)
    atomic_write_all([(path, write), ...]) several files together: none is replaced unless all could be written
    written_path(path)                     the file a write of ``path`` replaces: a link's target, the link kept
    check_target(path, is_ours, force=...) refuse, before any work, a path whose file is not purenet's
    check_not_input(path, inputs)          refuse, before any work, an output that is (or is inside) an input
    check_folder_writable(folder)          refuse, before any work, a folder we could not write into
    OutputLock(path)                       an advisory lock held while a run writes ``path``
    make_folder(folder) / remove_made(...) create missing folders, and remove them again if the work fails
    open_regular(path, error_type)         open a file to read, refusing (never blocking on) a FIFO or device
    read_into(stream, array)               fill an array from a stream a chunk at a time; the bytes read

``atomic_write`` lets ``write`` fill a temporary file in the same folder, flushes
it to disk, renames it over ``path`` in one step (``os.replace``), then flushes
the folder itself, so that after a power loss the folder names either the old
file or the whole new one. If anything fails, or the process is interrupted, the
temporary file is removed and ``path`` keeps its old content (or stays absent).
A temporary file left by a process that was killed (``kill -9``) is removed by
the next write to the same path.

Nothing here prints: every refusal is a ``WriteRefused`` (a ``ValueError``) whose
message names the path and says what is wrong, in one line.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from pathlib import Path
from typing import IO, BinaryIO, Callable, Iterable, Optional, Sequence

try:  # advisory locks exist on POSIX systems; elsewhere OutputLock does nothing
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class WriteRefused(ValueError):
    """A path purenet was asked to write is not one it may write; the message says why."""


class OutputLocked(WriteRefused):
    """Another purenet process is writing the same path right now."""


# --- atomic writes --------------------------------------------------------------------


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


def _written_temp(path: Path, write: Callable[[BinaryIO], None], *, keep_mode: bool) -> Path:
    """A temporary file beside ``path`` holding what ``write`` wrote, flushed to disk; with
    ``keep_mode``, the permission bits of the file at ``path``. Removed again if anything fails."""
    remove_stale_temps(path)
    temp = _temp_path(path)
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


def written_path(path: str | os.PathLike) -> Path:
    """The file that writing ``path`` replaces: ``path``, or the file a symbolic link
    ``path`` leads to (through any chain of links), so that a user's link is kept and
    its target gets the new content. A broken link or a loop raises ``OSError``."""
    path = Path(path)
    if not os.path.islink(path):
        return path
    return Path(os.path.realpath(path, strict=True))


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


_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$")


def _temp_path(path: Path) -> Path:
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
        match = _TEMP.match(entry.name)
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


# --- checking a target before any work --------------------------------------------------


def check_target(path: str | os.PathLike, is_ours: Callable[[Path], bool], *, what: str, force: bool = False) -> Path:
    """Make sure writing ``path`` replaces nothing that is not purenet's; return ``path``.

    ``path`` may be absent (its folder must exist and be writable), or a regular file that
    ``is_ours(path)`` recognises as one purenet wrote (``what`` names the kind, for the
    message). ``force=True`` allows replacing any regular file, never a folder or a device.
    A symbolic link is judged by the file it leads to, which is what ``atomic_write``
    replaces (the link is kept); the folder checked for writing is that file's, with the
    very names the write will create there (a temporary file's name is longer than the
    file's own: a name the system finds too long is refused now, not after an epoch).
    """
    path = Path(path)
    if is_bookkeeping_name(path.name):
        raise WriteRefused(f"{path}: is named as purenet names its lock and temporary files (.NAME.lock, "
                           ".NAME.PID.RANDOM.tmp), which it replaces and removes; choose another name")
    try:
        status = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise WriteRefused(f"{path}: a broken symbolic link; remove it or choose another path") from None
        _check_names_fit(path, purpose=f"write {path.name}")
        return path
    except OSError as error:  # a name too long, a loop of links, a path through a file...
        raise WriteRefused(f"{path}: cannot write there ({error.strerror or error})") from None
    if stat.S_ISDIR(status.st_mode):
        raise WriteRefused(f"{path}: is a folder; give a file name")
    if not stat.S_ISREG(status.st_mode):
        raise WriteRefused(f"{path}: is not a regular file (a device, pipe or socket); purenet will not replace it")
    if not force and not is_ours(path):
        raise WriteRefused(f"{path}: exists and is not {what}; purenet will not replace it (choose another name, or add --force)")
    try:
        target = written_path(path)
    except OSError as error:  # the link changed meanwhile
        raise WriteRefused(f"{path}: cannot write there ({error.strerror or error})") from None
    _check_names_fit(target, purpose=f"replace {path.name}" if target == path else f"replace {target}, which {path} links to")
    return path


_LOCK_NAME = re.compile(r"^\..+\.lock$")
_PROBE_NAME = re.compile(r"^\.purenet-probe\.")


def is_bookkeeping_name(name: str) -> bool:
    """Whether ``name`` has the form of purenet's own lock, temporary or probe files: an output
    named so would be taken for one (a lock held over it, a stale temporary file removed)."""
    return any(pattern.match(name) for pattern in (_LOCK_NAME, _TEMP, _PROBE_NAME))


def _check_names_fit(path: Path, *, purpose: str) -> None:
    """``check_folder_writable`` of ``path``'s folder, probing with the name of ``path``'s
    own temporary file (the longest name a write of ``path`` creates, longer than its lock's)."""
    check_folder_writable(path.parent, purpose=purpose, probe_name=_temp_path(path).name)


def check_not_input(path: str | os.PathLike, inputs: Iterable[tuple[Optional[str | os.PathLike], str]], *, option: str) -> Path:
    """Refuse to write ``path`` if that would touch what the command reads; return ``path``.

    ``inputs`` are (path, what it is, e.g. "the training data"): a file is refused as the
    output itself (or through a link, or a hard link, to it), a folder together with
    everything inside it, existing or not, since a reader of the folder (a data set's
    loader) would see the new file, and everything its reader reaches by other names: a
    hard link to a file in it, the file or folder a link inside it leads to. ``--force`` never lifts this. ``option`` names the
    option to change in the message.
    """
    path = Path(path)
    written = os.path.realpath(path)
    for source, what in inputs:
        if source is None:
            continue
        if _is_or_holds(source, path, written):
            raise WriteRefused(f"{path}: is {what} ({source}) or inside it; purenet will not write there, "
                               f"even with --force (choose another {option})")
    return path


def _is_or_holds(source: str | os.PathLike, path: Path, written: str) -> bool:
    """Whether ``path`` (``written``: its real path) is the file ``source`` or lies in the folder ``source``."""
    real = os.path.realpath(source)
    if os.path.isdir(real):
        return written == real or written.startswith(real.rstrip(os.sep) + os.sep) or _reached_inside(real, path)
    if written == real:
        return True
    try:
        return os.path.samefile(path, source)  # a hard link to the input
    except (OSError, ValueError):
        return False


READ_DEPTH = 3
"""How deep a data set's loader reads into its folder (train/test class folders: ``train/3/x.png``)."""


def _reached_inside(folder: str, path: Path) -> bool:
    """Whether a reader of ``folder`` reaches ``path`` by other names: a hard link to a file in
    it, the file a link inside it leads to, or a folder holding ``path`` that a link inside it
    leads to. Looks as deep as ``READ_DEPTH``."""
    wanted_file = _identity(path)
    holders = {_identity(parent) for parent in Path(os.path.abspath(path)).parents} - {None}
    seen, level = {_identity(folder)}, [folder]
    for _ in range(READ_DEPTH):
        below = []
        for current in level:
            try:
                entries = list(os.scandir(current))
            except OSError:
                continue
            for entry in entries:
                try:
                    is_folder = entry.is_dir()  # follows a link, as the loaders do
                    if not is_folder and (wanted_file is None or not (entry.is_symlink() or entry.stat().st_nlink > 1)):
                        continue  # a file with one name, not a link: the path's own check covers it
                    found = entry.stat()
                except OSError:
                    continue
                found_id = (found.st_dev, found.st_ino)
                if found_id == wanted_file or (is_folder and found_id in holders):
                    return True
                if is_folder and found_id not in seen:
                    seen.add(found_id)
                    below.append(entry.path)
        level = below
    return False


def _identity(path: str | os.PathLike) -> Optional[tuple[int, int]]:
    """(device, inode) of what ``path`` leads to, None if nothing."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return None
    return status.st_dev, status.st_ino


def check_folder_writable(folder: str | os.PathLike, *, purpose: str = "write there", probe_name: str = "") -> Path:
    """Make sure a file can be created in ``folder``, by creating and removing one; return ``folder``.

    (Permission bits alone do not tell: a read-only file system, or an administrator.)
    ``probe_name``: the name to create (default ``.purenet-probe.PID.RANDOM.tmp``), to
    know that a name as long as the one to be written fits too.
    """
    folder = Path(folder)
    try:
        is_folder = stat.S_ISDIR(os.stat(folder).st_mode)
        reason = "is not a folder"
    except FileNotFoundError:
        is_folder, reason = False, "no such folder"
    except OSError as error:
        is_folder, reason = False, f"cannot be used ({error.strerror or error})"
    if not is_folder:
        raise WriteRefused(f"{folder}: {reason}, so purenet cannot {purpose}")
    probe = folder / (probe_name or f".purenet-probe.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as error:
        raise WriteRefused(f"{folder}: cannot {purpose} ({error.strerror or error})") from None
    finally:  # also when a signal interrupts: no probe is left behind
        with contextlib.suppress(OSError):  # never created (a name too long, a full disk)
            probe.unlink()
    return folder


# --- folders we create ------------------------------------------------------------------


def make_folder(folder: str | os.PathLike) -> list[Path]:
    """Create ``folder`` and any missing parents (permissions from the umask); return those
    created, deepest last, so that ``remove_made`` can take them away again."""
    folder = Path(folder)
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists() or candidate.is_symlink():
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as error:
            remove_made(missing[missing.index(candidate) + 1 :][::-1])
            raise WriteRefused(f"{candidate}: cannot create the folder ({error.strerror or error})") from None
    return list(reversed(missing))


def remove_made(folders: list[Path]) -> None:
    """Remove folders ``make_folder`` created, deepest first, where they are still empty."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()


# --- one writer at a time -----------------------------------------------------------------


_LOCK_TEXT = re.compile(r"^(purenet lock (?P<pid>\d+)\n?)?$")


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
        self.lock_path = target.with_name(f".{target.name}.lock")
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
                raise OutputLocked(f"{self.path}: another purenet run{who} is writing it; wait for it to finish or choose another {self.option}") from None
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


# --- reading without ever blocking ------------------------------------------------------------


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, in words: 'a regular file', 'a named pipe (FIFO)', 'a folder'..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def cannot_read(error: OSError) -> str:
    """The default wording of an ``OSError`` met while opening a file to read."""
    return f"cannot read ({error.strerror or error})"


def open_regular(
    path: str | os.PathLike, error_type: type[Exception] = ValueError, *, expected: str = "a regular file",
    problem: Optional[Callable[[OSError], str]] = None, empty: Optional[str] = None,
) -> BinaryIO:
    """Open ``path`` for reading in binary, only if it is a regular file (and not one under
    /dev or /proc, such as ``/dev/stdin`` redirected from a file: a device's place).

    Anything else (a folder, FIFO, socket or device) raises ``error_type("PATH: is a named
    pipe (FIFO), not EXPECTED")`` without being opened for reading, and the file is opened
    non-blocking and checked again, so that one swapped for a FIFO in between still cannot
    make the read wait forever for a writer. ``problem(error)`` words an ``OSError``
    (default ``cannot_read``); with ``empty``, an empty file raises ``error_type("PATH: EMPTY")``.
    """
    problem = problem or cannot_read
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise error_type(f"{path}: {problem(error)}") from None
    except ValueError as error:  # a NUL character in the name
        raise error_type(f"{path}: not a usable file name ({error})") from None
    if not stat.S_ISREG(mode):
        raise error_type(f"{path}: is {file_kind(mode)}, not {expected}")
    if _system_file(path):
        raise error_type(f"{path}: is a device or process file (under /dev or /proc, as /dev/stdin), not {expected}")
    try:
        handle = open(path, "rb", opener=_open_nonblocking)
    except OSError as error:
        raise error_type(f"{path}: {problem(error)}") from None
    try:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise error_type(f"{path}: is {file_kind(status.st_mode)}, not {expected}")
        if empty is not None and status.st_size == 0:
            raise error_type(f"{path}: {empty}")
        os.set_blocking(handle.fileno(), True)
    except OSError as error:
        handle.close()
        raise error_type(f"{path}: {problem(error)}") from None
    except BaseException:
        handle.close()
        raise
    return handle


_SYSTEM_FOLDERS = ("/dev/", "/proc/")
_SHARED_MEMORY = "/dev/shm/"  # an ordinary file system: its files are users' files


def _system_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is in, or leads by links into, /dev or /proc: a device, or a process's
    own file (``/dev/stdin`` is a regular file when the shell redirects one to it)."""
    current = os.path.abspath(path)
    try:
        for _ in range(40):  # as many links as the system follows
            folder = os.path.realpath(os.path.dirname(current))
            current = os.path.join(folder, os.path.basename(current))
            if current.startswith(_SYSTEM_FOLDERS) and not current.startswith(_SHARED_MEMORY):
                return True
            if not os.path.islink(current):
                return False
            current = os.path.join(folder, os.readlink(current))
    except (OSError, ValueError):
        return False
    return False


def _open_nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


READ_CHUNK = 1 << 20
"""Bytes read at a time by ``read_into``: large enough to be fast, small enough to stay cheap."""


def read_into(stream: IO[bytes], array) -> int:
    """Read ``stream`` into ``array``'s bytes until it is full or the stream ends; return the
    bytes read (fewer than ``array.nbytes``: the stream was short). No copy, no new array."""
    buffer = memoryview(array).cast("B")
    done = 0
    while done < len(buffer):
        got = stream.readinto(buffer[done : done + READ_CHUNK])
        if not got:
            break
        done += got
    return done
