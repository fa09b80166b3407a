"""Opening an ``.npz`` safely: the one way purenet reads a zip archive of arrays.

    read_npz(path, error=ArchiveError) -> {key: array}
    with NpzArchive(path, error) as archive:    member by member: declared sizes and
        archive.declared_size(key)               headers first, then the arrays wanted
        archive.header(key) -> (shape, dtype)
        archive.read(key) -> array

``np.load`` trusts the file: a member's ``.npy`` header may claim any shape, and
NumPy allocates it before reading a byte of data; a corrupt archive raises any
of a dozen exception types. ``read_npz`` checks every member *before* reading
its data, never unpickles, and turns every problem into one ``error`` whose
message starts with the file's path:

- the file must be a regular file (never opened if a FIFO, socket or device) that
  starts like a zip archive;
- at most ``MAX_MEMBERS`` members, each named (``key.npy``) in at most
  ``MAX_NAME_LENGTH`` characters, no name twice, no folders, no encryption, and
  stored or compressed with deflate, bzip2 or LZMA;
- a member's compressed bytes must lie inside the file, and its uncompressed size
  (as the zip records it) must be one a stored or deflated member can have;
- all members together may not declare more than ``MAX_EXPANSION`` times the file's
  size (or ``EXPANSION_FLOOR``, for small files): real data compresses a few dozen
  times at most, a decompression bomb (a few KB of bzip2 that expand to a GiB)
  thousands of times; nor more than the memory available;
- a member is decompressed by purenet itself (``purenet.io.member_stream``), a bounded
  piece at a time, and never beyond the size the zip declares: a member whose stream
  expands further is refused the moment it does (``zipfile`` would inflate a whole
  bzip2 or LZMA chunk, gigabytes, before cutting it to size);
- each member must be a ``.npy`` array (magic string, then a version 1, 2 or 3
  header), of a dtype without Python objects, whose shape needs exactly the bytes
  the member holds: a tampered header claiming terabytes is refused before any
  allocation, and so is a member with bytes left over;
- the data is read into one preallocated array, a chunk at a time, and the zip's
  CRC-32 of each member is checked.

Each caller passes its own error class (data sets ``DataError``, checkpoints
``CheckpointError``); ``ArchiveError`` is the default, so that this floor needs nothing
of the floors above it. Checkpoints open an ``NpzArchive``, read the metadata, and
check every other member's declared size and header against the shapes the network
needs before decompressing it.
"""

from __future__ import annotations

import importlib
import os
import struct
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import IO, cast

import numpy as np
import numpy.lib.format as npy_format

from purenet.base.checks import cut, one_line
from purenet.base.memory import available_memory, shown_bytes
from purenet.io.member_stream import MemberStream
from purenet.io.reading import open_regular, read_into

try:  # an optional module of a Python build
    from lzma import LZMAError

    _CODEC_ERRORS: tuple[type[Exception], ...] = (LZMAError,)
except ImportError:  # pragma: no cover
    _CODEC_ERRORS = ()

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
"""How a zip archive starts: its first member, or (an empty archive) its end record."""

MAX_MEMBERS = 10_000
"""More members than any data set or checkpoint has (a checkpoint of 100 layers with Adam: ~1,000)."""

MAX_NAME_LENGTH = 250
"""The longest member name accepted (``np.savez`` names a member after its key)."""

MAX_EXPANSION = 200
"""How many times its own size an archive's members may declare in all. Real data sets
compress far less (MNIST's pixels 5 times, binarized float32 images 60 to 150 times with
deflate to bzip2); deflate itself stops at 1,032, and a bzip2 bomb reaches millions."""

EXPANSION_FLOOR = 64 * 2**20
"""Bytes any archive may declare whatever its size: a small file of zeros is no bomb."""

_END_RECORD_MAX = 22 + 65535  # the zip's end record, with the longest comment
_ENTRY_MAX = 512  # bytes of central directory per member: ample for a name of MAX_NAME_LENGTH
_DEFLATE_MAX_RATIO = 1032  # deflate never expands more than this
_SLACK = 1 << 16  # headers and the ratio's rounding, for tiny members
_COMPRESSIONS = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "LZMA",
}


