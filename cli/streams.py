"""stdout and stderr that cannot be written: one line and exit 74, never a traceback.

A command's output may have nowhere to go: ``> /dev/full`` (the disk is full), ``>&-``
(stdout closed), a pipe whose reader has gone (``| head -1``), ``2>&-`` (stderr closed).
The ``purenet`` console script guards both streams before any command runs
(``guard_output_streams``):

- a write to stdout that fails raises ``OutputFailed``, which ``PurenetGroup`` turns into
  one line on stderr, ``purenet: error: cannot write the output (stdout): REASON``, and
  exit code ``EXIT_IO_ERROR`` (74, ``EX_IOERR`` of sysexits.h); a pipe whose reader has
  gone is no error worth a line: exit 141, as for a tool that SIGPIPE stopped;
- a write to stderr that fails is dropped: there is nowhere left to say anything, and
  the exit code still tells;
- a stream closed when the program starts gets /dev/null on its file descriptor, so
  that no file purenet opens later takes descriptor 1 or 2 (where a library's stray
  write would land in it); writing stdout then fails as above (EBADF).

Once stdout has failed, its descriptor is pointed at /dev/null, so that what is still
buffered does not fail again when Python flushes it on exit.
"""

from __future__ import annotations

import errno
import io
import os
import sys

EXIT_IO_ERROR = 74
"""The output could not be written (``EX_IOERR``, sysexits.h)."""

EXIT_BROKEN_PIPE = 128 + 13
"""The reader of stdout went away: what a shell reports for a tool SIGPIPE stopped."""


class OutputFailed(BaseException):
    """Writing stdout failed (a BaseException, like KeyboardInterrupt: it stops the command
    through any ``except Exception``; cleanups that catch everything re-raise it)."""

    def __init__(self, stream: str, error: OSError) -> None:
        super().__init__(stream, error)
        self.stream, self.error = stream, error


class _Guarded:
    """A text stream whose failing writes raise ``OutputFailed`` (stdout) or are dropped (stderr)."""

    def __init__(self, stream, name: str, quiet: bool) -> None:
        self._stream, self._name, self._quiet = stream, name, quiet
        self._failed = False

    def write(self, text: str) -> int:
        return self._do(lambda: self._stream.write(text), len(text))

    def writelines(self, lines) -> None:
        self._do(lambda: self._stream.writelines(lines), None)

    def flush(self) -> None:
        self._do(self._stream.flush, None)

    def _do(self, action, dropped):
        if self._failed and self._quiet:
            return dropped
        try:
            return action()
        except OSError as error:
            if not self._quiet:
                raise OutputFailed(self._name, error) from None
            self._failed = True
            return dropped

    def __getattr__(self, name: str):  # isatty, encoding, fileno, buffer...: the stream's own
        return getattr(self._stream, name)


class _Closed(io.TextIOBase):
    """Stands for a stream closed when the program started: every write fails with EBADF."""

    encoding = "utf-8"

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))

    def isatty(self) -> bool:
        return False


def guard_output_streams() -> None:
    """Guard sys.stdout and sys.stderr for the rest of the process (the console script's start)."""
    sys.stdout = _Guarded(sys.stdout if _usable(1, sys.stdout) else _Closed("<stdout>"), "stdout", quiet=False)
    sys.stderr = _Guarded(sys.stderr if _usable(2, sys.stderr) else _Closed("<stderr>"), "stderr", quiet=True)


def _usable(fd: int, stream) -> bool:
    """Whether descriptor ``fd`` is open with ``stream`` on it; if it is closed, /dev/null takes it."""
    try:
        os.fstat(fd)
    except OSError:
        _point_at_devnull(fd)
        return False
    return stream is not None


def _point_at_devnull(fd: int) -> None:
    null = os.open(os.devnull, os.O_WRONLY)
    if null != fd:
        os.dup2(null, fd)
        os.close(null)


def output_failed(failure: OutputFailed) -> int:
    """The exit code for a failed write to stdout, after one line on stderr (none for a closed pipe)."""
    if isinstance(sys.stdout, _Guarded):  # the console script's own stdout (not a test's capture)
        _point_at_devnull(1)  # what is still buffered goes nowhere at exit, instead of failing again
    if failure.error.errno == errno.EPIPE:
        return EXIT_BROKEN_PIPE
    closed = failure.error.errno == errno.EBADF
    reason = "it is closed" if closed else failure.error.strerror or str(failure.error)
    print(f"purenet: error: cannot write the output ({failure.stream}): {reason}", file=sys.stderr, flush=True)
    return EXIT_IO_ERROR
