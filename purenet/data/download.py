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
from typing import IO, Callable, Iterable, Iterator, Sequence

import attrs

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


@attrs.frozen
class RemoteFile:
    """One file a data set is fetched as, and what it must be to be kept.

    ``name`` is its name on the mirrors and in the folder. It is accepted when its bytes have
    the publisher's ``md5``, or (for a ``.gz``) when what it decompresses to has the recorded
    ``sha256`` (mirrors may recompress a file; its content is what counts). Where neither is
    known (KMNIST publishes no checksum), the decompressed size and the IDX header's shape must be
    ``content_size`` and ``idx_shape``. ``size`` is the published file's size in bytes, for display.
    """

    name: str
    md5: str | None = None
    sha256: str | None = None
    content_size: int | None = None
    idx_shape: tuple[int, ...] | None = attrs.field(default=None, converter=lambda shape: None if shape is None else tuple(shape))
    size: int | None = None

    @property
    def checked_by(self) -> str:
        """How a fetched copy is verified, in words."""
        sums = [what for what, known in (("the published MD5", self.md5), ("the SHA-256 of its content", self.sha256)) if known]
        if sums:
            return " or ".join(sums)
        return "its size and IDX header (no checksum is published)"


def mnist_remote_files() -> tuple[RemoteFile, ...]:
    """The four MNIST files as the mirrors have them, each checked by its content's SHA-256 (``SHA256``)."""
    return tuple(RemoteFile(f"{name}.gz", sha256=digest) for name, digest in SHA256.items())


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
    return download_files(folder, mnist_remote_files(), missing=_missing_mnist, mirrors=mirrors, progress=progress,
                          timeout=timeout, label="MNIST")


def _missing_mnist(folder: Path) -> list[RemoteFile]:
    lacking = set(missing_idx_files(folder))
    return [remote for remote in mnist_remote_files() if remote.name.removesuffix(".gz") in lacking]


def missing_files(folder: Path, files: Sequence[RemoteFile]) -> list[RemoteFile]:
    """Those of ``files`` that ``folder`` does not hold under their own name (anything by that name counts)."""
    return [remote for remote in files if not os.path.lexists(folder / remote.name)]


def download_files(
    folder: str | os.PathLike,
    files: Sequence[RemoteFile],
    *,
    mirrors: Iterable[str],
    missing: Callable[[Path], list[RemoteFile]] | None = None,
    progress: DownloadCallback | None = None,
    timeout: float = TIMEOUT,
    label: str = "data set",
) -> Path:
    """Fetch into ``folder`` (created if needed) those of ``files`` it lacks, each verified; return it.

    ``missing(folder)`` says which files are lacking (by default those not there under their
    own name); whatever is there is kept as it is. Each file is tried from every mirror in
    turn (``mirror + name``) and appears under its name only once verified (``RemoteFile``).
    ``label`` names the data set in messages. Raises ``DownloadError`` as ``download_mnist`` does.
    """
    folder, mirrors = Path(folder).expanduser(), tuple(mirrors)
    lacking = missing or (lambda where: missing_files(where, files))
    if folder.is_dir() and not lacking(folder):
        return folder  # nothing to write: a read-only folder that is complete is fine
    check_mirrors(mirrors)
    try:
        created = make_folder(folder)
    except WriteRefused as error:
        raise DownloadError(str(error)) from None
    fetched: list[str] = []
    try:
        for remote in _check_can_write(folder, lacking(folder), label):
            if remote not in lacking(folder):
                continue  # another process put it there meanwhile: it is present, so it is kept
            try:
                if _fetch(folder / remote.name, remote, mirrors, progress, timeout, label):
                    fetched.append(remote.name)
            except _NoMirror as failures:
                message = _failure_message(folder, remote, failures.args[0], fetched, lacking(folder), label)
                raise DownloadError(message) from None
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


def _check_can_write(folder: Path, missing: list[RemoteFile], label: str) -> list[RemoteFile]:
    """``missing``, after making sure each can be created in ``folder``; raise ``DownloadError`` if not."""
    try:
        check_folder_writable(folder, purpose=f"write the {label} files there")
    except WriteRefused as error:
        raise DownloadError(str(error)) from None
    for remote in missing:
        target = folder / remote.name
        if os.path.lexists(target):  # present in some form purenet cannot read as a file: not ours to replace
            raise DownloadError(
                f"{target}: is in the way (a folder, a broken link or a special file); "
                f"purenet will not replace it: move it away, or put the {label} file there yourself"
            )
    return missing


