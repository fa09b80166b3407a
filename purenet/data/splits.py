"""The records every data source becomes, and the pure functions that cut them up.

    Split(images, labels, image_shape) images (N, pixels) uint8, labels (N,) integers, read-only
    Dataset(train, test, classes=None) a training split and, where the source has one, a test split (has_test);
                                       ``classes`` names the labels 0, 1, ... (None: each label is its own name)
    split_validation(split, frac, rng) -> (train Split, validation Split)
    batches(n, batch_size, rng)        -> index arrays, a fresh shuffle each call

Also the helpers every reader shares: ``open_regular`` (open a file without ever
blocking on a FIFO or a device), ``open_error`` and ``make_dataset``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import BinaryIO, Iterator

import attrs
import numpy as np

from purenet.base.readonly import readonly
from purenet.base.words import counted
from purenet.io import reading
from purenet.io.reading import cannot_read


class DataError(ValueError):
    """A data source is missing or malformed; the message names the file and the problem."""


def _image_shape(value) -> tuple[int, int] | None:
    if value is None:
        return None
    rows, cols = (int(n) for n in value)
    return rows, cols


@attrs.frozen
class Split:
    """One part of a data set: ``images`` (N, H*W) uint8 and ``labels`` (N,) integers, read-only.

    ``image_shape`` is (rows, cols) of each image, when the source says (None when unknown,
    e.g. a CSV of 100 pixels per row could be 10x10 or 4x25); rows * cols is the pixel count.
    """

    images: np.ndarray = attrs.field(converter=readonly, eq=attrs.cmp_using(eq=np.array_equal))
    labels: np.ndarray = attrs.field(converter=readonly, eq=attrs.cmp_using(eq=np.array_equal))
    image_shape: tuple[int, int] | None = attrs.field(default=None, converter=_image_shape)

    def __attrs_post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise ValueError(f"{counted(len(self.images), 'image')} but {counted(len(self.labels), 'label')}")
        if self.image_shape is not None:
            rows, cols = self.image_shape
            pixels = self.images.shape[1] if self.images.ndim == 2 else None
            if rows < 1 or cols < 1 or pixels != rows * cols:
                raise ValueError(f"image_shape {rows}x{cols} does not fit images of shape {self.images.shape}")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def shape_or_square(self) -> tuple[int, int] | None:
        """``image_shape`` if the source said it, else square when the pixel count is one, else None."""
        return self.image_shape if self.image_shape is not None else square_shape(self.images.shape[1])

    def take(self, index: np.ndarray | slice) -> Split:
        """The rows at ``index``, as a new split (with the same ``image_shape``)."""
        return Split(images=self.images[index], labels=self.labels[index], image_shape=self.image_shape)


@attrs.frozen
class Dataset:
    """A training split and, where the source has one, a test split: ``Dataset(train, test=None)``.

    ``test`` is a ``Split`` (so ``load(path).test.images`` type-checks); for a source with
    no labelled test part, reading it raises ``DataError``: ask ``has_test`` first.
    """

    train: Split
    _test: Split | None = None  # the constructor's ``test=``
    classes: tuple[str, ...] | None = attrs.field(default=None, kw_only=True, converter=attrs.converters.optional(tuple))
    """The name of each label, label 0 first ("T-shirt/top", ... for Fashion-MNIST); None when the
    source does not say, and each label is then its own name (the digits of MNIST)."""

    @property
    def has_test(self) -> bool:
        """Whether the source has a labelled test part."""
        return self._test is not None

    @property
    def test(self) -> Split:
        """The test part; ``DataError`` when the source has none (see ``has_test``)."""
        if self._test is None:
            raise DataError("this data set has no test part (its source holds training data only)")
        return self._test


def class_names(classes: tuple[str, ...] | None, count: int) -> tuple[str, ...]:
    """The names of labels 0 .. count-1: ``classes`` when given, else the labels written as numbers."""
    if classes is None:
        return tuple(str(label) for label in range(count))
    if len(classes) < count:
        raise ValueError(f"{counted(len(classes), 'class name')} for {counted(count, 'class', 'classes')}")
    return tuple(classes[:count])


def square_shape(pixels: int) -> tuple[int, int] | None:
    """(r, r) when ``pixels`` is a perfect square r * r, else None (the shape is unknown)."""
    root = math.isqrt(pixels) if pixels > 0 else 0
    return (root, root) if root and root * root == pixels else None


def make_dataset(train: Split, test: Split | None, source: Path) -> Dataset:
    """A Dataset, once sure neither part is empty and both have the same image size."""
    for name, part in (("training", train), ("test", test)):
        if part is not None and len(part) == 0:
            raise DataError(f"{source}: the {name} part holds no images")
    if test is not None and train.images.shape[1] != test.images.shape[1]:
        raise DataError(
            f"{source}: training images have {train.images.shape[1]} pixels but test images {test.images.shape[1]}"
        )
    shapes = (train.image_shape, test.image_shape if test is not None else None)
    if None not in shapes and shapes[0] != shapes[1]:
        (r1, c1), (r2, c2) = shapes
        raise DataError(f"{source}: training images are {r1}x{c1} but test images are {r2}x{c2}")
    return Dataset(train=train, test=test)


def open_error(path: Path, error: OSError, error_type: type[Exception] = DataError) -> Exception:
    """The one-line error for a file the operating system would not let us read."""
    return error_type(f"{path}: {cannot_read(error)}")


def open_regular(path: Path, error_type: type[Exception] = DataError) -> BinaryIO:
    """``purenet.io.reading.open_regular`` raising ``DataError`` (or ``error_type``): a FIFO or a
    device is refused, never opened for reading, so reading a data file never blocks."""
    return reading.open_regular(path, error_type)


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

