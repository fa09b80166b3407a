"""MNIST's geometry, stated once: every floor that needs "28x28" or "784" reads it here.

    SIDE, SHAPE, PIXELS, CLASSES   28, (28, 28), 784, 10
    BOX                            20: the box each digit's ink was scaled to fit (LeCun, Cortes and Burges)
    check_reads_digits(inputs)     None, or the one-line reason a model reading ``inputs`` values cannot read a digit
    to_float(images)               uint8 pixels -> floats in [0, 1], what a network reads

A model that reads photos (``purenet predict``, ``purenet serve``, ``predict_image``)
sees the digit the photo pipeline made: SHAPE pixels, so its first layer must read
PIXELS values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import DTypeLike

SIDE = 28
SHAPE = (SIDE, SIDE)
PIXELS = SIDE * SIDE
CLASSES = 10
BOX = 20


def check_reads_digits(inputs: int) -> str | None:
    """Why a model whose first layer reads ``inputs`` values cannot read an MNIST digit, or None."""
    if inputs == PIXELS:
        return None
    return (f"the model reads {inputs} values per image; a digit prepared from a photo is "
            f"{SIDE}x{SIDE} = {PIXELS} pixels")


def to_float(images: np.ndarray, dtype: DTypeLike = "float32") -> np.ndarray:
    """uint8 pixels (N, 784) -> floats in [0, 1] (N, 784), a new array of ``dtype``.

    The one place pixels become a network's input: training, evaluation and a photo's
    prediction all divide by 255 here. (``purenet.data.to_float`` is this function.)
    """
    import numpy as np  # here, not at the top: the constants above stay free of NumPy for `purenet --help`

    x = images.astype(dtype)
    x *= np.dtype(dtype).type(1 / 255)
    return x
