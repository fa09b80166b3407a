"""The four MNIST IDX files: finding them in a folder and reading them fast.

An IDX file of bytes is a magic number (0, 0, 0x08, ndim), ndim big-endian
uint32 sizes, then the bytes. ``read_idx`` streams the (optionally gzipped) body
straight into one preallocated array, so loading all of MNIST costs its 55 MB
and no more; and it allocates only once sure the file holds what the header
promises: a raw file's size must match exactly, and a gzipped file's ISIZE
trailer must agree with the header (otherwise a counting pass decompresses the
file once without keeping anything, to know its size).
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import zlib
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from purenet.base.memory import available_memory, shown_bytes
from purenet.base.readonly import readonly
from purenet.base.words import counted
from purenet.data.splits import DataError, Dataset, Split, make_dataset, open_regular
from purenet.io.archive import EXPANSION_FLOOR, MAX_EXPANSION
from purenet.io.reading import READ_CHUNK, read_into

IDX_NAMES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}
"""The four MNIST files, under both namings seen in the wild (each raw or ``.gz``)."""

_IDX_UBYTE = 0x08
_IDX_TYPES = {0x08: "unsigned bytes", 0x09: "signed bytes", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64"}
_MAX_DIMS = 32  # NumPy's own limit is 32 or 64; MNIST uses 3
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_MIN_SIZE = 18  # a 10-byte header and an 8-byte trailer (CRC-32, ISIZE)

_DEFLATE_MAX_RATIO = 1032  # deflate never expands more than this: bounds what a .gz can hold


def is_idx_folder(path: Path) -> bool:
    return path.is_dir() and len(missing_idx_files(path)) < len(IDX_NAMES)


def missing_idx_files(folder: Path) -> list[str]:
    """The standard names of the MNIST IDX files that ``folder`` lacks under every naming."""
    return [names[0] for names in IDX_NAMES.values() if _find_idx(folder, names) is None]


def load_idx_folder(folder: Path) -> Dataset:
    """Read the four IDX files of ``folder`` (gzipped or raw, either naming)."""
    files = {key: _find_idx(folder, names, any_kind=True) for key, names in IDX_NAMES.items()}
    missing = [IDX_NAMES[key][0] for key, file in files.items() if file is None]
    if missing:
        raise DataError(f"{folder}: no {', '.join(missing)} file (raw or .gz, named with '-idx' or '.idx')")
    train = _idx_split(files["train_images"], files["train_labels"])
    test = _idx_split(files["test_images"], files["test_labels"])
    return make_dataset(train, test, folder)


def _find_idx(folder: Path, names: tuple[str, ...], any_kind: bool = False) -> Path | None:
    """The regular file of ``folder`` under one of ``names`` (raw or .gz). With ``any_kind``
    a FIFO, device or broken link by such a name counts too, so that reading it says what
    it is (it is never opened)."""
    candidates = [folder / f"{name}{gz}" for name in names for gz in ("", ".gz")]
    found = [candidate for candidate in candidates if candidate.is_file()]
    if any_kind and not found:
        found = [candidate for candidate in candidates if os.path.lexists(candidate) and not candidate.is_dir()]
    return found[0] if found else None


def _idx_split(images_path: Path, labels_path: Path) -> Split:
    # The counts are compared on the headers first: a file whose data is never used is never decompressed.
    _check_counts(images_path, idx_header(images_path, ndim=3)[0], labels_path, idx_header(labels_path, ndim=1)[0])
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    _check_counts(images_path, len(images), labels_path, len(labels))
    return Split(images=images.reshape(len(images), -1), labels=labels, image_shape=images.shape[1:])


def _check_counts(images_path: Path, images: int, labels_path: Path, labels: int) -> None:
    if images != labels:
        raise DataError(f"{images_path}: {counted(images, 'image')} but {labels_path.name} has {counted(labels, 'label')}")


def idx_header(path: Path, ndim: int | None = None) -> tuple[int, ...]:
    """The shape an IDX file's header declares (checked as ``read_idx`` checks it), its data unread."""
    with open_regular(path) as raw:
        try:
            with _open_maybe_gzip(path, raw) as (stream, _isize):
                return _idx_shape(path, stream, ndim)
        except (OSError, EOFError, zlib.error) as error:
            raise DataError(f"{path}: cannot read, truncated or corrupt ({error})") from None


