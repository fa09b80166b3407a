"""Opening a user's file to read without ever blocking on it, and reading it into an array.

    open_regular(path, error_type)   open a file to read, refusing (never blocking on) a FIFO or device
    file_kind(mode)                  what a ``st_mode`` is, in words: 'a named pipe (FIFO)', 'a folder'...
    cannot_read(error)               the default wording of an ``OSError`` met while opening a file
    read_into(stream, array)         fill an array from a stream a chunk at a time; the bytes read

A path the user gives may name a FIFO (a read waits for a writer forever), a device
(``/dev/zero`` never ends) or a folder: ``open_regular`` refuses each with one message
in the caller's own error class, before anything is read.
"""

from __future__ import annotations

import os
import stat
from typing import IO, BinaryIO, Callable, Optional


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


# --- the words of a refusal -------------------------------------------------------------------


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


# --- reading into an array ----------------------------------------------------------------------


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
