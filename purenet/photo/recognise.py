"""Reading one handwritten digit in one call, the way ``purenet predict`` does it.

    predict_image(params, "my-digit.jpg")      -> DigitPrediction(digit=7, probabilities=..., image=...)
    predict_image(params, photo_array)         -> the same, from pixels already in memory
    predict_image(params, mnist_digit, prepared=True)   -> a 28x28 MNIST digit, used as it is
    predict_image(params, photo, calibration=cal, classes=names) -> calibrated; ``sure`` False when refused

A script that reads photos needs the steps ``purenet predict`` takes: read the file,
prepare it the way MNIST was made (``purenet.photo.prepare``), scale the pixels to [0, 1],
run the network and pick the likeliest class. Doing them here means the command and
a script get the same answer for the same photo: the command calls this function.
"""

from __future__ import annotations

import os
from typing import Sequence, Union

import attrs
import numpy as np

from purenet.base.mnist import PIXELS, SHAPE, SIDE, check_reads_digits, to_float
from purenet.core.calibration import Calibration
from purenet.core.ensemble import check_members, ensemble_probabilities
from purenet.core.losses import get_loss
from purenet.core.network import forward
from purenet.core.records import Params
from purenet.photo.prepare import load_digit_image, preprocess

ImageSource = Union[str, "os.PathLike[str]", np.ndarray]


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array)  # a copy the record owns
    array.setflags(write=False)
    return array


@attrs.frozen
class DigitPrediction:
    """What the network read in one image.

    ``digit``: the likeliest class; ``probabilities``: (K,) of every class, summing to 1;
    ``image``: the (28, 28) uint8 picture the network saw (white ink on black), which
    shows what the preparation made of a photo when an answer looks wrong.
    """

    digit: int
    probabilities: np.ndarray = attrs.field(converter=_frozen, eq=False)
    image: np.ndarray = attrs.field(converter=_frozen, eq=False)
    sure: bool = True
    """False when a calibration's threshold refused the input ("not sure"): ``digit`` is then the best guess."""
    score: float | None = None
    """The calibration's score of the input (higher: more like the training data); None without one."""
    names: tuple[str, ...] | None = attrs.field(default=None, converter=attrs.converters.optional(tuple))
    """The class names, class 0 first (None: each class is its own number, MNIST's digits)."""

    @property
    def label(self) -> str:
        """The likeliest class's name ("7", "Sneaker")."""
        return self.name(self.digit)

    def name(self, k: int) -> str:
        """Class ``k``'s name."""
        return self.names[k] if self.names is not None else str(k)

    def _repr_png_(self) -> bytes:
        """In a notebook the answer shows as the picture the network saw."""
        from purenet.photo.grid import show_digits

        return show_digits(self.image, scale=4).png

    def top(self, count: int = 3) -> list[tuple[int, float]]:
        """The ``count`` likeliest classes with their probabilities, likeliest first."""
        ranked = np.argsort(self.probabilities, kind="stable")[::-1][:count]
        return [(int(k), float(self.probabilities[k])) for k in ranked]


def predict_image(params: Params | Sequence[Params], source: ImageSource, *, prepared: bool = False,
                  warned: list[str] | None = None, calibration: Calibration | None = None,
                  classes: Sequence[str] | None = None) -> DigitPrediction:
    """Read the digit in ``source`` with the network ``params``, or with an ensemble: a sequence
    of networks whose probabilities are averaged (``purenet.core.ensemble.ensemble_predict``).

    ``source`` is an image file's path (any format Pillow reads) or an array of pixels:
    (H, W) grey or (H, W, 3) colour, uint8 0-255 or floats 0-1, a photo, scan or drawing
    of one digit, prepared like a file (``purenet.photo.prepare.preprocess``). With
    ``prepared=True`` the array is already an MNIST digit, (28, 28) or (784,) with white
    ink on black, and is used as it is. ``warned``: as in ``purenet.photo.prepare.load_digit_image``.
    With ``calibration`` (a checkpoint's ``Checkpoint.calibration``) the probabilities are
    temperature-scaled and an input scoring below its threshold is answered with
    ``sure=False``; ``classes`` names the classes (``Checkpoint.class_names``).

    Raises ``purenet.photo.prepare.ImageError`` when the image cannot be read or holds no
    digit, and ``ValueError`` when the network does not read 28x28 images (or the members
    of an ensemble do not fit together).
    """
    members = None if isinstance(params, Params) else check_members(params)
    first = params if members is None else members[0]
    problem = check_reads_digits(first.arch.inputs)
    if problem is not None:
        raise ValueError(problem)
    image = _prepared(source, prepared, warned)
    if members is not None:  # each member reads the pixels in its own dtype, as it would alone
        if calibration is not None:
            raise ValueError("an ensemble has no calibration of its own: its members' thresholds were fitted on their own scores")
        probabilities = ensemble_probabilities(members, image.reshape(1, -1))[0]
        return DigitPrediction(digit=int(np.argmax(probabilities)), probabilities=probabilities, image=image, names=classes)
    z = forward(params, to_float(image.reshape(1, -1), params.dtype), training=False).logits
    if calibration is None:
        probabilities = get_loss(params.arch.loss).output(z)[0]  # what purenet.predict gives
        return DigitPrediction(digit=int(np.argmax(probabilities)), probabilities=probabilities, image=image, names=classes)
    probabilities = calibration.probabilities(z)[0]
    return DigitPrediction(digit=int(np.argmax(probabilities)), probabilities=probabilities, image=image, names=classes,
                           sure=bool(calibration.accepts(z)[0]), score=float(calibration.scores(z)[0]))


def _prepared(source: ImageSource, prepared: bool, warned: list[str] | None) -> np.ndarray:
    """The (28, 28) uint8 digit the network will see."""
    if not isinstance(source, np.ndarray):
        if prepared:
            raise TypeError("prepared=True takes an array (a 28x28 digit), not a file")
        return load_digit_image(source, warned)
    pixels = _as_uint8(source)
    if prepared:
        if pixels.size != PIXELS:
            raise ValueError(f"a prepared digit has {SIDE}x{SIDE} pixels, got an array of shape {source.shape}")
        return pixels.reshape(SHAPE)
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (1, 3, 4)):
        raise ValueError(f"an image array is (H, W) grey or (H, W, 3) colour, got shape {source.shape}")
    from PIL import Image

    return preprocess(Image.fromarray(pixels.squeeze(axis=2) if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels))


def _as_uint8(array: np.ndarray) -> np.ndarray:
    """uint8 pixels from whole numbers 0-255, floats 0-1 or a bool mask."""
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind == "b":
        return array.astype(np.uint8) * np.uint8(255)
    if array.dtype.kind in "iu":
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ValueError("an image array of whole numbers holds pixels from 0 to 255")
        return array.astype(np.uint8)
    if array.dtype.kind != "f":
        raise ValueError(f"an image array holds numbers, got dtype {array.dtype}")
    values = np.asarray(array, dtype=np.float64)
    if values.size and not (np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1):
        raise ValueError("an image array of floats holds values from 0 to 1 (or give uint8 pixels, 0-255)")
    return np.rint(values * 255).astype(np.uint8)
