"""The short way through ``purenet.photo.prepare`` for clean images: drawings, not photos.

    clean_ink(rgb, size)    -> (H, W) float32 ink strength when the image is clean, else None
    clean_digit(strength)   -> (28, 28) uint8, steps 6-10 on a small crop of the ink

Steps 2 to 5 of the photo pipeline answer what photos get wrong: uneven lighting,
coloured or grey paper, a table or frame along the edge, ruled lines. A drawing from
the draw page's canvas (and any image made like one) has none of them, and they cost
over nine tenths of the time. An image is *clean* when these measurable properties hold
(``clean_ink`` checks them, in this order, on the picture of step 1):

1. small: its long side is at most ``ink.WORK_SIZE`` pixels as decoded (step 1 does
   not shrink it; a phone's JPEG, decoded at reduced size, is still larger);
2. a white or black background: the median luminance is within BACKGROUND_MARGIN grey
   levels of 255 or of 0 (on white the ink is what is darker, on black what is lighter);
3. a flat background: FLAT_SHARE of the pixels or more are exactly at that level (no
   lighting gradient, shadow, sensor noise or paper texture);
4. a two-tone histogram: of the ink's pixels (farther than INK_LEVELS from the background
   on the ink's side), SOLID_SHARE or more are at least SOLID_LEVELS away (solid strokes
   with soft, anti-aliased edges, not a grey smear);
5. nothing along the edge: ink on at most ``pieces.EDGE_CONTACT`` of the border pixels
   (no table, dark margin or frame);
6. no ruled lines: fewer than ``pieces.RULED_MIN_LINES`` thin bands of rows (thinner
   than ``pieces.RULED_THICKNESS`` of the height) inked across ``pieces.RULED_SPAN`` of
   the width.

A clean image's ink strength is its distance from the background's luminance, on the
ink's side (what step 3 estimates for a photo, here known exactly). ``clean_digit`` crops
the ink with a margin, shrinks the crop so the digit is about DRAWN_SIZE pixels long
(never so its strokes fall under MIN_STROKE pixels), and runs steps 6 to 10 of
``purenet.photo.prepare`` on it, unchanged: Otsu's threshold (a blank canvas raises the
same "no digit" ``ImageError``), the digit's pieces (a stray dot far from the digit is
dropped), nearly binary ink levels, strokes as wide as MNIST's, the 20x20 box and the
centre of mass. Everything else goes through all ten steps.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from purenet.photo import field, pieces
from purenet.photo.errors import BLANK, ImageError
from purenet.photo.ink import WORK_SIZE
from purenet.photo.ops import luminance, resize_float, stroke_width

# What makes an image clean ------------------------------------------------------------------------

BACKGROUND_MARGIN = 32
"""The background's luminance (the median pixel) is within this many grey levels of white
(255) or black (0): a choice; a canvas is pure white or black, a scan's paper a little less."""

FLAT_SHARE = 0.6
"""At least 60% of the pixels are exactly at the background's level (rounded to whole grey
levels): a drawing's background is one value (0.8-0.98 of the development set's drawings), a
photo's or scan's paper spreads over a few levels with its sensor noise even where it is
saturated (noise clipped at white puts half the pixels at 255) -- a choice."""

INK_LEVELS = 4
"""A pixel more than 4 grey levels from the background on the ink's side is ink (for the
properties 4-6 and the crop): less is a rounding or resampling ripple."""

SOLID_LEVELS, SOLID_SHARE = 128, 1 / 3
"""At least a third of the ink's pixels are half the range (128 levels) or more from the
background: an anti-aliased 18-pixel stroke has 0.94 of them so, an MNIST digit enlarged
about 0.5, a 49-pixel scan enlarged to working size 0.3 and a grey smear none."""


