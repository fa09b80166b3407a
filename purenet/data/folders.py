"""Folders of images named by class, ``0/``..``9/`` (JPEG, PNG, any size or colour)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from purenet.data.splits import DataError, Dataset, Split, make_dataset, open_error

IMAGE_LAYOUTS = (("train", ("test",)), ("trainingSet", ("testSet", "testingSet")))
"""Folder pairs (train, possible test names) that may hold class folders ``0/``..``9/``."""

IMAGE_SIZE = (28, 28)
"""Images read from class folders are made grey and resized to this (width, height), like MNIST."""


def _class_folders(folder: Path) -> list[tuple[int, Path]]:
    """The subfolders of ``folder`` named 0..9, as (label, path), in label order."""
    return [(int(name), folder / name) for name in "0123456789" if (folder / name).is_dir()]


def _unnest(folder: Path) -> Path:
    """``trainingSet/trainingSet/`` (how Kaggle's archives unpack) -> the inner folder."""
    inner = folder / folder.name
    return inner if inner.is_dir() and not _class_folders(folder) else folder


def is_image_folder(path: Path) -> bool:
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
            return make_dataset(train, read_class_folders(labelled[0]) if labelled else None, folder)
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
        raise open_error(folder, error) from None
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
