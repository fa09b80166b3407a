"""Folders of images named by class, ``0/``, ``1/``, ... (JPEG, PNG, any size, colour or depth)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from purenet.base.checks import one_line
from purenet.base.mnist import SIDE
from purenet.data.splits import DataError, Dataset, Split, make_dataset, open_error, open_regular
from purenet.io.images import REDUCING_GAP, check_pixels
from purenet.io.reading import file_kind

IMAGE_LAYOUTS = (("train", ("test",)), ("trainingSet", ("testSet", "testingSet")))
"""Folder pairs (train, possible test names) that may hold class folders ``0/``, ``1/``, ..."""

IMAGE_SIZE = (SIDE, SIDE)
"""Images read from class folders are made grey and resized to this (width, height), MNIST's."""

MAX_LABEL = 255
"""Class folders are named by a whole number 0-255 (``0/``..``9/`` for digits, up to 61 for EMNIST)."""


def _class_folders(folder: Path) -> list[tuple[int, Path]]:
    """The subfolders of ``folder`` named by a label 0-255, as (label, path), in label order."""
    try:
        with os.scandir(folder) as entries:
            found = [(int(e.name), Path(e.path)) for e in entries if _is_label(e.name) and e.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as error:
        raise open_error(folder, error) from None
    found.sort()
    for (label, first), (other, second) in zip(found, found[1:]):
        if label == other:
            raise DataError(f"{folder}: class folders {first.name}/ and {second.name}/ both stand for label {label}")
    return found


def _is_label(name: str) -> bool:
    return name.isascii() and name.isdigit() and len(name) <= 3 and int(name) <= MAX_LABEL


def _unnest(folder: Path) -> Path:
    """``trainingSet/trainingSet/`` (how Kaggle's archives unpack) -> the inner folder."""
    inner = folder / folder.name
    return inner if inner.is_dir() and not _class_folders(folder) else folder


def is_image_folder(path: Path) -> bool:
    if not path.is_dir():
        return False
    return bool(_class_folders(path)) or any((path / train).is_dir() for train, _ in IMAGE_LAYOUTS)


def load_image_folder(folder: Path) -> Dataset:
    """Read class folders ``0/``, ``1/``, ... of images: directly in ``folder``, or under a
    train folder (``train/``, ``trainingSet/``) with an optional test folder (``test/``,
    ``testSet/``, ``testingSet/``). A test folder without class folders holds unlabelled
    images (as in Kaggle's "MNIST as JPG"), so the data set then has no test part.
    """
    if _class_folders(folder):
        return make_dataset(read_class_folders(folder), None, folder)
    for train_name, test_names in IMAGE_LAYOUTS:
        if (folder / train_name).is_dir():
            train = read_class_folders(_unnest(folder / train_name))
            tests = [_unnest(folder / name) for name in test_names if (folder / name).is_dir()]
            labelled = [test for test in tests if _class_folders(test)]
            return make_dataset(train, read_class_folders(labelled[0]) if labelled else None, folder)
    raise DataError(f"{folder}: no class folders (0/, 1/, ... named by label)")


def read_class_folders(root: Path) -> Split:
    """Every image in ``root/0/``, ``root/1/``, ..., labelled by its folder: images (N, 784) uint8.

    Files are read in name order within each class; hidden files (``.DS_Store``) and
    subfolders are skipped. Any other file must be an image, and a link must lead to
    one: a special file (FIFO, socket, device) is refused without being opened, as a
    FIFO would make the read wait for a writer.
    """
    classes = _class_folders(root)
    if not classes:
        raise DataError(f"{root}: no class folders (0/, 1/, ... named by label)")
    files, labels = [], []
    for label, folder in classes:
        names = _image_names(folder)
        files += [folder / name for name in names]
        labels += [label] * len(names)
    width, height = IMAGE_SIZE
    images = np.empty((len(files), width * height), dtype=np.uint8)
    for row, file in enumerate(files):
        images[row] = read_image(file).reshape(-1)
    return Split(images=images, labels=np.array(labels, dtype=np.uint8), image_shape=(height, width))


def _image_names(folder: Path) -> list[str]:
    """The names of the files to read in a class folder (see ``read_class_folders``)."""
    try:
        with os.scandir(folder) as scanned:
            entries = list(scanned)
    except OSError as error:
        raise open_error(folder, error) from None
    names = []
    for entry in entries:
        try:  # an entry's own problem (a loop of links, say) is blamed on the entry, not the folder
            if entry.name.startswith(".") or entry.is_dir():
                continue
            if not entry.is_file():
                _refuse_special(Path(entry.path))
        except OSError as error:
            raise open_error(Path(entry.path), error) from None
        names.append(entry.name)
    if not names:
        raise DataError(f"{folder}: empty class folder: it holds no images")
    return sorted(names)


def _refuse_special(path: Path) -> None:
    """Refuse what sits in a class folder and is neither a folder nor a file, unopened."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise DataError(f"{path}: a broken link (what it points to does not exist)") from None
    raise DataError(f"{path}: {file_kind(mode)}, not an image file (purenet does not open it)")


def read_image(path: Path, size: tuple[int, int] = IMAGE_SIZE) -> np.ndarray:
    """One image file -> (height, width) uint8, as MNIST's were made: grey ("L"), resized.

    The EXIF orientation is applied first (phone photos). Any mode Pillow opens is read:
    colour is made grey (0.299 R + 0.587 G + 0.114 B), alpha ignored, 16-bit and float
    pixels scaled to 0-255 (see ``_grey``). Nothing is inverted: the digit keeps whatever
    colours the file has. Pillow's warnings are silenced (the library never prints).
    """
    try:
        with warnings.catch_warnings(), open_regular(path) as handle:
            warnings.simplefilter("ignore")
            with Image.open(handle) as image:
                image.draft("L", size)  # JPEG only: decode at a reduced scale, much faster for photos
                check_pixels(image.size, path, DataError)  # before decoding: a small file may declare 2 GB of pixels
                ImageOps.exif_transpose(image, in_place=True)  # in place: a copy would double a large image's cost
                grey = _grey(image)
            if grey.size != size:
                grey = grey.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
            return np.asarray(grey)
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image Pillow can read (unknown format)") from None
    except Image.DecompressionBombError as error:
        raise DataError(f"{path}: image too large, refused as a possible decompression bomb ({error})") from None
    except MemoryError:
        raise DataError(f"{path}: not enough memory to read this image") from None
    except Exception as error:  # Pillow signals a corrupt file with many types (OSError, SyntaxError, ...)
        raise DataError(f"{path}: not an image Pillow can read ({type(error).__name__}: {one_line(str(error))})") from None


def _grey(image: Image.Image) -> Image.Image:
    """``image`` in mode "L". 16-bit ("I;16*"): value / 257. 32-bit integers ("I"): taken as
    16-bit if any exceeds 255, else as 0-255. Floats ("F"): x 255 if all lie in [0, 1], else
    as 0-255. Out-of-range values are clipped, NaN made 0."""
    mode = image.mode
    if mode == "L":
        return image
    if mode.startswith("I;16") or mode in ("I", "F"):
        low, high = _value_range(image)
        factor = 1.0
        if mode.startswith("I;16") or (mode == "I" and high > 255):
            factor = 1 / 257
        elif mode == "F" and low >= 0 and high <= 1:
            factor = 255.0
        return Image.fromarray(_scaled_bytes(image, factor))
    try:
        return image.convert("L")
    except ValueError:  # a mode Pillow cannot make grey directly
        return image.convert("RGBA").convert("L")


_BAND_PIXELS = 1 << 20
"""Pixels converted to float at a time: a 40-megapixel float image costs its own size and
its bytes, not five float64 copies of it (1.4 GB)."""


def _bands(image: Image.Image) -> Iterator[tuple[slice, np.ndarray]]:
    """(rows, float64 values with NaN made 0) for each band of rows of ``image``: read
    through a crop, so that no full-size copy of the image is ever made."""
    width, height = image.size
    rows = max(1, _BAND_PIXELS // max(1, width))
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        with np.errstate(all="ignore"):
            yield slice(top, bottom), np.nan_to_num(np.asarray(image.crop((0, top, width, bottom)), dtype=np.float64))


def _value_range(image: Image.Image) -> tuple[float, float]:
    """The least and greatest value of ``image``, NaN taken as 0 (0, 0 when it is empty)."""
    ranges = [(float(band.min()), float(band.max())) for _, band in _bands(image) if band.size]
    if not ranges:
        return 0.0, 0.0
    lows, highs = zip(*ranges)
    return min(lows), max(highs)


def _scaled_bytes(image: Image.Image, factor: float) -> np.ndarray:
    """``image`` times ``factor``, clipped to 0-255 and rounded, as uint8, a band at a time."""
    pixels = np.empty((image.height, image.width), np.uint8)
    for rows, band in _bands(image):
        with np.errstate(all="ignore"):
            pixels[rows] = np.rint(np.clip(band * factor, 0, 255))
    return pixels