class ArchiveError(ValueError):
    """An ``.npz`` that cannot be read safely, for a caller that names no error class of its own."""


_READ_ERRORS = (
    zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError, OSError, NotImplementedError,
    RuntimeError, RecursionError, OverflowError, struct.error, UnicodeDecodeError, KeyError, TypeError,
    IndexError, *_CODEC_ERRORS,
)
"""What the zip, zlib and .npy machinery raise on a malformed file (RuntimeError: encrypted)."""


def read_npz(path: str | os.PathLike, error: type[Exception] = ArchiveError) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, by key (the member name without ``.npy``).

    Never unpickles, never allocates more than the archive can hold; any problem raises
    ``error`` with a one-line message that starts with ``path`` (see the module docstring).
    """
    with NpzArchive(path, error) as archive:
        return {key: archive.read(key) for key in archive.keys()}


class NpzArchive:
    """An ``.npz`` opened and its zip directory checked, no member decompressed yet.

    ``keys()`` the members' keys; ``declared_size(key)`` the uncompressed size the zip
    declares; ``header(key)`` the (shape, dtype) its ``.npy`` header claims (only the header
    is decompressed); ``read(key)`` its array. Every problem raises ``error`` with a
    one-line message that starts with the path. Use it as a context manager.
    """

    _handle: IO[bytes]  # the open file, from __enter__ to __exit__

    def __init__(self, path: str | os.PathLike, error: type[Exception] = ArchiveError) -> None:
        self.path, self.error = Path(path), error
        self._members: dict[str, zipfile.ZipInfo] = {}
        self._size = 0

    def __enter__(self) -> NpzArchive:
        self._handle = open_regular(self.path, self.error)
        try:
            self._open()
        except BaseException:
            self._handle.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._handle.close()

    def _open(self) -> None:
        path, error, handle = self.path, self.error, self._handle
        try:
            self._size = os.fstat(handle.fileno()).st_size
            head = handle.read(4)
            handle.seek(0)
        except OSError as failure:
            raise error(f"{path}: cannot read ({failure.strerror or failure})") from None
        if not head:
            raise error(f"{path}: empty file (0 bytes), not an .npz archive")
        if head not in ZIP_MAGIC:
            raise error(f"{path}: not an .npz file (it does not start like a zip archive)")
        with self._errors():
            _check_directory(path, handle, self._size, error)
            with zipfile.ZipFile(handle) as archive:  # parses the directory only
                members = archive.infolist()
            self._members = _checked_members(path, members, self._size, error)
            _check_expansion(path, self._members, self._size, error)

    def keys(self) -> list[str]:
        return list(self._members)

    def __contains__(self, key: str) -> bool:
        return key in self._members

    def declared_size(self, key: str) -> int:
        """The uncompressed size of member ``key`` as the zip's directory declares it."""
        return self._members[key].file_size

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        """(shape, dtype) of member ``key`` as its header claims, checked against the member's
        declared size; only the header is decompressed."""
        with self._errors():
            shape, _, dtype, header_size = _read_header(self.path, self._stream(key), key, self.error)
            _check_claim(self.path, key, shape, dtype, self._members[key].file_size - header_size, self.error)
            return shape, dtype

    def head(self, key: str, count: int) -> bytes:
        """The first ``count`` bytes of member ``key``, decompressed (fewer if it is shorter)."""
        with self._errors():
            return self._stream(key).read(count)

    def read(self, key: str) -> np.ndarray:
        """The array of member ``key``: header checked, then the data read into one array."""
        with self._errors():
            return _read_member(self.path, self._stream(key), self._members[key], key, self.error)

    def _stream(self, key: str) -> MemberStream:
        """Member ``key``'s bytes, from its first (every call starts the member again)."""
        return MemberStream(self.path, self._handle, self._members[key], key, self._size, self.error)

    def _errors(self):
        return _translated(self.path, self.error)


class _translated:
    """Turn what the zip, codec and .npy machinery raise into one ``error`` line."""

    def __init__(self, path: Path, error: type[Exception]) -> None:
        self.path, self.error = path, error

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, failure: BaseException | None, _traceback) -> None:
        if failure is None or isinstance(failure, self.error):
            return
        if isinstance(failure, MemoryError):
            raise self.error(f"{self.path}: not enough memory to read it") from None
        if isinstance(failure, _READ_ERRORS):
            raise self.error(f"{self.path}: not a readable .npz ({_detail(failure)})") from None


