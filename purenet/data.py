"""Data: reading MNIST-like sources, holding them as uint8, and cutting them into batches.

    load(path)                         -> Dataset(train=Split, test=Split | None)
    split_validation(split, frac, rng) -> (train Split, validation Split)
    batches(n, batch_size, rng)        -> index arrays, a fresh shuffle each call
    to_float(images)                   -> float32 in [0, 1], one batch at a time

``load`` finds out what is at ``path`` by asking each entry of ``FORMATS`` in
turn (the four IDX files, CSV, ``.npz``, folders of images named by class) and
reads it with that format's reader. Whatever the source, images come back as
uint8 (N, H*W) and labels as uint8 (N,), both read-only, so the whole of MNIST
costs 55 MB, not 220. Every problem with a source raises one ``DataError`` whose
message starts with the file's path and says what is wrong with it.
See docs/data.md for each format, with examples.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import zipfile
import zlib
from pathlib import Path
from typing import IO, Callable, Iterator

import attrs
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from purenet.records import readonly

IDX_NAMES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}
"""The four MNIST files, under both namings seen in the wild (each raw or ``.gz``)."""

CSV_NAMES = ("mnist_train.csv", "mnist_test.csv")
"""The two files of a CSV folder (the layout of the widely shared Kaggle/pjreddie CSVs)."""

IMAGE_LAYOUTS = (("train", ("test",)), ("trainingSet", ("testSet", "testingSet")))
"""Folder pairs (train, possible test names) that may hold class folders ``0/``..``9/``."""

NPZ_LAYOUTS = (
    ("x_train", "y_train", "x_test", "y_test"),  # Keras' mnist.npz
    ("training_images", "training_labels", "test_images", "test_labels"),  # the old script's
    ("train_images", "train_labels", "test_images", "test_labels"),  # plain, with a test part
    ("images", "labels", None, None),  # plain, training data only
)
"""Key names of the ``.npz`` layouts read: (train images, train labels, test images, test labels)."""

IMAGE_SIZE = (28, 28)
"""Images read from class folders are made grey and resized to this (width, height), like MNIST."""

_IDX_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_CHUNK = 1 << 20
_DEFLATE_MAX_RATIO = 1032  # deflate never expands more than this: bounds what a .gz can hold
_COMMA, _NEWLINE, _ZERO = ord(","), ord("\n"), ord("0")


class DataError(ValueError):
    """A data source is missing or malformed; the message names the file and the problem."""


def _labels_field():
    return attrs.field(converter=readonly, eq=attrs.cmp_using(eq=np.array_equal))


@attrs.frozen
class Split:
    """One part of a data set: ``images`` (N, H*W) uint8 and ``labels`` (N,) integers, read-only."""

    images: np.ndarray = attrs.field(converter=readonly, eq=attrs.cmp_using(eq=np.array_equal))
    labels: np.ndarray = _labels_field()

    def __attrs_post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index: np.ndarray | slice) -> Split:
        """The rows at ``index``, as a new split."""
        return Split(images=self.images[index], labels=self.labels[index])


@attrs.frozen
class Dataset:
    """A training split and, where the source has one, a test split."""

    train: Split
    test: Split | None = None


@attrs.frozen
class Format:
    """One kind of source: ``detect(path)`` says whether it is at ``path``; ``read(path)`` loads it."""

    name: str
    detect: Callable[[Path], bool]
    read: Callable[[Path], Dataset]


def default_data_dir() -> Path:
    """Where ``purenet`` looks for MNIST when no ``--data`` is given.

    ``$PURENET_DATA`` if set; otherwise the ``data/mnist`` folder of the source
    checkout this package was installed from (a clone trains offline).
    """
    if os.environ.get("PURENET_DATA"):
        return Path(os.environ["PURENET_DATA"])
    return Path(__file__).resolve().parent.parent / "data" / "mnist"


def load(path: str | os.PathLike) -> Dataset:
    """Read the data set at ``path``, whatever its format (see ``FORMATS`` and docs/data.md).

    >>> mnist = load("data/mnist")                            # doctest: +SKIP
    >>> mnist.train.images.shape, mnist.test.labels.shape     # doctest: +SKIP
    ((60000, 784), (10000,))
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    for source in FORMATS:
        if source.detect(path):
            return source.read(path)
    raise DataError(_unknown_source_message(path))


