"""``.npz`` archives in the layouts people use, read without ever unpickling.

The archive itself is opened by ``purenet.io.archive.NpzArchive`` (no pickle, no
allocation the file cannot back, no bomb); this module reads only the arrays of its
layout and checks what they hold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from purenet.base.checks import cut
from purenet.base.words import counted
from purenet.data.splits import DataError, Dataset, Split, make_dataset, square_shape
from purenet.io.archive import NpzArchive

NPZ_LAYOUTS = (
    ("x_train", "y_train", "x_test", "y_test"),  # Keras' mnist.npz
    ("training_images", "training_labels", "test_images", "test_labels"),  # the layout the early "MNIST from scratch" scripts wrote
    ("train_images", "train_labels", "test_images", "test_labels"),  # plain, with a test part
    ("images", "labels", None, None),  # plain, training data only
)
"""Key names of the ``.npz`` layouts read: (train images, train labels, test images, test labels)."""

_NOT_NUMBERS = {
    "b": "booleans", "c": "complex numbers", "U": "text", "S": "bytes", "O": "Python objects",
    "V": "raw or structured records", "M": "dates", "m": "time spans",
}


def is_npz(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".npz"


def load_npz(path: Path) -> Dataset:
    """Read an ``.npz`` in one of ``NPZ_LAYOUTS`` (never unpickling anything).

    Images: (N, H, W), (N, H, W, 1), (N, 1, H, W), (N, D) or (N, D, 1); integers 0-255,
    or floats in [0, 1] (made uint8 by rounding x * 255) or in 0-255 (rounded).
    Labels: whole numbers 0-255, (N,) or (N, 1), or one-hot (N, K[, 1]).
    """
    arrays = _read_layout(path)
    keys = _npz_layout(path, set(arrays))
    train = _npz_split(path, arrays, keys[0], keys[1])
    test = None
    if keys[2] is not None:
        present = [key for key in keys[2:] if key in arrays]
        if len(present) == 1:
            missing = ({keys[2], keys[3]} - set(present)).pop()
            raise DataError(f"{path}: has '{present[0]}' but no '{missing}'; a test part needs both")
        if present:
            test = _npz_split(path, arrays, keys[2], keys[3])
    return make_dataset(train, test, path)


def _read_layout(path: Path) -> dict[str, np.ndarray]:
    """The arrays of the archive's layout, and only those (of another member only the
    header is decompressed, to check that it is an array); images and labels that declare different counts in their headers are
    refused before either is (a 40 KB bomb that claims a million images has few labels)."""
    with NpzArchive(path, DataError) as archive:
        keys = set(archive.keys())
        layout = next((layout for layout in NPZ_LAYOUTS if {layout[0], layout[1]} <= keys), None)
        if layout is None:
            return {key: np.empty(0) for key in keys}  # only the names matter: _npz_layout says what is wrong
        wanted = [key for key in layout if key is not None and key in keys]
        for key in sorted(keys - set(wanted)):
            archive.header(key)  # every member must still be an array; its data is never read
        for images, labels in ((layout[0], layout[1]), (layout[2], layout[3])):
            if images in keys and labels in keys:
                _check_counts(path, images, archive.header(images)[0], labels, archive.header(labels)[0])
        return {key: archive.read(key) for key in wanted}


def _check_counts(path: Path, images_key: str, images: tuple[int, ...], labels_key: str, labels: tuple[int, ...]) -> None:
    if images and labels and images[0] != labels[0]:
        raise DataError(f"{path}: {counted(images[0], 'image')} in '{images_key}' but {counted(labels[0], 'label')} "
                        f"in '{labels_key}'")


def _npz_layout(path: Path, keys: set[str]) -> tuple[str | None, ...]:
    for layout in NPZ_LAYOUTS:
        if {layout[0], layout[1]} <= keys:
            return layout
    if "meta" in keys and any(key.startswith("param.") for key in keys):
        raise DataError(f"{path}: a purenet checkpoint (a trained model), not a data set")
    known = "; ".join(", ".join(k for k in layout if k) for layout in NPZ_LAYOUTS)
    shown = sorted(keys)[:10] + (["..."] if len(keys) > 10 else [])
    raise DataError(f"{path}: unknown .npz layout, keys {shown}; expected one of: {known}")


def _npz_split(path: Path, arrays: dict[str, np.ndarray], images_key: str, labels_key: str) -> Split:
    images, image_shape = _npz_pixels(path, images_key, arrays[images_key])
    labels = _npz_labels(path, labels_key, arrays[labels_key])
    if len(images) != len(labels):
        raise DataError(f"{path}: {counted(len(images), 'image')} in '{images_key}' but {counted(len(labels), 'label')} in '{labels_key}'")
    return Split(images=images, labels=labels, image_shape=image_shape)


def _check_numbers(path: Path, key: str, array: np.ndarray, expected: str) -> None:
    """Refuse an array of anything but integers or floats, and a single value (0-d)."""
    kind = array.dtype.kind
    if kind not in "uif":
        raise DataError(f"{path}: '{key}' holds {cut(str(array.dtype), 40)} ({_NOT_NUMBERS.get(kind, 'not numbers')}); expected {expected} as numbers")
    if array.ndim == 0:
        raise DataError(f"{path}: '{key}' is a single value, shape (); expected {expected}")


def _image_layout(path: Path, key: str, shape: tuple[int, ...]) -> tuple[int, tuple[int, int] | None]:
    """(pixels per image, (rows, cols) or None) for an images array of ``shape``."""
    expected = "expected images (N, H, W), (N, H, W, 1) or (N, D)"
    if len(shape) == 2 or (len(shape) == 3 and shape[2] == 1):  # (N, D) or (N, D, 1): flat vectors
        return shape[1], square_shape(shape[1])
    if len(shape) == 3:
        return shape[1] * shape[2], (shape[1], shape[2])
    if len(shape) == 4 and shape[3] == 1:  # channels last: (N, H, W, 1)
        return shape[1] * shape[2], (shape[1], shape[2])
    if len(shape) == 4 and shape[1] == 1:  # channels first: (N, 1, H, W)
        return shape[2] * shape[3], (shape[2], shape[3])
    if len(shape) == 4:
        raise DataError(f"{path}: '{key}' has shape {shape}: {shape[3]} channels per pixel; "
                        f"purenet reads grey images (one channel), {expected}")
    raise DataError(f"{path}: '{key}' has shape {shape}; {expected}")


def _npz_pixels(path: Path, key: str, array: np.ndarray) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Images -> (N, D) uint8 and their (rows, cols): integers 0-255 kept, floats scaled or rounded."""
    _check_numbers(path, key, array, "images (N, H, W) or (N, D)")
    pixels, image_shape = _image_layout(path, key, array.shape)
    if len(array) == 0:
        raise DataError(f"{path}: '{key}' holds no images (shape {array.shape})")
    if pixels == 0:
        raise DataError(f"{path}: '{key}' has shape {array.shape}: images of no pixels")
    flat = array.reshape(len(array), pixels)
    if flat.dtype == np.uint8:
        return flat, image_shape
    with np.errstate(all="ignore"):
        low, high = flat.min(), flat.max()
        if flat.dtype.kind in "ui":
            if low < 0 or high > 255:
                raise DataError(f"{path}: '{key}' holds {flat.dtype} pixels from {low} to {high}; expected 0-255")
            return flat.astype(np.uint8), image_shape
        if not (np.isfinite(low) and np.isfinite(high)):
            what = "NaN (not a number)" if np.isnan(low) or np.isnan(high) else "infinite values"
            raise DataError(f"{path}: '{key}' holds {what}; expected pixels as floats in [0, 1] or 0-255")
        if low < 0 or high > 255:
            raise DataError(f"{path}: '{key}' holds {flat.dtype} pixels from {low:.6g} to {high:.6g}; "
                            "expected floats in [0, 1] (scaled by 255) or 0-255")
        scaled = flat * np.float32(255) if high <= 1 else flat  # floats above 1 are 0-255 pixel values
        return np.rint(scaled).astype(np.uint8), image_shape


