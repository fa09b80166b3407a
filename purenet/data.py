"""Data: reading MNIST, holding it as uint8, and cutting it into batches.

    load(path)                         -> Dataset(train=Split, test=Split | None)
    split_validation(split, frac, rng) -> (train Split, validation Split)
    batches(n, batch_size, rng)        -> index arrays, a fresh shuffle each call
    to_float(images)                   -> float32 in [0, 1], one batch at a time

Images stay uint8 (N, 784) and read-only until a batch is drawn, so the whole of
MNIST costs 55 MB, not 220. Every problem with a file raises ``DataError`` naming
the file and what is wrong with it.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Iterator

import attrs
import numpy as np

from purenet.records import readonly

IDX_NAMES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}
"""The four MNIST files, under both namings seen in the wild (each raw or ``.gz``)."""

_IDX_UBYTE = 0x08


class DataError(ValueError):
    """A data source is missing or malformed; the message names the file and the problem."""


def _labels_field():
    return attrs.field(converter=readonly, eq=attrs.cmp_using(eq=np.array_equal))


@attrs.frozen
class Split:
    """One part of a data set: ``images`` (N, 784) uint8 and ``labels`` (N,) integers."""

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


def default_data_dir() -> Path:
    """Where ``purenet`` looks for MNIST when no ``--data`` is given.

    ``$PURENET_DATA`` if set; otherwise the ``data/mnist`` folder of the source
    checkout this package was installed from (a clone trains offline).
    """
    if os.environ.get("PURENET_DATA"):
        return Path(os.environ["PURENET_DATA"])
    return Path(__file__).resolve().parent.parent / "data" / "mnist"


def load(path: str | os.PathLike) -> Dataset:
    """Read the data set at ``path``: a folder holding the four MNIST IDX files.

    >>> mnist = load("data/mnist")                            # doctest: +SKIP
    >>> mnist.train.images.shape, mnist.test.labels.shape     # doctest: +SKIP
    ((60000, 784), (10000,))
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if not path.is_dir():
        raise DataError(f"{path}: not a folder of MNIST IDX files")
    return load_idx_folder(path)


def load_idx_folder(folder: Path) -> Dataset:
    """Read the four IDX files of ``folder`` (gzipped or raw, either naming)."""
    files = {key: _find_idx(folder, names) for key, names in IDX_NAMES.items()}
    train = _idx_split(files["train_images"], files["train_labels"])
    test = _idx_split(files["test_images"], files["test_labels"])
    return Dataset(train=train, test=test)


def _find_idx(folder: Path, names: tuple[str, ...]) -> Path:
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise DataError(f"{folder}: no {names[0]}[.gz] file (looked for {', '.join(names)}, raw or .gz)")


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
    """Read one IDX file of unsigned bytes (raw or gzipped) as a read-only uint8 array."""
    try:
        raw = _read_bytes(path)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: cannot read ({error})") from None
    if len(raw) < 4:
        raise DataError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != _IDX_UBYTE or raw[3] == 0:
        raise DataError(f"{path}: wrong magic number {raw[:4].hex()} (an IDX file of bytes starts 000008)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(f"{path}: header promises {expected} bytes of data for shape {shape}, found {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as handle:
        raw = handle.read()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def split_validation(split: Split, fraction: float, rng: np.random.Generator) -> tuple[Split, Split]:
    """Hold out a shuffled ``fraction`` of ``split`` for validation: (train, validation)."""
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must lie strictly between 0 and 1, got {fraction}")
    order = rng.permutation(len(split))
    n_val = max(1, int(round(fraction * len(split))))
    return split.take(np.sort(order[n_val:])), split.take(np.sort(order[:n_val]))


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
