"""``.npz`` archives in the layouts people use, read without ever unpickling."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from purenet.data.splits import DataError, Dataset, Split, make_dataset

NPZ_LAYOUTS = (
    ("x_train", "y_train", "x_test", "y_test"),  # Keras' mnist.npz
    ("training_images", "training_labels", "test_images", "test_labels"),  # the old script's
    ("train_images", "train_labels", "test_images", "test_labels"),  # plain, with a test part
    ("images", "labels", None, None),  # plain, training data only
)
"""Key names of the ``.npz`` layouts read: (train images, train labels, test images, test labels)."""

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def is_npz(path: Path) -> bool:
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
    return make_dataset(train, test, path)


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