def _npz_labels(path: Path, key: str, array: np.ndarray) -> np.ndarray:
    """Labels (N,), (N, 1) or one-hot (N, K[, 1]) -> (N,) uint8, checked to be whole numbers 0-255."""
    _check_numbers(path, key, array, "labels (N,) or one-hot (N, K)")
    labels = array.reshape(array.shape[:-1]) if array.ndim > 1 and array.shape[-1] == 1 else array
    if labels.ndim == 2:
        labels = _from_one_hot(path, key, labels)
    if labels.ndim != 1:
        raise DataError(f"{path}: '{key}' has shape {array.shape}; expected labels (N,) or one-hot (N, K)")
    if labels.dtype == np.uint8:
        return labels
    with np.errstate(all="ignore"):
        whole = np.isfinite(labels) & (labels == np.round(labels)) if labels.dtype.kind == "f" else True
        bad = ~(whole & (labels >= 0) & (labels <= 255))
    if bad.any():
        index = int(np.argmax(bad))
        shown, problem = _label_problem(labels[index])
        raise DataError(f"{path}: '{key}' holds {shown} at index {index}{problem}; labels are whole numbers 0-255")
    return labels.astype(np.uint8)


def _label_problem(value) -> tuple[str, str]:
    """How to show a bad label, and what is wrong with it (after a comma, or nothing)."""
    if np.isnan(value):
        return "NaN (not a number)", ""
    if np.isinf(value):
        return str(value), " (infinite)"
    if value != np.round(value):
        return f"{value:.6g}", ", not a whole number"
    shown = f"{value:.0f}" if isinstance(value, np.floating) else str(value)
    return shown, ", a negative label" if value < 0 else ", above 255"


def _from_one_hot(path: Path, key: str, rows: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        one_hot = np.all((rows == 0) | (rows == 1)) and np.all(rows.sum(axis=1) == 1)
    if not one_hot:
        raise DataError(f"{path}: '{key}' has shape {rows.shape} but its rows are not one-hot")
    if rows.shape[1] > 256:
        raise DataError(f"{path}: '{key}' is one-hot over {rows.shape[1]} classes; labels go up to 255 at most")
    return rows.argmax(axis=1).astype(np.uint8)
