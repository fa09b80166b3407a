"""Steps 8 to 10 of preparing a photo (``purenet.photo.prepare``): the digit drawn as MNIST's.

    ink_levels(ink, threshold, digit) -> (H, W) float32   8. nearly binary with soft edges, as the NIST scans
    strokes_like_mnist(grey, digit)   -> (h, w) float32   9. cropped, strokes as wide as MNIST's
    to_field(grey)                    -> (28, 28) uint8  10. scaled into the 20x20 box, centred by mass

Each step's constants stand just above it and say where each value comes from;
MNIST's own sizes (SIDE, BOX) are ``purenet.base.mnist``'s.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from purenet.base.mnist import BOX, SIDE
from purenet.photo.errors import BLANK, ImageError
from purenet.photo.ops import box_size, centre_of_mass, dilate, dilate_mask, resize_float, robust_sigma, stroke_width
from purenet.photo.pieces import join_radius

# 8. The digit's ink levels ------------------------------------------------------------------------

INK_RAMP_START, INK_RAMP_WIDTH = 0.6, 0.8
"""Ink is 0 below 0.6 of Otsu's threshold and 1 above 0.6 + 0.8 = 1.4 of it, a ramp
between: nearly binary with soft edges, like the NIST scans MNIST was made from."""

CONTRAST_SIGMAS, CONTRAST_MIN = 4, 8.0
"""The digit's median ink must pass the paper's median by 4 robust standard deviations
of the paper's noise and 8 grey levels: on a blank page, Otsu's threshold merely splits
the noise."""


def ink_levels(ink: np.ndarray, threshold: float, digit: np.ndarray) -> np.ndarray:
    """The digit's ink as a nearly binary (H, W) picture in [0, 1], 0 away from the digit.

    Like the NIST scans MNIST was made from: 0 below INK_RAMP_START of ``threshold``, a
    ramp INK_RAMP_WIDTH of it wide, then 1. The grey levels of the 28x28 result come, as
    MNIST's did, from anti-aliasing when the digit is shrunk into its box.
    """
    _check_contrast(ink, threshold, digit)
    near = dilate_mask(digit, join_radius(ink.shape))
    ramp = (ink - INK_RAMP_START * threshold) / (INK_RAMP_WIDTH * threshold)
    return (np.clip(ramp, 0, 1) * near).astype(np.float32)


def _check_contrast(ink: np.ndarray, threshold: float, digit: np.ndarray) -> None:
    """Raise ImageError unless the digit's ink stands out from the paper's noise: its
    median strength must pass the paper's median by CONTRAST_SIGMAS robust standard
    deviations (and CONTRAST_MIN grey levels)."""
    paper = ink[ink <= threshold]
    centre = float(np.median(paper))
    sigma = robust_sigma(paper - centre)
    if float(np.median(ink[digit])) < max(CONTRAST_MIN, centre + CONTRAST_SIGMAS * sigma):
        raise ImageError("no digit found: nothing stands out from the background")


# 9. Strokes as wide as MNIST's --------------------------------------------------------------------

STROKE_RANGE = (0.115, 0.2)
"""Stroke widths, as fractions of the digit's long side, that MNIST's digits have: from
their lower quartile to their 97th percentile, measured as ``stroke_width`` measures a
photo (on MNIST digits enlarged 10x; the median is 0.130, i.e. 2.6 px of the 20 px box).
Thinner strokes are thickened to the lower end, thicker ones thinned to the upper end."""

CROP_MIN_MARGIN = 2
"""The digit is cropped with a blank margin of STROKE_RANGE[1] of its size, at least
this many pixels, for its soft edges and the thickening."""

HALF_INK = 0.5
"""The digit's size is that of the box of its pixels at half intensity or more."""


def strokes_like_mnist(grey: np.ndarray, digit: np.ndarray) -> np.ndarray:
    """``grey`` (H, W) cut to the box of ``digit`` (its mask) and its strokes brought into
    STROKE_RANGE. The stroke width is measured on the uncropped mask."""
    return _normalise_strokes(_crop(grey, digit), stroke_width(digit))


def _crop(grey: np.ndarray, digit: np.ndarray) -> np.ndarray:
    """The box of ``digit`` cut from ``grey``, with a zero margin for soft edges and dilation."""
    rows, cols = np.nonzero(digit)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    margin = max(CROP_MIN_MARGIN, round(STROKE_RANGE[1] * max(bottom - top, right - left)))
    return np.pad(grey[top:bottom, left:right], margin)


def _normalise_strokes(digit: np.ndarray, width: float) -> np.ndarray:
    """Bring the strokes of ``digit`` (H, W) in [0, 1] into MNIST's STROKE_RANGE.

    ``width`` is the mean stroke width in pixels, the digit's size the long side of its
    ink box. Growing strokes by r on each side also grows the box by 2r, hence the
    1 - target in the radius that reaches the target after scaling.
    """
    size = max(box_size(digit, HALF_INK))
    thin, thick = STROKE_RANGE
    if width < thin * size:
        return dilate(digit, (thin * size - width) / (2 * (1 - thin)))
    if width > thick * size:
        return -dilate(-digit, (width - thick * size) / (2 * (1 - thick)))
    return digit


# 10. Into MNIST's 28x28 field ---------------------------------------------------------------------

CENTRE = 14.0
"""Where MNIST's centre of mass sits, in (row, column) pixel indices: the mean over the
training set is (14.00, 14.01), with the 0.29 px spread of a rounding to whole pixels."""

TRIM_LEVEL = 0.05
"""Fainter pixels than this (5% ink) around the digit are dropped before it is scaled, so
a faint halo does not shrink the digit in its box."""

MIN_PEAK = 1e-6
"""Floor of the peak the scaled digit is divided by (no division by zero)."""


def to_field(digit: np.ndarray) -> np.ndarray:
    """Fit ``digit`` (H, W) in [0, 1] into MNIST's BOX x BOX box, anti-aliased, and paste it
    into the SIDE x SIDE field with its centre of mass at CENTRE (rounded to whole pixels,
    as MNIST did). Returns uint8 0-255 with the strongest pixel at 255."""
    digit = _trim(digit)
    scale = BOX / max(digit.shape)
    size = (max(1, round(digit.shape[1] * scale)), max(1, round(digit.shape[0] * scale)))
    small = resize_float(digit, size, Image.Resampling.BOX)
    small = np.clip(small, 0, None) / max(float(small.max()), MIN_PEAK)
    field = np.zeros((SIDE + 2 * BOX, SIDE + 2 * BOX), np.float32)  # a BOX margin: the paste never falls off
    top, left = (round(CENTRE - c) + BOX for c in centre_of_mass(small))
    field[top : top + small.shape[0], left : left + small.shape[1]] = small
    field = field[BOX : BOX + SIDE, BOX : BOX + SIDE]
    return np.round(np.clip(field, 0, 1) * 255).astype(np.uint8)


def _trim(digit: np.ndarray) -> np.ndarray:
    """``digit`` cut to the box of pixels above TRIM_LEVEL, as float32; ImageError if none is."""
    rows, cols = np.nonzero(digit > TRIM_LEVEL)
    if len(rows) == 0:
        raise ImageError(BLANK)
    return digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(np.float32)