def read_idx(path: Path, ndim: int | None = None) -> np.ndarray:
    """Read one IDX file of unsigned bytes (raw or gzipped) as a read-only uint8 array.

    With ``ndim`` 3 the file must hold images (N, rows, cols), with 1 labels (N,); the
    header is checked before anything is allocated. The data is decompressed straight
    into one preallocated array, a chunk at a time, so reading costs the size of the
    result and about one chunk more.
    """
    with open_regular(path) as raw:
        try:
            with _open_maybe_gzip(path, raw) as (stream, isize):
                shape = _idx_shape(path, stream, ndim)
                _check_fits(path, raw, stream, shape, isize)
                array = np.empty(shape, dtype=np.uint8)
                _fill(path, stream, array)
        except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
            raise DataError(f"{path}: cannot read, truncated or corrupt ({error})") from None
    return readonly(array)


def read_idx_gzip_stream(label: str, stream: IO[bytes], compressed_size: int, ndim: int | None = None,
                         transposed: bool = False) -> np.ndarray:
    """Read one gzipped IDX file of unsigned bytes from ``stream`` (a member of a zip archive) as a read-only uint8 array.

    As ``read_idx`` for a file, a chunk at a time into one preallocated array; ``compressed_size``
    (the gzip's bytes) bounds what the header may promise before anything is allocated, and
    ``label`` names the member in messages. Nothing is seekable: the stream is read once.
    """
    path = Path(label)
    try:
        with gzip.GzipFile(fileobj=stream) as unzipped:
            shape = _idx_shape(path, unzipped, ndim)
            promised = math.prod(shape)
            if promised > max(EXPANSION_FLOOR, MAX_EXPANSION * max(compressed_size, 1)):
                raise DataError(f"{label}: its header promises {shown_bytes(promised)} (shape {shape}) from "
                                f"{shown_bytes(compressed_size)} of gzip; real data compresses less than {MAX_EXPANSION} times")
            _check_memory(path, shape, promised)
            array = np.empty(shape, dtype=np.uint8)
            _fill(path, unzipped, array)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{label}: cannot read, truncated or corrupt ({error})") from None
    if transposed:
        _transpose_in_place(label, array)
    return readonly(array)


_TRANSPOSE_CHUNK = 4096  # images turned at a time: the one extra buffer the turn needs


def _transpose_in_place(label: str, images: np.ndarray) -> None:
    """Turn each square image of (N, rows, cols) about its diagonal, a chunk at a time (no second copy of all)."""
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise DataError(f"{label}: images of shape {images.shape[1:]} stored transposed; purenet turns square images only")
    for start in range(0, len(images), _TRANSPOSE_CHUNK):
        block = images[start : start + _TRANSPOSE_CHUNK]
        block[...] = block.transpose(0, 2, 1).copy()


@contextlib.contextmanager
def _open_maybe_gzip(path: Path, raw: IO[bytes]) -> Iterator[tuple[IO[bytes], int | None]]:
    """The file's bytes as a stream, decompressed on the fly when it is gzipped; and for a
    gzipped file its ISIZE trailer (the uncompressed size mod 2**32), else None."""
    gzipped = raw.read(2) == _GZIP_MAGIC
    raw.seek(0)
    if not gzipped:
        yield raw, None
        return
    size = os.fstat(raw.fileno()).st_size
    if size < _GZIP_MIN_SIZE:
        raise DataError(f"{path}: truncated: a gzip file of {size} bytes (a complete one has at least {_GZIP_MIN_SIZE})")
    raw.seek(-4, os.SEEK_END)
    isize = int.from_bytes(raw.read(4), "little")
    raw.seek(0)
    with gzip.GzipFile(fileobj=raw) as unzipped:
        yield unzipped, isize


