"""Fetching the MNIST files a folder lacks from public mirrors, verified; nothing else touched.

    ensure_mnist(folder)                       -> folder, downloading only if files are missing
    download_mnist(folder, mirrors=MIRRORS)    -> folder, after fetching the files it lacked
    mnist_files(folder)                        -> {standard name: the file purenet reads} for those present
    matches_mnist(path, name)                  -> whether a file's content is MNIST's published one

A file counts as present when the folder holds it under any naming purenet reads
(``-idx`` or ``.idx``, raw or ``.gz``), whatever its content: it is then never
verified-and-replaced, opened for writing, or deleted (a Fashion-MNIST folder uses
the same names). Only the missing files are fetched, each as ``name.gz`` through
``purenet.io.writing.atomic_write(..., overwrite=False)``: the response streams into a
temporary file beside its final name while its *decompressed* bytes are hashed, and
the file appears under its name only when that SHA-256 matches the canonical one
(and only if no file took the name meanwhile). Mirrors may recompress the files, so
the gzip bytes are never trusted, only their content. New files and folders get
their permissions from the umask.

If the run ends without every file (no mirror delivered one, an error, Ctrl-C), no
temporary file is left, the folders it created are removed where still empty, and
the files it did fetch, complete and verified, are kept for the next run.

Nothing is printed: progress goes to an optional callback, a ``DownloadCallback``:
``progress(file_name, bytes_done, bytes_total_or_None)``, called with 0 bytes done
when a mirror starts sending a file, then after every block received.

>>> folder = ensure_mnist("data/mnist")                         # doctest: +SKIP
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import stat
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator

from purenet.base.words import counted
from purenet.data import DataError, missing_idx_files
from purenet.data.idx import IDX_NAMES
from purenet.io.outputs import WriteRefused, check_folder_writable, make_folder, remove_made
from purenet.io.reading import file_kind, open_regular
from purenet.io.writing import atomic_write

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
"""Public MNIST mirrors, tried in this order for each file."""

SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
"""SHA-256 of each file's decompressed (canonical IDX) content; the files are fetched as ``name.gz``."""

TIMEOUT = 30.0
"""Seconds to wait for a mirror to connect or to send the next block."""

_BLOCK = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"

DownloadCallback = Callable[[str, int, "int | None"], None]
"""``progress(file_name, bytes_done, bytes_total_or_None)``: how far the download of one
file has got, in bytes (the total is None when the server does not say). Called with 0
bytes done when a mirror starts sending the file (again if a later mirror is tried),
then after every block."""


class DownloadError(DataError):
    """A file could not be fetched, or the folder cannot take it; the message says which and why."""


class _Rejected(Exception):
    """A mirror's answer did not arrive whole, or is not the right file."""


class _NoMirror(Exception):
    """Every mirror was tried for one file; ``args[0]`` lists what each one did wrong."""


def ensure_mnist(
    folder: str | os.PathLike, progress: DownloadCallback | None = None, *, mirrors: Iterable[str] = MIRRORS
) -> Path:
    """Make sure ``folder`` holds the four MNIST files (any naming, raw or .gz), fetching those
    it lacks; return it. The one function purenet uses for that (``purenet.runs.run`` for the default
    folder, ``purenet download`` and ``purenet train``, which show its progress)."""
    folder = Path(folder).expanduser()
    if has_mnist(folder):
        return folder
    return download_mnist(folder, mirrors=mirrors, progress=progress)


