"""The four MNIST IDX files: finding them in a folder and reading them fast.

An IDX file of bytes is a magic number (0, 0, 0x08, ndim), ndim big-endian
uint32 sizes, then the bytes. ``read_idx`` streams the (optionally gzipped) body
straight into one preallocated array, so loading all of MNIST costs its 55 MB
and no more.
"""

from __future__ import annotations

import contextlib
import gzip
import zlib
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from purenet.data.splits import DataError, Dataset, Split, make_dataset
from purenet.records import readonly

IDX_NAMES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}
"""The four MNIST files, under both namings seen in the wild (each raw or ``.gz``)."""

_IDX_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
_DEFLATE_MAX_RATIO = 1032  # deflate never expands more than this: bounds what a .gz can hold


def is_idx_folder(path: Path) -> bool:
    return path.is_dir() and len(missing_idx_files(path)) < len(IDX_NAMES)


def missing_idx_files(folder: Path) -> list[str]:
    """The standard names of the MNIST IDX files that ``folder`` lacks under every naming."""
    return [names[0] for names in IDX_NAMES.values() if _find_idx(folder, names) is None]


def load_idx_folder(folder: Path) -> Dataset:
    """Read the four IDX files of ``folder`` (gzipped or raw, either naming)."""
    missing = missing_idx_files(folder)
    if missing:
        raise DataError(f"{folder}: no {', '.join(missing)} file (raw or .gz, named with '-idx' or '.idx')")
    files = {key: _find_idx(folder, names) for key, names in IDX_NAMES.items()}
    train = _idx_split(files["train_images"], files["train_labels"])
    test = _idx_split(files["test_images"], files["test_labels"])
    return make_dataset(train, test, folder)


def _find_idx(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _idx_split(images_path: Path, labels_path: Path) -> Split:
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3:
        raise DataError(f"{images_path}: expected 3 dimensions (N, rows, cols), found {images.ndim}")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected 1 dimension (N,), found {labels.ndim}")
    if len(images) != len(labels):
        raise DataError(f"{images_path}: {len(images)} images but {labels_path.name} has {len(labels)} labels")
    if len(labels) and labels.max() > 9:
        raise DataError(f"{labels_path}: label {labels.max()} is outside 0-9")
    return Split(images=images.reshape(len(images), -1), labels=labels)


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file of unsigned bytes (raw or gzipped) as a read-only uint8 array.

    The data is decompressed straight into one preallocated array, a chunk at a
    time, so reading costs the size of the result and about one chunk more.
    """
    try:
        with _open_maybe_gzip(path) as (stream, gzipped):
            shape = _idx_shape(path, stream, gzipped)
            array = np.empty(shape, dtype=np.uint8)
            _fill(path, stream, array)
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: cannot read, truncated or corrupt ({error})") from None
    return readonly(array)


@contextlib.contextmanager
def _open_maybe_gzip(path: Path) -> Iterator[tuple[IO[bytes], bool]]:
    """The file's bytes as a stream, decompressed on the fly when it is gzipped."""
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not gzipped:
            yield raw, False
            return
        with gzip.GzipFile(fileobj=raw) as unzipped:
            yield unzipped, True


def _idx_shape(path: Path, stream: IO[bytes], gzipped: bool) -> tuple[int, ...]:
    """Read the IDX header (magic number, then one big-endian uint32 per dimension)."""
    magic = stream.read(4)
    if len(magic) < 4:
        raise DataError(f"{path}: too short to be an IDX file ({len(magic)} bytes)")
    if magic[0] != 0 or magic[1] != 0 or magic[3] == 0:
        raise DataError(f"{path}: wrong magic number {magic.hex()} (an IDX file of bytes starts 000008)")
    if magic[2] != _IDX_UBYTE:
        raise DataError(f"{path}: IDX data type 0x{magic[2]:02x}; purenet reads unsigned bytes (0x08) only")
    dims = stream.read(4 * magic[3])
    if len(dims) < 4 * magic[3]:
        raise DataError(f"{path}: truncated header")
    shape = tuple(int(d) for d in np.frombuffer(dims, dtype=">u4"))
    _check_fits(path, shape, gzipped)
    return shape


def _check_fits(path: Path, shape: tuple[int, ...], gzipped: bool) -> None:
    """Refuse a header that promises more data than the file could hold (before allocating it)."""
    size = path.stat().st_size
    room = size * _DEFLATE_MAX_RATIO if gzipped else size
    promised = int(np.prod(shape, dtype=np.float64))
    if promised > room:
        raise DataError(f"{path}: truncated: header promises {promised} bytes for shape {shape}; the file has {size}")


def _fill(path: Path, stream: IO[bytes], array: np.ndarray) -> None:
    """Read exactly ``array.nbytes`` bytes of ``stream`` into ``array``, in chunks."""
    view = memoryview(array.reshape(-1))
    done = 0
    while done < len(view):
        got = stream.readinto(view[done : done + _CHUNK])
        if not got:
            raise DataError(f"{path}: truncated: header promises {len(view)} bytes of data, found {done}")
        done += got
    if stream.read(1):  # also lets gzip check its CRC at the end of the stream
        raise DataError(f"{path}: more data than the header's shape {array.shape} promises")