def _idx_shape(path: Path, stream: IO[bytes], ndim: int | None) -> tuple[int, ...]:
    """Read the IDX header (magic number, then one big-endian uint32 per dimension)."""
    magic = stream.read(4)
    if len(magic) < 4:
        raise DataError(f"{path}: too short to be an IDX file ({counted(len(magic), 'byte')})")
    if magic[0] != 0 or magic[1] != 0 or magic[3] == 0:
        raise DataError(f"{path}: wrong magic number {magic.hex()} (an IDX file of bytes starts 000008)")
    if magic[2] != _IDX_UBYTE:
        what = _IDX_TYPES.get(magic[2], "an unknown type")
        raise DataError(f"{path}: IDX data type 0x{magic[2]:02x} ({what}); purenet reads unsigned bytes (0x08) only")
    if ndim is not None and magic[3] != ndim:
        wanted = {3: "3 dimensions (N, rows, cols)", 1: "1 dimension (N,)"}.get(ndim, f"{ndim} dimensions")
        raise DataError(f"{path}: expected {wanted}, found {magic[3]}")
    if magic[3] > _MAX_DIMS:
        raise DataError(f"{path}: {magic[3]} dimensions; an IDX file purenet reads has at most {_MAX_DIMS}")
    dims = stream.read(4 * magic[3])
    if len(dims) < 4 * magic[3]:
        raise DataError(f"{path}: truncated header")
    shape = tuple(int(d) for d in np.frombuffer(dims, dtype=">u4"))
    if ndim == 3 and shape[0] == 0:
        raise DataError(f"{path}: holds no images (its header says shape {shape})")
    if ndim == 3 and 0 in shape[1:]:
        raise DataError(f"{path}: images of {shape[1]}x{shape[2]} pixels (shape {shape}); they need at least one")
    return shape


def _check_fits(path: Path, raw: IO[bytes], stream: IO[bytes], shape: tuple[int, ...], isize: int | None) -> None:
    """Refuse a header that promises more (or less) data than the file holds, before allocating it.

    A raw file's size must match exactly. A gzipped file must be able to hold the data at
    deflate's best ratio, and its ISIZE trailer must agree with the header; if it does
    not (a multi-member gzip, or a lie), one counting pass measures the data first.
    """
    size = os.fstat(raw.fileno()).st_size
    header = 4 + 4 * len(shape)
    promised = math.prod(shape)
    if isize is None:
        if size - header != promised:
            _wrong_size(path, shape, promised, size - header)
        _check_memory(path, shape, promised)
        return
    if promised > size * _DEFLATE_MAX_RATIO:
        raise DataError(f"{path}: truncated: header promises {promised} bytes for shape {shape}; "
                        f"a gzip file of {size} bytes cannot hold them")
    if promised > max(EXPANSION_FLOOR, MAX_EXPANSION * size):  # the rule .npz members follow
        raise DataError(f"{path}: its header promises {shown_bytes(promised)} (shape {shape}) from a gzip file of "
                        f"{shown_bytes(size)}, {promised // size:,} times its size; real data compresses less than "
                        f"{MAX_EXPANSION} times (a decompression bomb?)")
    _check_memory(path, shape, promised)
    if (header + promised) % 2**32 == isize:
        return
    held = _count_bytes(stream)
    if held != promised:
        _wrong_size(path, shape, promised, held)
    stream.seek(header)  # back to the data: decompresses the header again


def _check_memory(path: Path, shape: tuple[int, ...], promised: int) -> None:
    available = available_memory()
    if available is not None and promised > available:
        raise DataError(f"{path}: its header's shape {shape} needs {shown_bytes(promised)} of memory; "
                        f"{shown_bytes(available)} is available")


def _wrong_size(path: Path, shape: tuple[int, ...], promised: int, held: int) -> None:
    if held < promised:
        raise DataError(f"{path}: truncated: header promises {promised} bytes of data for shape {shape}, the file holds {held}")
    raise DataError(f"{path}: more data than the header's shape {shape} promises: {held} bytes, not {promised}")


def _count_bytes(stream: IO[bytes]) -> int:
    """How many bytes are left in ``stream``, read a chunk at a time into one reused buffer."""
    buffer = bytearray(READ_CHUNK)
    count = 0
    while got := stream.readinto(buffer):
        count += got
    return count


def _fill(path: Path, stream: IO[bytes], array: np.ndarray) -> None:
    """Read exactly ``array.nbytes`` bytes of ``stream`` into ``array``, a chunk at a time."""
    found = read_into(stream, array.reshape(-1))
    if found < array.nbytes:
        raise DataError(f"{path}: truncated: header promises {array.nbytes} bytes of data, found {found}")
    if stream.read(1):  # also lets gzip check its CRC at the end of the stream
        raise DataError(f"{path}: more data than the header's shape {array.shape} promises")