# --- the zip's directory: checked before any member is decompressed ----------------------------------


def _check_directory(path: Path, handle: IO[bytes], size: int, error: type[Exception]) -> None:
    """Refuse an archive whose end record announces more than ``MAX_MEMBERS`` members, or a
    central directory bigger than they could need, before ``zipfile`` parses it: it builds
    an object of some 500 bytes per 46-byte entry. (An archive without a readable end
    record is left to ``zipfile``, which refuses it.)"""
    tail_size = min(size, _END_RECORD_MAX)
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return
    members, directory = struct.unpack("<HI", tail[at + 10 : at + 16])
    locator = tail[at - 20 : at] if at >= 20 else b""
    if locator[:4] == b"PK\x06\x07":  # zip64: the counts are in a record of their own
        (offset,) = struct.unpack("<Q", locator[8:16])
        handle.seek(offset)
        record = handle.read(56)
        if record[:4] == b"PK\x06\x06" and len(record) == 56:
            members, directory = struct.unpack("<QQ", record[32:48])
    handle.seek(0)
    if members > MAX_MEMBERS or directory > MAX_MEMBERS * _ENTRY_MAX:
        raise error(f"{path}: its zip directory announces {members} members in {directory} bytes; "
                    f"an .npz purenet reads has at most {MAX_MEMBERS}")


def _checked_members(path: Path, members: list[zipfile.ZipInfo], size: int,
                     error: type[Exception]) -> dict[str, zipfile.ZipInfo]:
    """The members by key, once each name, method and size the directory claims is checked."""
    if len(members) > MAX_MEMBERS:
        raise error(f"{path}: {len(members)} members in the archive; an .npz purenet reads has at most {MAX_MEMBERS}")
    checked: dict[str, zipfile.ZipInfo] = {}
    for info in members:
        key = _key(path, info, error)
        if key in checked:
            raise error(f"{path}: two members named {info.filename!r}; which one is meant is unclear")
        _check_sizes(path, info, key, size, error)
        checked[key] = info
    return checked


def _check_expansion(path: Path, members: dict[str, zipfile.ZipInfo], size: int, error: type[Exception]) -> None:
    """Refuse an archive whose members declare more than MAX_EXPANSION times its size (a
    decompression bomb), or more than the memory available, before decompressing any."""
    declared = sum(info.file_size for info in members.values())
    if declared > max(EXPANSION_FLOOR, MAX_EXPANSION * size):
        raise error(f"{path}: its members declare {shown_bytes(declared)} uncompressed from a file of "
                    f"{shown_bytes(size)}, {declared // max(size, 1):,} times its size; real data compresses "
                    f"less than {MAX_EXPANSION} times (a decompression bomb?)")
    available = available_memory()
    if available is not None and declared > available:
        raise error(f"{path}: its arrays need {shown_bytes(declared)} of memory; {shown_bytes(available)} is available")


def _key(path: Path, info: zipfile.ZipInfo, error: type[Exception]) -> str:
    name = info.filename
    if len(name) > MAX_NAME_LENGTH:
        raise error(f"{path}: a member's name is {len(name)} characters long ({name[:40]!r}...); at most {MAX_NAME_LENGTH}")
    if info.is_dir():
        raise error(f"{path}: member {name!r} is a folder, not a NumPy array (.npy)")
    return name.removesuffix(".npy")


def _check_sizes(path: Path, info: zipfile.ZipInfo, key: str, size: int, error: type[Exception]) -> None:
    """Refuse what the zip's directory claims about a member if the file cannot back it."""
    if info.flag_bits & 0x1:
        raise error(f"{path}: {key!r} is encrypted; an .npz is never encrypted")
    method = _COMPRESSIONS.get(info.compress_type)
    if method is None:
        raise error(f"{path}: {key!r} uses compression method {info.compress_type}; "
                    f"purenet reads {', '.join(_COMPRESSIONS.values())}")
    if info.header_offset + info.compress_size > size:
        raise error(f"{path}: {key!r} claims {info.compress_size} compressed bytes at offset "
                    f"{info.header_offset}, past the end of the file ({size} bytes); truncated or corrupt")
    limits = {"stored": info.compress_size, "deflate": info.compress_size * _DEFLATE_MAX_RATIO + _SLACK}
    if method in limits and info.file_size > limits[method]:
        raise error(f"{path}: {key!r} claims {info.file_size} bytes uncompressed from {info.compress_size} "
                    f"bytes {method}, more than {method} can hold; truncated or tampered with")