def _fetch(target: Path, remote: RemoteFile, mirrors: tuple[str, ...], progress: DownloadCallback | None, timeout: float,
           label: str) -> bool:
    """Create ``target`` from the first mirror that delivers it intact.

    Returns False when a file took its name meanwhile (kept: nothing is replaced); raises
    ``_NoMirror`` listing what each mirror did wrong, ``DownloadError`` if the folder fails us.
    """
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + target.name

        def write(out: IO[bytes], url: str = url) -> None:
            _stream(url, out, remote, progress, timeout, label)

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


def _stream(url: str, out: IO[bytes], remote: RemoteFile, progress: DownloadCallback | None, timeout: float,
            label: str) -> None:
    """Write the answer to ``url`` into ``out``; raise ``_Rejected`` unless it is ``remote`` (``verify``)."""
    _refuse_special_file(url)
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except (OSError, ValueError, http.client.HTTPException) as error:
        raise _Rejected(_reason(error)) from None
    with response:
        _check_room(out, _announced_size(response))
        problem = _verified(_received(response, out, remote.name, progress), remote, label)
    if problem:
        raise _Rejected(problem)


def verify(path: str | os.PathLike, remote: RemoteFile, label: str = "data set") -> str | None:
    """None when the file at ``path`` is ``remote`` as published (see ``RemoteFile``), else what is wrong, in words.

    The file is only read (a FIFO or device is refused, never opened).
    """
    try:
        with open_regular(path, OSError) as handle:
            return _verified(iter(lambda: handle.read(_BLOCK), b""), remote, label)
    except OSError as error:
        return f"cannot read it ({error.strerror or error})"


def _verified(blocks: Iterable[bytes], remote: RemoteFile, label: str) -> str | None:
    """Read all of ``blocks``; None when they are ``remote``'s file, else why not."""
    md5 = hashlib.md5(usedforsecurity=False) if remote.md5 else None
    content = _Content(remote) if remote.name.endswith(".gz") else None
    try:
        for block in blocks:
            if md5 is not None:
                md5.update(block)
            if content is not None:
                content.update(block)
        if content is not None:
            content.finish()
    except _Rejected as error:
        return str(error)
    if md5 is not None and md5.hexdigest() == remote.md5:
        return None
    if content is not None and remote.sha256 is not None and content.sha256.hexdigest() == remote.sha256:
        return None
    if remote.md5 or remote.sha256:
        return f"{'its bytes do' if content is None else 'its content does'} not match the {label} checksum"
    return content.problem() if content is not None else None


class _Content:
    """What a gzip stream decompresses to, seen a block at a time: its SHA-256, size and first bytes (the IDX header)."""

    def __init__(self, remote: RemoteFile) -> None:
        self.remote, self.sha256, self.size, self.head = remote, hashlib.sha256(), 0, b""
        self.unzip = zlib.decompressobj(wbits=31)  # 31: expect a gzip header and trailer

    def update(self, block: bytes) -> None:
        try:
            while block:
                if self.unzip.eof:  # another member follows, as gzip itself reads it
                    self.unzip = zlib.decompressobj(wbits=31)
                data = self.unzip.decompress(block)
                self.sha256.update(data)
                self.size += len(data)
                if len(self.head) < 64:
                    self.head += data[: 64 - len(self.head)]
                block = self.unzip.unused_data if self.unzip.eof else b""
        except zlib.error as error:
            raise _Rejected(f"not a valid gzip file: {error}") from None

    def finish(self) -> None:
        if not self.unzip.eof:
            raise _Rejected("the gzip stream ends early")

    def problem(self) -> str | None:
        """Without a checksum: whether the size and the IDX header are those expected."""
        expected = self.remote
        if expected.content_size is not None and self.size != expected.content_size:
            return f"it decompresses to {counted(self.size, 'byte')}, not {expected.content_size:,}"
        if expected.idx_shape is not None:
            ndim = len(expected.idx_shape)
            head = self.head[: 4 + 4 * ndim]
            wanted = bytes([0, 0, 8, ndim]) + b"".join(n.to_bytes(4, "big") for n in expected.idx_shape)
            if head != wanted:
                return f"its IDX header is not that of shape {expected.idx_shape}"
        return None


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


def _failure_message(folder: Path, remote: RemoteFile, failures: list[str], fetched: list[str], lacking: list[RemoteFile],
                     label: str) -> str:
    target = folder / remote.name
    names = ", ".join(missing.name for missing in lacking)
    kept = f"Kept what this run fetched, complete and verified: {', '.join(fetched)}. " if fetched else ""
    return (
        f"{target}: could not download it from any mirror: {'; '.join(failures) or 'no mirror given'}. {kept}"
        f"Offline? Copy the {label} files still missing ({names}) into {folder}, "
        "or point --data at a folder that holds them."
    )
