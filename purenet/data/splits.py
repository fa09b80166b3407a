"""The records every data source becomes, and the pure functions that cut them up.

    Split(images, labels)              images (N, pixels) uint8, labels (N,) integers, read-only
    Dataset(train, test)               a training split and, where the source has one, a test split
    split_validation(split, frac, rng) -> (train Split, validation Split)
    batches(n, batch_size, rng)        -> index arrays, a fresh shuffle each call
    to_float(images)                   -> float32 in [0, 1], one batch at a time
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import attrs
import numpy as np

from purenet.records import readonly


class DataError(ValueError):
    """A data source is missing or malformed; the message names the file and the problem."""


@attrs.frozen
class Split:
    """One part of a data set: ``images`` (N, H*W) uint8 and ``labels`` (N,) integers, read-only."""

    images: np.ndarray = attrs.field(converter=readonly, eq=attrs.cmp_using(eq=np.array_equal))
    labels: np.ndarray = attrs.field(converter=readonly, eq=attrs.cmp_using(eq=np.array_equal))

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


def make_dataset(train: Split, test: Split | None, source: Path) -> Dataset:
    """A Dataset, once sure both parts have the same number of pixels per image."""
    if test is not None and train.images.shape[1] != test.images.shape[1]:
        raise DataError(
            f"{source}: training images have {train.images.shape[1]} pixels but test images {test.images.shape[1]}"
        )
    return Dataset(train=train, test=test)


def open_error(path: Path, error: Exception) -> DataError:
    """The DataError for a file the operating system would not let us read."""
    return DataError(f"{path}: cannot read ({error})")


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