# --- a member's .npy: its header checked before its array is allocated -------------------------------


def _read_member(path: Path, stream: MemberStream, info: zipfile.ZipInfo, key: str, error: type[Exception]) -> np.ndarray:
    """One member's array: header checked against the member's size before anything is allocated."""
    shape, fortran_order, dtype, header_size = _read_header(path, stream, key, error)
    count = _check_claim(path, key, shape, dtype, info.file_size - header_size, error)
    claimed = count * dtype.itemsize
    array = np.empty(count, dtype=dtype)
    if claimed:
        expected = array.nbytes
        found = read_into(cast(IO[bytes], stream), array.reshape(-1).view(np.uint8))
        if found < expected:
            raise error(f"{path}: {key!r} is truncated: {expected} bytes of data expected, {found} found")
    else:
        stream.read()  # nothing left to give: checks that nothing follows, and the CRC-32
    return array.reshape(shape[::-1]).transpose() if fortran_order else array.reshape(shape)


def _check_claim(path: Path, key: str, shape: tuple[int, ...], dtype: np.dtype, held: int, error: type[Exception]) -> int:
    """The number of elements a header claims, once sure they are plain numbers that need
    exactly the ``held`` bytes of data the member declares (else ``error``)."""
    if dtype.hasobject:
        raise error(f"{path}: {key!r} holds pickled objects (an object array), never unpickled")
    if any(n < 0 for n in shape):
        raise error(f"{path}: {key!r} has a negative size in its shape {shape}")
    count = 1
    for n in shape:
        count *= n
    claimed = count * dtype.itemsize
    if claimed != held:
        what = "claims more bytes than" if claimed > held else "claims fewer bytes than"
        raise error(f"{path}: {key!r} {what} it holds: its header says shape {shape} of {_dtype_name(dtype)} "
                    f"({claimed} bytes), the member holds {held} bytes of data")
    return count


def _read_header(path: Path, stream: MemberStream, key: str, error: type[Exception]):
    """(shape, fortran_order, dtype, bytes the header took) of a member, or ``error``."""
    try:
        version = npy_format.read_magic(stream)
    except ValueError:
        raise error(f"{path}: member {key!r} is not a NumPy array (.npy); it does not start like one") from None
    readers = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}
    if _read_any_header is not None:
        readers[(3, 0)] = lambda fp: _read_any_header(fp, (3, 0))
    if version not in readers:
        raise error(f"{path}: {key!r} is a .npy of version {version[0]}.{version[1]}, which purenet does not read")
    try:
        with warnings.catch_warnings():  # NumPy warns about headers written by Python 2; never print
            warnings.simplefilter("ignore")
            shape, fortran_order, dtype = readers[version](stream)
    except Exception as failure:  # noqa: BLE001 - NumPy's parse of untrusted text fails in many ways
        # (ValueError, TypeError, SyntaxError, tokenize.TokenError, RecursionError, MemoryError, ...)
        raise error(f"{path}: {key!r} has an unreadable .npy header ({_detail(failure)})") from None
    return tuple(shape), bool(fortran_order), dtype, stream.tell()


def _private_header_reader():
    """NumPy's reader of every .npy header version (3.0 has no public one), if this NumPy has it."""
    for name in ("numpy.lib._format_impl", "numpy.lib.format"):
        try:
            return importlib.import_module(name)._read_array_header
        except (ImportError, AttributeError):
            continue
    return None  # pragma: no cover


_read_any_header = _private_header_reader()


def _dtype_name(dtype: np.dtype) -> str:
    return cut(str(dtype), 60)


def _detail(failure: BaseException) -> str:
    """An exception as a short single line, for the end of a message (its type when it says nothing)."""
    return one_line(str(failure)) or type(failure).__name__
