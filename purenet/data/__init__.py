"""Data: reading MNIST-like sources, holding them as uint8, and cutting them into batches.

    load(path)                         -> Dataset(train=Split, test=Split), has_test False when the source has none
    split_validation(split, frac, rng) -> (train Split, validation Split)
    batches(n, batch_size, rng)        -> index arrays, a fresh shuffle each call
    to_float(images)                   -> float32 in [0, 1], one batch at a time

``load`` finds out what is at ``path`` by asking each entry of ``FORMATS`` in
turn (the four IDX files, CSV, ``.npz``, folders of images named by class) and
reads it with that format's reader, each in its own module. Whatever the source,
images come back as uint8 (N, H*W) and labels as uint8 (N,) (any whole numbers
0-255), both read-only, with ``image_shape`` (H, W) where the source says it, so
the whole of MNIST costs 55 MB, not 220. Every problem with a source raises one
``DataError`` whose message starts with the file's path and says what is wrong
with it. See docs/data.md for each format, with examples.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Callable

import attrs

from purenet.base.mnist import to_float  # here for scripts: `from purenet.data import load, to_float`
from purenet.data.csvfiles import CSV_NAMES, is_csv, is_csv_folder, load_csv, load_csv_folder, read_csv
from purenet.data.folders import IMAGE_LAYOUTS, IMAGE_SIZE, is_image_folder, load_image_folder, read_class_folders, read_image
from purenet.data.idx import IDX_NAMES, is_idx_folder, load_idx_folder, missing_idx_files, read_idx
from purenet.data.npz import NPZ_LAYOUTS, is_npz, load_npz
from purenet.data.splits import DataError, Dataset, Split, batches, open_error, split_validation
from purenet.io.reading import file_kind


@attrs.frozen
class Format:
    """One kind of source: ``detect(path)`` says whether it is at ``path``; ``read(path)`` loads it."""

    name: str
    detect: Callable[[Path], bool]
    read: Callable[[Path], Dataset]


FORMATS: tuple[Format, ...] = (
    Format("IDX folder", is_idx_folder, load_idx_folder),
    Format("CSV folder", is_csv_folder, load_csv_folder),
    Format("class folders", is_image_folder, load_image_folder),
    Format("npz", is_npz, load_npz),
    Format("CSV", is_csv, load_csv),
)
"""What ``load`` recognises, tried in order; to add a format, add a detect and a read function."""


def default_data_dir() -> Path:
    """Where ``purenet`` looks for MNIST when no ``--data`` is given.

    ``$PURENET_DATA`` if set; else the ``data/mnist`` folder of the source checkout
    this package runs from (a clone trains offline); else, for an install outside a
    checkout, ``$XDG_DATA_HOME/purenet/mnist`` (``~/.local/share/purenet/mnist``),
    where ``purenet`` downloads MNIST the first time it is needed.
    """
    if os.environ.get("PURENET_DATA"):
        return Path(os.environ["PURENET_DATA"])
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "data").is_dir():
        return checkout / "data" / "mnist"
    user_data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(user_data) / "purenet" / "mnist"


def load(path: str | os.PathLike[str]) -> Dataset:
    """Read the data set at ``path``, whatever its format (see ``FORMATS`` and docs/data.md).

    >>> mnist = load("data/mnist")                            # doctest: +SKIP
    >>> mnist.train.images.shape, mnist.test.labels.shape     # doctest: +SKIP
    ((60000, 784), (10000,))

    Every problem raises one ``DataError`` whose message starts with the path at fault.
    ``path`` must be a folder or a regular file: a FIFO, socket or device is refused
    without being opened (opening a FIFO would wait for a writer).
    """
    path = Path(path)
    try:
        _check_source(path)
        for source in FORMATS:
            if source.detect(path):
                return source.read(path)
        message = _unknown_source_message(path)
    except OSError as error:  # a check the readers do not expect to fail (permissions on a folder, ...)
        raise DataError(f"{error.filename or path}: cannot read ({error.strerror or error})") from None
    except MemoryError:
        raise DataError(f"{path}: not enough memory to load it") from None
    raise DataError(message)


def _check_source(path: Path) -> None:
    """Refuse a path that does not exist, cannot be examined, or is neither a folder nor a file."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        if os.path.islink(path):
            raise DataError(f"{path}: a broken link (what it points to does not exist)") from None
        raise DataError(f"{path}: no such file or folder") from None
    except OSError as error:
        raise open_error(path, error) from None
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise DataError(f"{path}: {file_kind(mode)}, not a data file or folder")


def _unknown_source_message(path: Path) -> str:
    kinds = "a folder of the four MNIST IDX files, of mnist_train.csv, or of class folders 0/, 1/, ...; a .csv; a .npz"
    if any(path.name.startswith(names) for names in IDX_NAMES.values()):
        return f"{path}: a single IDX file; pass the folder that holds all four"
    if "idx" in path.name and "ubyte" in path.name and not path.is_dir():
        names = ", ".join(names[0] for names in IDX_NAMES.values())
        return f"{path}: a single IDX file; pass a folder that holds the four, named {names} (raw or .gz)"
    if path.is_dir():
        if path.suffix.lower() in (".npz", ".csv"):
            return f"{path}: a folder, not a {path.suffix} file"
        with os.scandir(path) as entries:
            empty = next(entries, None) is None
        if empty:
            return f"{path}: an empty folder, not a data set purenet can read (it reads {kinds})"
        return f"{path}: not a data set purenet can read (it reads {kinds})"
    if path.suffix.lower() == ".npy":
        return (f"{path}: a single .npy array; save images and labels together in an .npz, "
                "e.g. np.savez(path, images=..., labels=...)")
    what = f"a {path.suffix} file" if path.suffix else "a file without a suffix"
    return f"{path}: {what} is not a data set purenet can read (it reads {kinds})"


__all__ = [
    "load", "default_data_dir", "FORMATS", "Format", "DataError", "Dataset", "Split",
    "split_validation", "batches", "to_float",
    "read_idx", "load_idx_folder", "missing_idx_files", "IDX_NAMES",
    "read_csv", "load_csv", "load_csv_folder", "CSV_NAMES",
    "load_npz", "NPZ_LAYOUTS",
    "load_image_folder", "read_class_folders", "read_image", "IMAGE_LAYOUTS", "IMAGE_SIZE",
]