def clean_ink(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    """The ink strength (H, W) float32 >= 0 of ``rgb`` (step 1's picture, (H, W, 3) in
    [0, 255]) when the image is clean in the module's six senses, else None. ``size`` is
    the image's own size, before step 1 enlarged it."""
    if max(size) > WORK_SIZE:
        return None
    lum = luminance(rgb)
    counts = np.bincount(np.clip(np.rint(lum), 0, 255).astype(np.uint8).ravel(), minlength=256)
    background = int(np.searchsorted(np.cumsum(counts), lum.size / 2))  # the median level
    if BACKGROUND_MARGIN < background < 255 - BACKGROUND_MARGIN:
        return None
    if counts[background] < FLAT_SHARE * lum.size:
        return None
    strength = np.maximum(background - lum if background > 127 else lum - background, 0).astype(np.float32)
    ink = strength > INK_LEVELS
    if np.count_nonzero(strength >= SOLID_LEVELS) < SOLID_SHARE * np.count_nonzero(ink):
        return None
    border = np.concatenate([ink[0], ink[-1], ink[1:-1, 0], ink[1:-1, -1]])
    if border.mean() > pieces.EDGE_CONTACT or _ruled_lines(ink) >= pieces.RULED_MIN_LINES:
        return None
    return strength


def _ruled_lines(ink: np.ndarray) -> int:
    """How many thin bands of rows of ``ink`` (H, W) are inked across RULED_SPAN of the width:
    the ruled lines of lined paper (a clean image's are level, so rows suffice)."""
    long = np.concatenate([[False], ink.mean(axis=1) >= pieces.RULED_SPAN, [False]])
    starts, ends = np.flatnonzero(long[1:] & ~long[:-1]), np.flatnonzero(~long[1:] & long[:-1])
    thin = max(pieces.RULED_MIN_PIXELS, pieces.RULED_THICKNESS * ink.shape[0])
    return int(np.count_nonzero(ends - starts < thin))


# Steps 6 to 10 on a small crop --------------------------------------------------------------------

DRAWN_SIZE = 64
"""The long side, in pixels, the digit is shrunk to before steps 6-10 (3.2 times MNIST's
20-pixel box): a choice, the cost of steps 7-9 growing with the pixels and the 28x28
result needing few (``tests/test_clean.py`` compares it with the full pipeline's)."""

MIN_STROKE = 3.0
"""The digit is not shrunk so far that its strokes get thinner than this many pixels:
step 9 measures their width, and a stroke a pixel wide is a faint, broken line."""

CROP_MARGIN = pieces.PART_REACH
"""The crop keeps a blank margin of this fraction of the digit's long side (padded with
background where the canvas ends), so no stroke is along the crop's edge for step 7."""


def clean_digit(strength: np.ndarray) -> np.ndarray:
    """The MNIST digit (28, 28) uint8 of a clean image's ink ``strength`` (H, W): its ink
    cropped with CROP_MARGIN, shrunk to about DRAWN_SIZE pixels (strokes MIN_STROKE wide at
    least), then steps 6-10. Raises the full pipeline's ``ImageError`` on a blank canvas."""
    if float(strength.max()) < pieces.BLANK_INK:
        raise ImageError(BLANK)
    ink = strength > INK_LEVELS
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if len(rows) == 0:  # a faint haze, no stroke: step 6 would split noise
        raise ImageError(BLANK)
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    long_side = max(bottom - top, right - left)
    margin = max(1, round(CROP_MARGIN * long_side))
    # the ink's box and a pixel around it blurred; beyond, background: the margin is zeros
    r0, r1, c0, c1 = max(0, top - 1), min(strength.shape[0], bottom + 1), max(0, left - 1), min(strength.shape[1], right + 1)
    crop = np.pad(_blur(strength[r0:r1, c0:c1]),
                  ((margin - (top - r0), margin - (r1 - bottom)), (margin - (left - c0), margin - (c1 - right))))
    width = stroke_width(crop >= float(crop.max()) / 2)
    scale = min(1.0, max(DRAWN_SIZE / long_side, MIN_STROKE / max(width, 1e-6)))
    if scale < 1:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = resize_float(crop, size, Image.Resampling.BOX)
    threshold = pieces.ink_threshold(crop)  # 6
    digit = pieces.digit_components(crop, threshold)  # 7
    grey = field.ink_levels(crop, threshold, digit)  # 8
    grey = field.strokes_like_mnist(grey, digit)  # 9
    return field.to_field(grey)  # 10


def _blur(a: np.ndarray) -> np.ndarray:
    """Step 3's 3x3 box blur (``ink.NOISE_RADIUS`` 1, edges repeated), which softens the strokes'
    edges a little: as shifted sums, cheaper than ``ops.box_blur``'s running sums for so small a window."""
    padded = np.pad(a, 1, mode="edge")
    rows = padded[:-2] + padded[1:-1] + padded[2:]
    return (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]) / np.float32(9)
