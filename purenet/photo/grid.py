"""Digits as a picture, for a notebook: ``show_digits(images)`` displays as an image.

    show_digits(dataset.test.images[:20])        # in Jupyter: a grid of 20 digits
    show_digits(answer.image)                     # one digit, e.g. what predict_image saw
    show_digits(images).save("digits.png")        # the same picture as a file

Jupyter (and IPython's other front ends) draw any object with a ``_repr_png_`` method
as the PNG it returns, so the picture needs Pillow only, not matplotlib.
"""

from __future__ import annotations

import io
import math
import os

import attrs
import numpy as np

from purenet.base.mnist import SHAPE

GAP = 2
"""Pixels of grey between two digits of a grid, so that neighbours do not run together."""
GAP_LEVEL = 96


@attrs.frozen
class DigitsPicture:
    """A PNG of digits; shown as an image by Jupyter, and savable as a file."""

    png: bytes = attrs.field(repr=lambda png: f"<{len(png)} bytes of PNG>")

    def _repr_png_(self) -> bytes:
        return self.png

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the PNG to ``path``."""
        with open(path, "wb") as handle:
            handle.write(self.png)


def show_digits(images: np.ndarray, columns: int = 10, scale: int = 2,
                shape: tuple[int, int] = SHAPE) -> DigitsPicture:
    """A grid of digits, ``columns`` to a row, each pixel drawn ``scale`` x ``scale``.

    ``images``: one digit or a batch, flat (784,) / (N, 784) or square (28, 28) /
    (N, 28, 28) (``shape`` for other sizes), uint8 0-255 or floats 0-1, drawn as
    they are (MNIST's white ink on black).
    """
    pixels = _uint8(np.asarray(images))
    batch = pixels.reshape(-1, *shape)
    if len(batch) == 0:
        raise ValueError("no digits to show")
    if columns < 1 or scale < 1:
        raise ValueError("columns and scale are whole numbers of at least 1")
    columns = min(columns, len(batch))
    rows = math.ceil(len(batch) / columns)
    height, width = shape
    grid = np.full((rows * (height + GAP) - GAP, columns * (width + GAP) - GAP), GAP_LEVEL, np.uint8)
    for k, digit in enumerate(batch):
        top, left = (k // columns) * (height + GAP), (k % columns) * (width + GAP)
        grid[top : top + height, left : left + width] = digit
    grid = np.kron(grid, np.ones((scale, scale), np.uint8))  # each pixel a scale x scale block: crisp, not blurred

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(grid).save(buffer, format="PNG")
    return DigitsPicture(buffer.getvalue())


def _uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype.kind == "f":
        if pixels.size and not (np.isfinite(pixels).all() and pixels.min() >= 0 and pixels.max() <= 1):
            raise ValueError("digits of floats hold values from 0 to 1 (or give uint8 pixels, 0-255)")
        floats: np.ndarray = np.rint(pixels * 255)
        return floats.astype(np.uint8)
    if pixels.dtype.kind in "iu" and (not pixels.size or (pixels.min() >= 0 and pixels.max() <= 255)):
        return pixels.astype(np.uint8)
    raise ValueError(f"digits are uint8 pixels 0-255 or floats 0-1, got {pixels.dtype}")
