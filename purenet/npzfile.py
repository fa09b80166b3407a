"""Opening an ``.npz`` safely: the one way purenet reads a zip archive of arrays.

    read_npz(path, error=DataError) -> {key: array}

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
- each member must be a ``.npy`` array (magic string, then a version 1, 2 or 3
  header), of a dtype without Python objects, whose shape needs exactly the bytes
  the member holds: a tampered header claiming terabytes is refused before any
  allocation, and so is a member with bytes left over;
- the data is read into one preallocated array, a chunk at a time, and the zip's
  CRC-32 of each member is checked.

Data sets (``purenet.data.npz``) and checkpoints call it with their own error class.
"""

from __future__ import annotations

import importlib
import os
import struct
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np
import numpy.lib.format as npy_format

from purenet.data.splits import DataError
from purenet.files import open_regular, read_into

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

_READ_ERRORS = (
    zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError, OSError, NotImplementedError,
    RuntimeError, RecursionError, OverflowError, struct.error, UnicodeDecodeError, KeyError, TypeError,
    IndexError, *_CODEC_ERRORS,
)
"""What the zip, zlib and .npy machinery raise on a malformed file (RuntimeError: encrypted)."""


def read_npz(path: str | os.PathLike, error: type[Exception] = DataError) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, by key (the member name without ``.npy``).

    Never unpickles, never allocates more than the archive can hold; any problem raises
    ``error`` with a one-line message that starts with ``path`` (see the module docstring).
    """
    path = Path(path)
    with open_regular(path, error) as handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            head = handle.read(4)
            handle.seek(0)
        except OSError as failure:
            raise error(f"{path}: cannot read ({failure.strerror or failure})") from None
        if not head:
            raise error(f"{path}: empty file (0 bytes), not an .npz archive")
        if head not in ZIP_MAGIC:
            raise error(f"{path}: not an .npz file (it does not start like a zip archive)")
        try:
            _check_directory(path, handle, size, error)
            with zipfile.ZipFile(handle) as archive:
                return _read_members(path, archive, size, error)
        except error:
            raise
        except MemoryError:
            raise error(f"{path}: not enough memory to read it") from None
        except _READ_ERRORS as failure:
            raise error(f"{path}: not a readable .npz ({_detail(failure)})") from None


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


def _read_members(path: Path, archive: zipfile.ZipFile, size: int, error: type[Exception]) -> dict[str, np.ndarray]:
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise error(f"{path}: {len(members)} members in the archive; an .npz purenet reads has at most {MAX_MEMBERS}")
    arrays: dict[str, np.ndarray] = {}
    for info in members:
        key = _key(path, info, error)
        if key in arrays:
            raise error(f"{path}: two members named {info.filename!r}; which one is meant is unclear")
        _check_sizes(path, info, key, size, error)
        with archive.open(info) as stream:
            arrays[key] = _read_member(path, stream, info, key, error)
    return arrays


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


def _read_member(path: Path, stream: IO[bytes], info: zipfile.ZipInfo, key: str, error: type[Exception]) -> np.ndarray:
    """One member's array: header checked against the member's size before anything is allocated."""
    shape, fortran_order, dtype, header_size = _read_header(path, stream, key, error)
    if dtype.hasobject:
        raise error(f"{path}: {key!r} holds pickled objects (an object array), never unpickled")
    if any(n < 0 for n in shape):
        raise error(f"{path}: {key!r} has a negative size in its shape {shape}")
    count = 1
    for n in shape:
        count *= n
    claimed = count * dtype.itemsize
    held = info.file_size - header_size
    if claimed != held:
        what = "claims more bytes than" if claimed > held else "claims fewer bytes than"
        raise error(f"{path}: {key!r} {what} it holds: its header says shape {shape} of {_dtype_name(dtype)} "
                    f"({claimed} bytes), the member holds {held} bytes of data")
    array = np.empty(count, dtype=dtype)
    if claimed:
        expected = array.nbytes
        found = read_into(stream, array.reshape(-1).view(np.uint8))
        if found < expected:
            raise error(f"{path}: {key!r} is truncated: {expected} bytes of data expected, {found} found")
    if stream.read(1):  # cannot happen once sizes agree; reading to the end checks the CRC-32
        raise error(f"{path}: {key!r} holds more data than its header's shape {shape}")
    return array.reshape(shape[::-1]).transpose() if fortran_order else array.reshape(shape)


def _read_header(path: Path, stream: IO[bytes], key: str, error: type[Exception]):
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
    text = str(dtype)
    return text if len(text) <= 60 else text[:57] + "..."


def _detail(failure: BaseException) -> str:
    """An exception as a short single line, for the end of a message."""
    text = " ".join(str(failure).split()) or type(failure).__name__
    return text if len(text) <= 160 else text[:157] + "..."
