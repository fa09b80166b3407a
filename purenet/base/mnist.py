"""MNIST's geometry, stated once: every floor that needs "28x28" or "784" reads it here.

    SIDE, SHAPE, PIXELS, CLASSES   28, (28, 28), 784, 10
    BOX                            20: the box each digit's ink was scaled to fit (LeCun, Cortes and Burges)
    check_reads_digits(inputs)     None, or the one-line reason a model reading ``inputs`` values cannot read a digit

A model that reads photos (``purenet predict``, ``purenet serve``, ``predict_image``)
sees the digit the photo pipeline made: SHAPE pixels, so its first layer must read
PIXELS values.
"""

from __future__ import annotations

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
