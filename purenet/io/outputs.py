"""Checking an output path before any work, and the folders made for one.

    WriteRefused                           the one refusal: a ``ValueError`` whose message names the path
    check_target(path, is_ours, force=...) refuse a path whose file is not purenet's
    check_not_input(path, inputs)          refuse an output that is (or is inside) an input
    check_folder_writable(folder)          refuse a folder we could not write into
    make_folder(folder) / remove_made(...) create missing folders, and remove them again if the work fails
    lock_path(target)                      ``.NAME.lock``: the lock file beside an output (``purenet.io.lock``)
    is_bookkeeping_name(name)              whether a name has the form of purenet's lock, temporary or probe files

A command checks its outputs with these before an epoch is spent, so that a run
never ends in "cannot write": nothing of the user's is replaced, nothing it reads
is written over, and a folder that refuses a file says so at once. The write
itself is ``purenet.io.writing.atomic_write``.

Nothing here prints: every refusal is a ``WriteRefused`` whose message names the
path and says what is wrong, in one line.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Callable, Iterable, Optional

from purenet.io.writing import TEMP_NAME, temp_path, written_path


class WriteRefused(ValueError):
    """A path purenet was asked to write is not one it may write; the message says why."""


# --- a file purenet may replace -------------------------------------------------------------------


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


def _check_names_fit(path: Path, *, purpose: str) -> None:
    """``check_folder_writable`` of ``path``'s folder, probing with the name of ``path``'s
    own temporary file (the longest name a write of ``path`` creates, longer than its lock's)."""
    check_folder_writable(path.parent, purpose=purpose, probe_name=temp_path(path).name)


# --- never an input -----------------------------------------------------------------------------------


def check_not_input(path: str | os.PathLike, inputs: Iterable[tuple[Optional[str | os.PathLike], str]], *, option: str) -> Path:
    """Refuse to write ``path`` if that would touch what the command reads; return ``path``.

    ``inputs`` are (path, what it is, e.g. "the training data"): a file is refused as the
    output itself (or through a link, or a hard link, to it), a folder together with
    everything inside it, existing or not, since a reader of the folder (a data set's
    loader) would see the new file, and everything its reader reaches by other names: a
    hard link to a file in it, the file or folder a link inside it leads to. ``--force``
    never lifts this. ``option`` names the option to change in the message.
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


# --- a folder we can write into, and the folders we make ------------------------------------------


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
    probe = folder / (probe_name or _probe_name())
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as error:
        raise WriteRefused(f"{folder}: cannot {purpose} ({error.strerror or error})") from None
    finally:  # also when a signal interrupts: no probe is left behind
        with contextlib.suppress(OSError):  # never created (a name too long, a full disk)
            probe.unlink()
    return folder


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


# --- purenet's own files beside an output ---------------------------------------------------------


_LOCK_NAME = re.compile(r"^\..+\.lock$")
_PROBE_NAME = re.compile(r"^\.purenet-probe\.")


def lock_path(target: Path) -> Path:
    """``.NAME.lock`` beside ``target``: the file ``OutputLock`` holds while a run writes ``target``."""
    return target.with_name(f".{target.name}.lock")


def _probe_name() -> str:
    """``.purenet-probe.PID.RANDOM.tmp``: the file ``check_folder_writable`` creates and removes."""
    return f".purenet-probe.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def is_bookkeeping_name(name: str) -> bool:
    """Whether ``name`` has the form of purenet's own lock, temporary or probe files: an output
    named so would be taken for one (a lock held over it, a stale temporary file removed)."""
    return any(pattern.match(name) for pattern in (_LOCK_NAME, TEMP_NAME, _PROBE_NAME))