def _unknown_source_message(path: Path) -> str:
    if any(path.name.startswith(names) for names in IDX_NAMES.values()):
        return f"{path}: a single IDX file; pass the folder that holds all four"
    kinds = "a folder of the four MNIST IDX files, of mnist_train.csv, or of class folders 0/..9/; a .csv; a .npz"
    return f"{path}: not a data set purenet can read (it reads {kinds})"


def _dataset(train: Split, test: Split | None, source: Path) -> Dataset:
    """A Dataset, once sure both parts have the same number of pixels per image."""
    if test is not None and train.images.shape[1] != test.images.shape[1]:
        raise DataError(
            f"{source}: training images have {train.images.shape[1]} pixels but test images {test.images.shape[1]}"
        )
    return Dataset(train=train, test=test)


def _open_error(path: Path, error: Exception) -> DataError:
    return DataError(f"{path}: cannot read ({error})")


# ----------------------------------------------------------------- IDX folders


def _is_idx_folder(path: Path) -> bool:
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
    return _dataset(train, test, folder)


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


# ----------------------------------------------------------------- CSV


def _is_csv_folder(path: Path) -> bool:
    return path.is_dir() and (path / CSV_NAMES[0]).is_file()


def _is_csv(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".csv"


def load_csv(path: Path) -> Dataset:
    """Read one CSV file as a training split (a lone CSV has no test part)."""
    return Dataset(train=read_csv(path), test=None)


def load_csv_folder(folder: Path) -> Dataset:
    """Read ``mnist_train.csv`` and, if present, ``mnist_test.csv`` of ``folder``."""
    train_path, test_path = (folder / name for name in CSV_NAMES)
    test = read_csv(test_path) if test_path.exists() else None
    return _dataset(read_csv(train_path), test, folder)


class _BadCell(Exception):
    """Where a CSV chunk went wrong: ``row`` within the chunk, ``column`` (None: the row's length)."""

    def __init__(self, row: int, column: int | None, text: str) -> None:
        super().__init__(row, column, text)
        self.row, self.column, self.text = row, column, text


def read_csv(path: Path) -> Split:
    """Read a CSV of rows ``label, pixel, pixel, ...``: labels 0-9, pixels 0-255, any fixed width.

    An optional header row is recognised (see ``_is_header``). Parsing works on the
    raw bytes with NumPy, 32 KB of rows at a time; a problem is reported with the
    file's line and column. Returns images (N, columns - 1) uint8 and labels (N,) uint8.
    """
    body, first_line = _csv_body(path, _read_file(path))
    n_rows = body.count(b"\n") + 1
    n_cols = body.partition(b"\n")[0].count(b",") + 1
    if n_cols < 2:
        raise DataError(f"{path}: line {first_line} has 1 column; expected a label, then pixel values")
    images = np.empty((n_rows, n_cols - 1), dtype=np.uint8)
    labels = np.empty(n_rows, dtype=np.uint8)
    for row, chunk in _csv_chunks(body):
        try:
            values = _parse_csv_chunk(chunk, n_cols)
        except _BadCell as bad:
            raise DataError(_bad_cell_message(path, first_line + row + bad.row, bad, n_cols)) from None
        labels[row : row + len(values)] = values[:, 0]
        images[row : row + len(values)] = values[:, 1:]
    return Split(images=images, labels=labels)


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise _open_error(path, error) from None


def _csv_body(path: Path, data: bytes) -> tuple[bytes, int]:
    """The data rows, without header, blanks, quotes or ``\\r``; and the file line they start on."""
    for junk in (b"\r", b" ", b"\t", b'"'):
        if junk in data:  # a quick scan saves a copy in the usual case
            data = data.replace(junk, b"")
    data, first_line = _skip_blank_lines(data, 1)
    if data and _is_header(data.partition(b"\n")[0]):
        data, first_line = _skip_blank_lines(data.partition(b"\n")[2], first_line + 1)
    data = data.rstrip(b"\n")
    if not data:
        raise DataError(f"{path}: empty CSV (no data rows)")
    return data, first_line


def _skip_blank_lines(data: bytes, line: int) -> tuple[bytes, int]:
    """``data`` without its leading blank lines, and the number of the line it now starts on."""
    rest = data.lstrip(b"\n")
    return rest, line + len(data) - len(rest)


def _is_header(line: bytes) -> bool:
    """A header names its columns: its first cell is no number, nor are most of the others
    (``label,pixel0,...`` or ``label,0,1,...,783``; but ``x,0,0,...`` is a data row gone wrong)."""
    first, *rest = line.split(b",")
    pixels = sum(cell.isdigit() and int(cell) <= 255 for cell in rest)
    return not first.lstrip(b"-").isdigit() and pixels < len(rest) / 2


def _csv_chunks(body: bytes, size: int = 1 << 15) -> Iterator[tuple[int, bytes]]:
    """Whole rows of ``body``, about ``size`` bytes at a time, with the index of their first row."""
    row, start = 0, 0
    while start < len(body):
        end = body.find(b"\n", start + size)
        end = len(body) if end < 0 else end
        chunk = body[start:end]
        yield row, chunk
        row += chunk.count(b"\n") + 1
        start = end + 1


def _parse_csv_chunk(chunk: bytes, n_cols: int) -> np.ndarray:
    """Rows of comma-separated whole numbers -> (rows, n_cols) uint16; raises ``_BadCell``."""
    text = np.frombuffer(chunk, dtype=np.uint8)
    seps = np.flatnonzero((text == _COMMA) | (text == _NEWLINE))
    ends = np.append(seps, len(text))  # each cell ends at a separator or at the end
    _check_row_lengths(text, seps, n_cols)
    starts = np.concatenate(([0], seps + 1))
    digits = text - np.uint8(_ZERO)  # wraps around, so any non-digit lands above 9
    lengths = ends - starts
    bad = (lengths == 0) | (lengths > 3)  # 0-255 needs 1 to 3 digits
    stray = np.flatnonzero((digits > 9) & (text != _COMMA) & (text != _NEWLINE))
    bad[np.searchsorted(ends, stray)] = True
    values = _cell_values(digits, ends, lengths)
    limits = np.full(n_cols, 255, dtype=np.uint16)
    limits[0] = 9  # the label
    bad |= (values.reshape(-1, n_cols) > limits).reshape(-1)
    if bad.any():
        cell = int(np.argmax(bad))
        raise _BadCell(cell // n_cols, cell % n_cols, chunk[starts[cell] : ends[cell]].decode(errors="replace"))
    return values.reshape(-1, n_cols)


def _check_row_lengths(text: np.ndarray, seps: np.ndarray, n_cols: int) -> None:
    """Raise ``_BadCell`` (column None) at the first row without exactly ``n_cols`` cells."""
    row_ends = np.flatnonzero(text[seps] == _NEWLINE)  # index of the last cell of each row
    last_cells = np.concatenate(([-1], row_ends, [len(seps)]))
    counts = np.diff(last_cells)
    wrong = np.flatnonzero(counts != n_cols)
    if len(wrong):
        raise _BadCell(int(wrong[0]), None, str(counts[wrong[0]]))


def _cell_values(digits: np.ndarray, ends: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The value of each cell of up to three digits, read from its last three characters."""
    values = np.zeros(len(ends), dtype=np.uint16)
    for place in range(3):
        digit = digits.take(ends - 1 - place, mode="clip").astype(np.uint16)
        values += np.where(lengths > place, digit * np.uint16(10**place), np.uint16(0))
    return values


def _bad_cell_message(path: Path, line: int, bad: _BadCell, n_cols: int) -> str:
    if bad.column is None:
        return f"{path}: line {line} has {bad.text} columns, expected {n_cols} (a label, then {n_cols - 1} pixels)"
    what, allowed = ("label", "0-9") if bad.column == 0 else ("pixel", "0-255")
    where = f"{path}: line {line}, column {bad.column + 1}"
    if not bad.text:
        return f"{where}: empty cell"
    try:
        value = int(bad.text)
    except ValueError:
        return f"{where}: {bad.text[:20]!r} is not a number (expected a whole number {allowed})"
    return f"{where}: {what} {value} is outside {allowed}"


# ----------------------------------------------------------------- .npz


def _is_npz(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".npz"


def load_npz(path: Path) -> Dataset:
    """Read an ``.npz`` in one of ``NPZ_LAYOUTS`` (never unpickling anything).

    Images may be uint8 0-255 or floats in [0, 1] (made uint8 by rounding x * 255), of
    shape (N, H, W), (N, D) or (N, D, 1); labels whole numbers (N,) or one-hot (N, 10[, 1]).
    """
    _check_zip(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = _npz_layout(path, set(archive.files))
            train = _npz_split(path, archive, keys[0], keys[1])
            has_test = keys[2] is not None and {keys[2], keys[3]} <= set(archive.files)
            test = _npz_split(path, archive, keys[2], keys[3]) if has_test else None
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: not a readable .npz ({error})") from None
    return _dataset(train, test, path)


def _check_zip(path: Path) -> None:
    """An .npz is a zip archive: say so plainly if this file is not one."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head not in _ZIP_MAGIC:
        raise DataError(f"{path}: not an .npz file (it does not start like a zip archive)")


def _npz_layout(path: Path, keys: set[str]) -> tuple[str | None, ...]:
    for layout in NPZ_LAYOUTS:
        if {layout[0], layout[1]} <= keys:
            return layout
    known = "; ".join(", ".join(k for k in layout if k) for layout in NPZ_LAYOUTS)
    raise DataError(f"{path}: unknown .npz layout, keys {sorted(keys)}; expected one of: {known}")


def _npz_split(path: Path, archive, images_key: str, labels_key: str) -> Split:
    images = _npz_pixels(path, images_key, _npz_array(path, archive, images_key))
    labels = _npz_labels(path, labels_key, _npz_array(path, archive, labels_key))
    if len(images) != len(labels):
        raise DataError(f"{path}: {len(images)} images in '{images_key}' but {len(labels)} labels in '{labels_key}'")
    return Split(images=images, labels=labels)


def _npz_array(path: Path, archive, key: str) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as error:
        if "pickle" in str(error):  # an object array: numpy refuses it without pickle
            raise DataError(f"{path}: '{key}' holds pickled objects (an object array), never unpickled") from None
        raise DataError(f"{path}: cannot read '{key}' ({error})") from None


def _npz_pixels(path: Path, key: str, array: np.ndarray) -> np.ndarray:
    """Images (N, ...) -> (N, D) uint8: integers kept if 0-255, floats in [0, 1] scaled by 255."""
    if array.ndim < 2:
        raise DataError(f"{path}: '{key}' has shape {array.shape}; expected images (N, H, W) or (N, D)")
    flat = array.reshape(len(array), -1)
    if flat.dtype == np.uint8:
        return flat
    low, high = (flat.min(), flat.max()) if flat.size else (0, 0)
    if np.issubdtype(flat.dtype, np.integer) and 0 <= low and high <= 255:
        return flat.astype(np.uint8)
    if np.issubdtype(flat.dtype, np.floating) and 0 <= low and high <= 1:  # NaN fails both tests
        return np.rint(flat * 255).astype(np.uint8)
    raise DataError(
        f"{path}: '{key}' holds {flat.dtype} from {low} to {high}; expected uint8 0-255 or floats in [0, 1]"
    )


def _npz_labels(path: Path, key: str, array: np.ndarray) -> np.ndarray:
    """Labels (N,), (N, 1) or one-hot (N, K[, 1]) -> (N,) uint8, checked to lie in 0-9."""
    labels = array.reshape(array.shape[:-1]) if array.ndim > 1 and array.shape[-1] == 1 else array
    if labels.ndim == 2:
        labels = _from_one_hot(path, key, labels)
    numeric = np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.floating)
    if labels.ndim != 1 or not numeric:
        raise DataError(f"{path}: '{key}' is {array.dtype} {array.shape}; expected labels (N,) or one-hot (N, 10)")
    if len(labels) and (labels.min() < 0 or labels.max() > 9 or np.any(labels != np.round(labels))):
        raise DataError(f"{path}: '{key}' holds labels outside the whole numbers 0-9")
    return labels.astype(np.uint8)


def _from_one_hot(path: Path, key: str, rows: np.ndarray) -> np.ndarray:
    if not (np.all((rows == 0) | (rows == 1)) and np.all(rows.sum(axis=1) == 1)):
        raise DataError(f"{path}: '{key}' has shape {rows.shape} but its rows are not one-hot")
    return rows.argmax(axis=1)


# ----------------------------------------------------------------- class folders of images


def _class_folders(folder: Path) -> list[tuple[int, Path]]:
    """The subfolders of ``folder`` named 0..9, as (label, path), in label order."""
    return [(int(name), folder / name) for name in "0123456789" if (folder / name).is_dir()]


def _unnest(folder: Path) -> Path:
    """``trainingSet/trainingSet/`` (how Kaggle's archives unpack) -> the inner folder."""
    inner = folder / folder.name
    return inner if inner.is_dir() and not _class_folders(folder) else folder


def _is_image_folder(path: Path) -> bool:
    if not path.is_dir():
        return False
    return bool(_class_folders(path)) or any((path / train).is_dir() for train, _ in IMAGE_LAYOUTS)


def load_image_folder(folder: Path) -> Dataset:
    """Read class folders ``0/``..``9/`` of images: directly in ``folder``, or under a train
    folder (``train/``, ``trainingSet/``) with an optional test folder (``test/``,
    ``testSet/``, ``testingSet/``). A test folder without class folders holds unlabelled
    images (as in Kaggle's "MNIST as JPG"), so the data set then has no test part.
    """
    if _class_folders(folder):
        return Dataset(train=read_class_folders(folder), test=None)
    for train_name, test_names in IMAGE_LAYOUTS:
        if (folder / train_name).is_dir():
            train = read_class_folders(_unnest(folder / train_name))
            tests = [_unnest(folder / name) for name in test_names if (folder / name).is_dir()]
            labelled = [test for test in tests if _class_folders(test)]
            return _dataset(train, read_class_folders(labelled[0]) if labelled else None, folder)
    raise DataError(f"{folder}: no class folders 0/..9/")


def read_class_folders(root: Path) -> Split:
    """Every image in ``root/0/`` .. ``root/9/``, labelled by its folder: images (N, 784) uint8.

    Files are read in name order within each class; hidden files (``.DS_Store``) are skipped,
    and any other file that is not an image is an error.
    """
    classes = _class_folders(root)
    if not classes:
        raise DataError(f"{root}: no class folders 0/..9/")
    files, labels = [], []
    for label, folder in classes:
        names = _image_names(folder)
        files += [folder / name for name in names]
        labels += [label] * len(names)
    images = np.empty((len(files), IMAGE_SIZE[0] * IMAGE_SIZE[1]), dtype=np.uint8)
    for row, file in enumerate(files):
        images[row] = read_image(file).reshape(-1)
    return Split(images=images, labels=np.array(labels, dtype=np.uint8))


def _image_names(folder: Path) -> list[str]:
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.is_file() and not e.name.startswith("."))
    except OSError as error:
        raise _open_error(folder, error) from None
    if not names:
        raise DataError(f"{folder}: empty class folder (no image files)")
    return names


def read_image(path: Path, size: tuple[int, int] = IMAGE_SIZE) -> np.ndarray:
    """One image file -> (height, width) uint8, as MNIST's were made: grey ("L"), resized.

    The EXIF orientation is applied first (phone photos). Nothing is inverted: the
    digit keeps whatever colours the file has.
    """
    try:
        with Image.open(path) as image:
            image.draft("L", size)  # JPEG only: decode at a reduced scale, much faster for photos
            grey = ImageOps.exif_transpose(image).convert("L")
        if grey.size != size:
            grey = grey.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        return np.asarray(grey)
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image Pillow can read (unknown format)") from None
    except Exception as error:  # Pillow signals a corrupt file with many types (OSError, SyntaxError, ...)
        raise DataError(f"{path}: not an image Pillow can read ({type(error).__name__}: {error})") from None


# ----------------------------------------------------------------- the formats, in the order load tries them

FORMATS: tuple[Format, ...] = (
    Format("IDX folder", _is_idx_folder, load_idx_folder),
    Format("CSV folder", _is_csv_folder, load_csv_folder),
    Format("class folders", _is_image_folder, load_image_folder),
    Format("npz", _is_npz, load_npz),
    Format("CSV", _is_csv, load_csv),
)
"""What ``load`` recognises, tried in order; to add a format, add a detect and a read function."""


# ----------------------------------------------------------------- splits and batches


def split_validation(
    split: Split, fraction: float, rng: np.random.Generator, stratified: bool = False
) -> tuple[Split, Split]:
    """Hold out a shuffled ``fraction`` of ``split`` for validation: (train, validation).

    With ``stratified`` each class gives the same fraction (rounded per class), so the
    validation set keeps the class proportions. Both parts keep the original row order.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must lie strictly between 0 and 1, got {fraction}")
    order = rng.permutation(len(split))
    held = _stratified_mask(split.labels, order, fraction) if stratified else _first_mask(len(split), fraction)
    if held.all() or not held.any():
        raise ValueError(f"a validation fraction of {fraction} of {len(split)} rows leaves one part empty")
    return split.take(np.sort(order[~held])), split.take(np.sort(order[held]))


def _first_mask(n: int, fraction: float) -> np.ndarray:
    """Hold out the first ``fraction`` of a shuffled order (at least one row)."""
    held = np.zeros(n, dtype=bool)
    held[: max(1, int(round(fraction * n)))] = True
    return held


def _stratified_mask(labels: np.ndarray, order: np.ndarray, fraction: float) -> np.ndarray:
    """Hold out the first ``fraction`` of each class, in the shuffled ``order``."""
    shuffled = labels[order]
    by_class = np.argsort(shuffled, kind="stable")  # stable: each class stays shuffled
    classes, first, counts = np.unique(shuffled[by_class], return_index=True, return_counts=True)
    which = np.repeat(np.arange(len(classes)), counts)
    rank = np.arange(len(order)) - first[which]  # position within its own class
    held = np.zeros(len(order), dtype=bool)
    held[by_class] = rank < np.round(fraction * counts)[which]
    return held


def batches(n: int, batch_size: int, rng: np.random.Generator | None) -> Iterator[np.ndarray]:
    """Index arrays that cover ``range(n)`` in batches of ``batch_size`` (the last may be smaller).

    With ``rng`` the order is a fresh permutation drawn from it; with None it is 0..n-1.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def to_float(images: np.ndarray, dtype=np.float32) -> np.ndarray:
    """uint8 pixels (N, 784) -> floats in [0, 1] (N, 784), a new array."""
    x = images.astype(dtype)
    x *= np.dtype(dtype).type(1 / 255)
    return x