def has_mnist(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds all four MNIST files, under any naming purenet reads, raw or .gz."""
    folder = Path(folder).expanduser()
    return os.path.isdir(folder) and not missing_idx_files(folder)


def download_mnist(
    folder: str | os.PathLike,
    *,
    mirrors: Iterable[str] = MIRRORS,
    progress: DownloadCallback | None = None,
    timeout: float = TIMEOUT,
) -> Path:
    """Fetch into ``folder`` (created if needed) the MNIST files it lacks, as verified ``.gz`` files; return it.

    Files already there, under any naming purenet reads, are kept as they are, whatever
    their content. For each missing file every mirror is tried in turn. Raises
    ``DownloadError`` before any network access when a mirror is not an http(s) address
    (``check_mirrors``), when ``folder`` is not a folder or cannot be written, and when
    no mirror delivers a file intact.
    """
    folder, mirrors = Path(folder).expanduser(), tuple(mirrors)
    if folder.is_dir() and not missing_idx_files(folder):
        return folder  # nothing to write: a read-only folder that is complete is fine
    check_mirrors(mirrors)
    try:
        created = make_folder(folder)
    except WriteRefused as error:
        raise DownloadError(str(error)) from None
    fetched: list[str] = []
    try:
        missing = _check_can_write(folder)
        for name in missing:
            if name not in missing_idx_files(folder):
                continue  # another process put it there meanwhile: it is present, so it is kept
            try:
                if _fetch(folder / f"{name}.gz", SHA256[name], mirrors, progress, timeout):
                    fetched.append(name)
            except _NoMirror as failures:
                raise DownloadError(_failure_message(folder, name, failures.args[0], fetched)) from None
    except BaseException:  # no mirror, Ctrl-C, anything: take back the folders this run made, if still empty
        remove_made(created)
        raise
    return folder


WEB_SCHEMES = ("http", "https")
"""The schemes of a mirror on the network (with a host); besides them, a ``file:`` URL of a
folder on this machine. Others (``data:``, ``ftp:``) answer in ways the download does not expect."""


def check_mirrors(mirrors: Iterable[str]) -> None:
    """Raise ``DownloadError`` naming the first mirror that is neither an http(s) address with
    a host nor a ``file:`` URL of a local folder (whose files are checked as they are read:
    a FIFO or device there is refused, never opened)."""
    for mirror in mirrors:
        try:
            parts = urllib.parse.urlsplit(mirror)
            scheme = parts.scheme.lower()
            usable = (scheme in WEB_SCHEMES and bool(parts.hostname)) or (
                scheme == "file" and parts.hostname in (None, "localhost") and parts.path.startswith("/"))
        except ValueError:  # a port that is no number, a bracket left open...
            usable = False
        if not usable:
            raise DownloadError(f"{mirror}: not an address a mirror can have; give a web address such as "
                                f"{MIRRORS[0]} or a folder as file:///path/to/folder/")


def mnist_files(folder: str | os.PathLike) -> dict[str, Path]:
    """The MNIST files ``folder`` holds, as purenet reads them: standard name -> file, for those present."""
    folder = Path(folder).expanduser()
    if not os.path.isdir(folder):  # os.path: False, never an error, for a name the system refuses
        return {}
    missing = set(missing_idx_files(folder))
    found = {}
    for names in IDX_NAMES.values():
        if names[0] in missing:
            continue
        for candidate in (path for name in names for path in (folder / name, folder / f"{name}.gz")):
            if candidate.is_file():
                found[names[0]] = candidate
                break
    return found


def matches_mnist(path: str | os.PathLike, name: str) -> bool:
    """Whether ``path`` (raw or gzipped, told by its first bytes) holds MNIST's published ``name``.

    False also when the file cannot be read or its gzip stream is damaged. The file is only read.
    """
    try:
        with open_regular(path, OSError) as handle:  # a FIFO or device is never opened
            gzipped = handle.read(2) == _GZIP_MAGIC
            handle.seek(0)
            blocks = iter(lambda: handle.read(_BLOCK), b"")
            if gzipped:
                return _gunzipped_sha256(blocks) == SHA256[name]
            digest = hashlib.sha256()
            for block in blocks:
                digest.update(block)
            return digest.hexdigest() == SHA256[name]
    except (OSError, _Rejected):
        return False


def _check_can_write(folder: Path) -> list[str]:
    """The files ``folder`` lacks, after making sure each can be created there; raise ``DownloadError`` if not."""
    try:
        check_folder_writable(folder, purpose="write the MNIST files there")
    except WriteRefused as error:
        raise DownloadError(str(error)) from None
    missing = missing_idx_files(folder)
    for name in missing:
        target = folder / f"{name}.gz"
        if os.path.lexists(target):  # present in some form purenet cannot read as a file: not ours to replace
            raise DownloadError(
                f"{target}: is in the way (a folder, a broken link or a special file); "
                "purenet will not replace it: move it away, or put the MNIST file there yourself"
            )
    return missing


def _fetch(target: Path, digest: str, mirrors: tuple[str, ...], progress: DownloadCallback | None, timeout: float) -> bool:
    """Create ``target`` from the first mirror that delivers it intact.

    Returns False when a file took its name meanwhile (kept: nothing is replaced); raises
    ``_NoMirror`` listing what each mirror did wrong, ``DownloadError`` if the folder fails us.
    """
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + target.name

        def write(out: IO[bytes], url: str = url) -> None:
            _stream(url, out, target.name, digest, progress, timeout)

        try:
            atomic_write(target, write, overwrite=False)
            return True
        except _Rejected as error:  # the mirror's fault; atomic_write removed the temporary file
            failures.append(f"{url} ({error})")
        except FileExistsError:
            if target.is_file():
                return False
            raise DownloadError(f"{target}: appeared while downloading and is not a file; purenet will not replace it") from None
        except OSError as error:  # our folder is at fault, not the mirror: trying others would not help
            raise DownloadError(f"{target}: cannot write it ({error.strerror or error})") from None
    raise _NoMirror(failures)


def _stream(url: str, out: IO[bytes], name: str, digest: str, progress: DownloadCallback | None, timeout: float) -> None:
    """Write the answer to ``url`` into ``out``; raise ``_Rejected`` unless its content has the SHA-256 ``digest``."""
    _refuse_special_file(url)
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except (OSError, ValueError, http.client.HTTPException) as error:
        raise _Rejected(_reason(error)) from None
    with response:
        _check_room(out, _announced_size(response))
        got = _gunzipped_sha256(_received(response, out, name, progress))
    if got != digest:
        raise _Rejected("its content does not match the MNIST checksum")


def _check_room(out: IO[bytes], size: int | None) -> None:
    """Raise ENOSPC before the first byte when the file system of ``out`` has less room than
    the ``size`` the server announced: a full disk is said at once, not after megabytes."""
    try:
        status = os.fstatvfs(out.fileno())
    except (OSError, AttributeError, ValueError):  # not a real file, or a system without statvfs
        return
    free = status.f_bavail * status.f_frsize
    if size and free < size:
        raise OSError(errno.ENOSPC, f"No space left on device: {size / 1e6:.1f} MB to write, {free / 1e6:.1f} MB free")


def _received(response, out: IO[bytes], name: str, progress: DownloadCallback | None) -> Iterator[bytes]:
    """The blocks of an HTTP response, each written to ``out`` and reported before it is yielded.

    Errors of the connection become ``_Rejected``; errors writing ``out`` pass through as they are.
    """
    total = _announced_size(response)
    done = 0
    if progress:
        progress(name, 0, total)
    while True:
        try:
            block = response.read(_BLOCK)
        except (OSError, http.client.HTTPException) as error:
            raise _Rejected(_reason(error)) from None
        if not block:
            break
        out.write(block)
        done += len(block)
        if progress:
            progress(name, done, total)
        yield block
    if total is not None and done < total:  # http.client stops quietly when a server hangs up early
        raise _Rejected(f"the connection closed after {done} of {counted(total, 'byte')}")


def _announced_size(response) -> int | None:
    """The bytes an answer announces (its Content-Length), or None when it says nothing.

    An HTTP answer is ``http.client``'s response, whose ``length`` is the announced
    size before any read; a ``file://`` mirror's is a plain file with headers only.
    """
    if isinstance(response, http.client.HTTPResponse):
        return response.length
    announced = (response.headers.get("Content-Length") or "").strip()
    return int(announced) if announced.isdigit() else None


def _refuse_special_file(url: str) -> None:
    """A ``file://`` mirror's file must be a regular file: a FIFO or a device would block the read forever."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "file":
        return
    try:
        mode = os.stat(urllib.request.url2pathname(parts.path)).st_mode
    except (OSError, ValueError):
        return  # urlopen says what is wrong (no such file...)
    if not stat.S_ISREG(mode):
        raise _Rejected(f"is {file_kind(mode)}, not a file")


def _gunzipped_sha256(blocks: Iterable[bytes]) -> str:
    """The SHA-256 (hex) of what a gzip stream (one or more members), given as blocks, decompresses to."""
    unzip = zlib.decompressobj(wbits=31)  # 31: expect a gzip header and trailer
    digest = hashlib.sha256()
    try:
        for block in blocks:
            while block:
                if unzip.eof:  # another member follows, as gzip itself reads it
                    unzip = zlib.decompressobj(wbits=31)
                digest.update(unzip.decompress(block))
                block = unzip.unused_data if unzip.eof else b""
    except zlib.error as error:
        raise _Rejected(f"not a valid gzip file: {error}") from None
    if not unzip.eof:
        raise _Rejected("the gzip stream ends early")
    return digest.hexdigest()


def _reason(error: Exception) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        if isinstance(error.reason, OSError) and error.reason.filename is not None:  # a file:// mirror
            return f"cannot read it: {error.reason.strerror or error.reason}"
        return f"cannot connect: {error.reason}"
    if isinstance(error, http.client.IncompleteRead):
        return f"the connection closed after {counted(len(error.partial), 'byte')}"
    return str(error) or type(error).__name__


def _failure_message(folder: Path, name: str, failures: list[str], fetched: list[str]) -> str:
    target = folder / f"{name}.gz"
    lacking = ", ".join(f"{missing}.gz" for missing in missing_idx_files(folder))
    kept = f"Kept what this run fetched, complete and verified: {', '.join(f'{n}.gz' for n in fetched)}. " if fetched else ""
    return (
        f"{target}: could not download it from any mirror: {'; '.join(failures) or 'no mirror given'}. {kept}"
        f"Offline? Copy the MNIST files still missing ({lacking}) into {folder}, "
        "or point --data at a folder that holds them."
    )
