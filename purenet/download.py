"""Fetching MNIST's four files from public mirrors, verified, never half-written.

    ensure_mnist(folder)                       -> folder, downloading only if files are missing
    download_mnist(folder, mirrors=MIRRORS)    -> folder, holding the four verified .gz files

Each file is streamed into a temporary file beside its final name while its
*decompressed* bytes are hashed; only when that SHA-256 matches the canonical
one is the file renamed into place (``os.replace``, atomic). Mirrors may
recompress the files, so the gzip bytes are never trusted, only their content.
Nothing is printed: progress goes to an optional callback
``progress(file_name, bytes_done, bytes_total_or_None)``.

>>> folder = ensure_mnist("data/mnist")                         # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator

from purenet.data import DataError, missing_idx_files

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

Progress = Callable[[str, int, "int | None"], None]


class DownloadError(DataError):
    """No mirror delivered a file whose content matches its checksum."""


class _Rejected(Exception):
    """A mirror's answer arrived but is not the right file."""


def ensure_mnist(
    folder: str | os.PathLike, progress: Progress | None = None, *, mirrors: Iterable[str] = MIRRORS
) -> Path:
    """``folder`` if it already holds the four MNIST files (any naming, raw or .gz), else download them."""
    folder = Path(folder)
    if folder.is_dir() and not missing_idx_files(folder):
        return folder
    return download_mnist(folder, mirrors=mirrors, progress=progress)


def download_mnist(
    folder: str | os.PathLike,
    *,
    mirrors: Iterable[str] = MIRRORS,
    progress: Progress | None = None,
    timeout: float = TIMEOUT,
) -> Path:
    """Download the four MNIST ``.gz`` files into ``folder`` (created if needed) and return it.

    Files already there whose content verifies are kept. For each other file every
    mirror is tried in turn; raises ``DownloadError`` when none delivers it intact.
    """
    folder, mirrors = Path(folder), tuple(mirrors)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DownloadError(f"{folder}: cannot create the folder ({error})") from None
    for name, digest in SHA256.items():
        target = folder / f"{name}.gz"
        if not _holds(target, digest):
            _fetch(target, digest, mirrors, progress, timeout)
    return folder


def _holds(target: Path, digest: str) -> bool:
    """Whether ``target`` exists and its decompressed content has the SHA-256 ``digest``."""
    try:
        with open(target, "rb") as handle:
            return _gunzipped_sha256(iter(lambda: handle.read(_BLOCK), b"")) == digest
    except (OSError, zlib.error, _Rejected):
        return False


def _fetch(target: Path, digest: str, mirrors: tuple[str, ...], progress: Progress | None, timeout: float) -> None:
    """Try each mirror for ``target``; raise ``DownloadError`` listing what each one did wrong."""
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + target.name
        try:
            _download(url, target, digest, progress, timeout)
            return
        except DownloadError:  # our own folder is at fault, not the mirror: trying others would not help
            raise
        except (OSError, ValueError, http.client.HTTPException, zlib.error, _Rejected) as error:
            failures.append(f"{url} ({_reason(error)})")
    raise DownloadError(_failure_message(target, failures))


def _download(url: str, target: Path, digest: str, progress: Progress | None, timeout: float) -> None:
    """Stream ``url`` into a temporary file beside ``target``; rename it into place once verified."""
    temp = _temp_beside(target)
    try:
        with open(temp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            got = _gunzipped_sha256(_received(response, out, target.name, progress))
            out.flush()
            os.fsync(out.fileno())
        if got != digest:
            raise _Rejected("its content does not match the MNIST checksum")
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)  # after a successful replace there is nothing left to remove


def _temp_beside(target: Path) -> Path:
    """A new empty file in ``target``'s folder (so the final rename stays on one file system)."""
    try:
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as error:
        raise DownloadError(f"{target.parent}: cannot write a file here ({error})") from None
    os.close(handle)
    return Path(name)


def _received(response, out: IO[bytes], name: str, progress: Progress | None) -> Iterator[bytes]:
    """The blocks of an HTTP response, each written to ``out`` and reported before it is yielded."""
    total = response.length  # None when the server sends no Content-Length
    done = 0
    if progress:
        progress(name, 0, total)
    while block := response.read(_BLOCK):
        out.write(block)
        done += len(block)
        if progress:
            progress(name, done, total)
        yield block
    if response.length:  # http.client counts down what is left, and stops quietly if the server hangs up
        raise _Rejected(f"the connection closed after {done} of {total} bytes")


def _gunzipped_sha256(blocks: Iterable[bytes]) -> str:
    """The SHA-256 (hex) of what a gzip stream, given as blocks, decompresses to."""
    unzip = zlib.decompressobj(wbits=31)  # 31: expect a gzip header and trailer
    digest = hashlib.sha256()
    for block in blocks:
        digest.update(unzip.decompress(block))
    if not unzip.eof:
        raise _Rejected("the gzip stream ends early")
    return digest.hexdigest()


def _reason(error: Exception) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return f"cannot connect: {error.reason}"
    if isinstance(error, http.client.IncompleteRead):
        return f"the connection closed after {len(error.partial)} bytes"
    if isinstance(error, zlib.error):
        return f"not a valid gzip file: {error}"
    return str(error) or type(error).__name__


def _failure_message(target: Path, failures: list[str]) -> str:
    names = ", ".join(f"{name}.gz" for name in SHA256)
    return (
        f"{target}: could not download it from any mirror: {'; '.join(failures) or 'no mirror given'}. "
        f"Offline? Copy the four MNIST files ({names}) into {target.parent}, "
        "or point --data at a folder that holds them."
    )
