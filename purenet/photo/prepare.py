"""From a photo of a handwritten digit to an MNIST digit.

    load_digit(path, warned=None) -> (28, 28) uint8, a white digit on black, made the way MNIST was made
    read_digit(data, name)  -> the same, from the bytes of an image file (an upload)
    preprocess(image)  -> the same, from a PIL image that is already open
    ImageError         the file is not a readable image, or no digit can be found in it
    ImageWarning       something odd about an image read all the same (when no ``warned`` list is given)

MNIST's digits are NIST scans whose ink was scaled to fit a 20x20 box (keeping the
aspect ratio, anti-aliased, hence the grey levels) and pasted into a 28x28 field so
that the centre of mass of the ink lands at the centre (LeCun, Cortes and Burges's
description of the set). A network trained on them only reads a photo prepared the
same way, so ``preprocess`` rebuilds that recipe from a photo, in ten steps that each
answer something real photos get wrong, one function each, defined below in this order:

1. ``_working_rgb``: apply the EXIF rotation, flatten any alpha channel onto a
   background that contrasts with the strokes, and bring the long side to WORK_SIZE
   pixels (phone photos are 4000 px wide; the digit needs a few hundred).
2. ``_dark_ink``: make the ink dark, inverting light-on-dark drawings.
3. ``_ink_strength``: estimate the paper colour around every pixel (a plane for the
   overall lighting, then a closing on a coarse grid, which follows shadows but not
   strokes) and measure how far each pixel falls below it, over all three channels,
   so blue or red ink on coloured paper counts as ink just like pencil.
4. ``_without_edge_regions``: clear a table, dark margin or frame along the image's edge.
5. ``_without_ruled_lines``: paint over the ruled lines of lined paper.
6. ``_ink_threshold``: split ink from paper with Otsu's threshold (steps 4 and 5 use
   the same split to find what to clear); a blank image stops here.
7. ``_digit_components``: keep the digit's connected pieces, dropping specks, paper
   edges and frames.
8. ``_ink_levels``: the digit as a nearly binary picture with soft edges, as the NIST
   scans were (a digit that does not stand out from the paper's noise stops here).
9. ``_strokes_like_mnist``: crop to the digit and thicken or thin its strokes into
   MNIST's range of widths relative to the digit's size (a thin pen line would vanish
   at 28x28; a marker fills loops).
10. ``_to_field``: shrink into the 20x20 box (the anti-aliasing gives the grey levels)
    and paste into 28x28 with the centre of mass at MNIST's centre, as uint8 0-255.

Every threshold is a constant below, in the order of the steps, saying where it comes
from: MNIST's construction, Pillow's documentation, or a choice and what it guards
against. The generic image operations (filters, plane fitting, Otsu's threshold,
connected components...) are in ``purenet.photo.ops``.

>>> from PIL import Image, ImageDraw
>>> paper = Image.new("L", (300, 300), 255)
>>> ImageDraw.Draw(paper).line([(150, 40), (150, 260)], fill=0, width=12)
>>> digit = preprocess(paper)
>>> digit.shape, digit.dtype
((28, 28), dtype('uint8'))
"""

from __future__ import annotations

import io
import os
import warnings
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from purenet.io.files import open_regular
from purenet.photo.ops import (
    block_max,
    box_blur,
    box_size,
    centre_of_mass,
    closing,
    common_mode,
    component_stats,
    dilate,
    dilate_mask,
    fit_plane,
    grown,
    label,
    luminance,
    near_horizontal_lines,
    open_mask,
    otsu,
    overlaps,
    paint_over_band,
    plane,
    resize_float,
    robust_sigma,
    stretch,
    stroke_width,
    upper_plane,
)

# 0. Reading the file ----------------------------------------------------------------------------

MAX_PIXELS = 40_000_000
"""The most pixels purenet decodes of one image: 40 megapixels (a 600 dpi scan of an A4
page has 35). Decoding and preparing an image takes about 12 bytes a pixel (a 40-megapixel
PNG, half a gigabyte), and a small file can declare a huge image (a 500 KB PNG of
13000x13000 pixels), so the size the file's header declares is checked before anything is
decoded. A JPEG is decoded at a reduced size (its draft), and that size is the one
checked: a phone's 50-megapixel photo passes."""

# 1. A float RGB picture at working size -------------------------------------------------------

WORK_SIZE = 400
"""Long side, in pixels, at which a photo is analysed (larger images are shrunk first): a
choice, a few hundred pixels being enough for a digit and a 4000-pixel photo slow."""

MIN_WORK_SIZE = 160
"""Smaller images (50-pixel scans) are enlarged to this, so the pixel-sized steps still fit."""

REDUCING_GAP = 3.0
"""Pillow's ``reducing_gap`` for the first shrink: from 3.0 up, its documentation says,
the fast two-step resize is indistinguishable from a full resample in most cases."""

OPAQUE, TRANSPARENT = 0.98, 0.02
"""Alpha above OPAQUE everywhere: the image is opaque (nothing to flatten); below
TRANSPARENT everywhere: it is fully transparent (no digit). A margin of 5 of 255 levels."""

HALF_OPAQUE = 0.5
"""Alpha of a pixel that counts as opaque; an image with a mean alpha below it is mostly
transparent, so its opaque part is the strokes (a drawing app's PNG), not paper."""

MID_GREY = 128
"""Strokes darker than the middle of the 8-bit range are dark (put on white), else light."""

# 2. Dark ink ------------------------------------------------------------------------------------

LIGHTING_SAMPLE = 64
"""Long side of the small copy of the picture that the lighting plane is fitted to (for
speed: a plane needs few pixels)."""

PLANE_ROUNDS, PLANE_CLIP, PLANE_FLOOR = 4, 2.5, 1.0
"""The lighting plane is refitted 4 times without the pixels farther from it than 2.5
robust standard deviations plus 1 grey level: a choice that lets the ink (a tail on one
side) drop out while a flat picture keeps all its pixels."""

DARK_TAIL, BRIGHT_TAIL = (0.5, 1, 2, 4), (96, 98, 99, 99.5)
"""Percentiles of the darkest and brightest few percent: ink is a small part of the
picture, so the side whose tail reaches farther from the median is the ink's."""

# 3. How much ink is at each pixel ---------------------------------------------------------------

NOISE_RADIUS = 1
"""A 3x3 box blur first takes off sensor and JPEG noise (one pixel: strokes are wider)."""

PAPER_CELLS = 100
"""The paper is estimated on a grid of block maxima about this many cells on the long
side: a choice for speed (the lighting is smooth, so a coarse grid follows it)."""

PAPER_CLOSING, PAPER_MIN_RADIUS = 6, 2
"""The closing that removes the strokes from the paper has a radius of the grid's long side
// PAPER_CLOSING (at least PAPER_MIN_RADIUS cells): a window of a third of the image,
wider than the thickest strokes of a digit filling a tight crop, narrower than a shadow."""

PAPER_SMOOTHING = 2
"""The box blur that smooths the closing's blocks has its radius // PAPER_SMOOTHING."""

LIGHTING_ROUNDS, LIGHTING_BELOW = 10, 0.01
"""The paper's lighting is the plane along the upper side of the grid: refitted 10 times,
cells below it weighing a hundredth of those above, so that even a thick digit filling
the picture does not pull it down (a choice)."""

# 4. Regions along the image's edge --------------------------------------------------------------

JOIN_DIVISOR = 100
"""Pieces of ink closer than twice the long side / JOIN_DIVISOR (1% of the image on
each side) are one piece: such gaps do not split a stroke."""

EDGE_BAND, EDGE_SHARE = 0.08, 0.85
"""A piece of ink with more than EDGE_SHARE of its ink within EDGE_BAND (of the long
side) of the image's sides keeps to the edge: a table, a paper edge or a frame, not the
digit (even a 0 that a tight crop cuts on all four sides has a good part of its ink
further in)."""

CUT_REACH = 0.1
"""A piece along the edge within a tenth of the main piece's size of its box is part of
the digit that a tight crop cut off, not a table or a frame."""

CORNER_DISCOUNT = 0.5
"""The main piece is the one with the most ink, discounted by half at the image's corners:
people put the digit in the middle of the picture."""

EDGE_CONTACT, SOLID = 0.08, 0.15
"""A piece of ink covering more than EDGE_CONTACT of the image's edge pixels, with parts
thicker than 2 * SOLID of the long side (no digit's stroke is), is a table or dark margin."""

CLEAR_MARGIN = 1
"""What is cleared along the edge is grown by the join radius and this many pixels more,
so a digit that touches a table comes free of it."""

# 5. Ruled lines ---------------------------------------------------------------------------------

RULED_SPAN = 0.7
"""A straight, near-horizontal run of ink across this fraction of the image is a ruled line."""

RULED_MAX_DEGREES, RULED_STEP_DEGREES = 5, 0.25
"""Ruled lines are looked for within 5 degrees of horizontal (a photo taken a little
askew), at slopes a quarter of a degree apart."""

RULED_THICKNESS, RULED_MIN_PIXELS = 0.02, 2
"""A ruled line is thinner than 2% of the image's height (or 2 pixels, if more); a
digit's bar cut by a tight crop is thicker."""

RULED_MIN_LINES = 2
"""Lined paper shows two lines or more; a digit never has two bars that long."""

RULED_SOFT_EDGE = 2
"""Pixels painted over on each side of a ruled line, for its blurred edges."""

# 6. Ink versus paper ----------------------------------------------------------------------------

BLANK_INK = 1.0
"""An image whose strongest ink is below one grey level is blank: nothing to split."""

# 7. Which pieces are the digit ------------------------------------------------------------------

PART_SHARE, PART_REACH = 0.05, 0.25
"""Besides the main piece, the digit keeps the pieces holding PART_SHARE of its ink within
PART_REACH of its size of its box: parts of the digit the pen or a tight crop did not
join. Specks and shadows are smaller or farther."""

FRAMED_SHARE, BOXED_MIN = 0.1, 0.01
"""A piece that boxes in another holding FRAMED_SHARE of its ink is a frame drawn or printed
around the digit (a digit's loop rarely holds such a big blob). Only pieces with BOXED_MIN of
the biggest piece's ink are tested as boxed in: it keeps the n x m test small."""

# 8. The digit's ink levels ----------------------------------------------------------------------

INK_RAMP_START, INK_RAMP_WIDTH = 0.6, 0.8
"""Ink is 0 below 0.6 of Otsu's threshold and 1 above 0.6 + 0.8 = 1.4 of it, a ramp
between: nearly binary with soft edges, like the NIST scans MNIST was made from."""

CONTRAST_SIGMAS, CONTRAST_MIN = 4, 8.0
"""The digit's median ink must pass the paper's median by 4 robust standard deviations
of the paper's noise and 8 grey levels: on a blank page, Otsu's threshold merely splits
the noise."""

# 9. Strokes as wide as MNIST's ------------------------------------------------------------------

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

# 10. Into MNIST's 28x28 field -------------------------------------------------------------------

FIELD, BOX = 28, 20
"""MNIST's image side and the box its digits were scaled to fit (LeCun et al.)."""

CENTRE = 14.0
"""Where MNIST's centre of mass sits, in (row, column) pixel indices: the mean over the
training set is (14.00, 14.01), with the 0.29 px spread of a rounding to whole pixels."""

TRIM_LEVEL = 0.05
"""Fainter pixels than this (5% ink) around the digit are dropped before it is scaled, so
a faint halo does not shrink the digit in its box."""

MIN_PEAK = 1e-6
"""Floor of the peak the scaled digit is divided by (no division by zero)."""

_BLANK = "no digit found: the image is blank"


class ImageError(ValueError):
    """An image cannot be read, or shows no digit; the message names the file and the problem."""


class ImageWarning(UserWarning):
    """Something odd about an image that was read all the same; the message names the file."""


# 1. A float RGB picture at working size -------------------------------------------------------


def _working_rgb(image: Image.Image) -> np.ndarray:
    """(H, W, 3) float32 in [0, 255]: upright, alpha flattened, long side WORK_SIZE at most
    (MIN_WORK_SIZE at least). 16-bit and float images are stretched onto [0, 255]."""
    image = ImageOps.exif_transpose(image)
    image = common_mode(image)
    image = image.resize(_working_size(image.size), Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
    pixels = np.asarray(image, dtype=np.float32)
    if image.mode == "F":
        return stretch(pixels)[..., None].repeat(3, axis=2)
    if image.mode == "RGBA":
        return _flatten_alpha(pixels[..., :3], pixels[..., 3] / 255)
    return pixels


def _working_size(size: tuple[int, int], largest: int = WORK_SIZE) -> tuple[int, int]:
    """``size`` scaled so its long side is ``largest`` (if larger) or MIN_WORK_SIZE (if smaller)."""
    long_side = max(size)
    target = min(max(long_side, min(MIN_WORK_SIZE, largest)), largest)
    return tuple(max(1, round(side * target / long_side)) for side in size)


def _flatten_alpha(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite ``rgb`` (H, W, 3) with ``alpha`` (H, W) in [0, 1] onto a chosen background.

    Where little of the image is opaque, the opaque part is the strokes (a transparent
    PNG from a drawing app, whose hidden colour is often the ink's own): the background
    is white under dark strokes, black under light ones. Where most of it is opaque,
    the opaque part is paper and the transparent rest is filled with the paper's colour.
    """
    if alpha.min() > OPAQUE:
        return rgb
    if alpha.max() < TRANSPARENT:
        raise ImageError("no digit found: the image is fully transparent")
    if alpha.mean() < HALF_OPAQUE:
        stroke_lum = float((luminance(rgb) * alpha).sum() / alpha.sum())
        background = np.full(3, 255.0 if stroke_lum < MID_GREY else 0.0, np.float32)
    else:
        background = np.median(rgb[alpha > HALF_OPAQUE], axis=0)
    return rgb * alpha[..., None] + background * (1 - alpha[..., None])


# 2. Dark ink --------------------------------------------------------------------------------------


def _dark_ink(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` with dark ink on light paper: light-on-dark images are inverted.

    The paper is the bulk of the picture, the ink a tail on one side of its brightness:
    compare how far the darkest and the brightest few percent (DARK_TAIL, BRIGHT_TAIL)
    reach from the median, once the overall lighting (a plane fitted to the brightness;
    a curved surface could take the shape of a big 0) is taken away, so the bright side
    of a photo lit from one side is not taken for ink.
    """
    lum = luminance(rgb)
    small = resize_float(lum, _working_size(lum.shape[::-1], LIGHTING_SAMPLE), Image.Resampling.BICUBIC)
    flat = lum - plane(fit_plane(small, PLANE_ROUNDS, PLANE_CLIP, PLANE_FLOOR), lum.shape)
    tails = np.percentile(flat, [*DARK_TAIL, 50, *BRIGHT_TAIL])
    dark, median, bright = np.split(tails, [len(DARK_TAIL), len(DARK_TAIL) + 1])
    return 255 - rgb if (bright - median).sum() > (median - dark).sum() else rgb


# 3. How much ink is at each pixel -----------------------------------------------------------------


def _ink_strength(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float32 >= 0: how far each pixel is darker than the paper around it.

    The distance is taken over the three channels (only where a channel falls below the
    paper's), so coloured ink on coloured paper counts, and glare brighter than the
    paper does not.
    """
    rgb = np.stack([box_blur(rgb[..., c], NOISE_RADIUS) for c in range(3)], axis=2)
    paper = np.stack([_paper(rgb[..., c]) for c in range(3)], axis=2)
    below = np.maximum(paper - rgb, 0)
    return np.sqrt((below**2).mean(axis=2))


def _paper(channel: np.ndarray) -> np.ndarray:
    """The local paper level of one channel (H, W): strokes removed, lighting kept.

    It is found on a coarse grid of block maxima (PAPER_CELLS on the long side) in two
    parts. The overall lighting, brighter towards a lamp or a window, is the plane along
    the grid's upper side (``upper_plane``): it follows a side that darkens to the edge,
    where a filter would not, and a curved surface could dip into the middle of a tight
    crop of a thick 0. What it leaves, a shadow or a vignette, goes through a closing
    (PAPER_CLOSING), which removes every mark narrower than its window and keeps what is
    wider. A box blur smooths the blocks before the result is stretched back to full size.
    """
    grid = block_max(channel, max(1, max(channel.shape) // PAPER_CELLS))
    lighting = upper_plane(grid, LIGHTING_ROUNDS, LIGHTING_BELOW)
    radius = max(PAPER_MIN_RADIUS, max(grid.shape) // PAPER_CLOSING)
    rest = closing(grid - lighting, radius)
    grid = (lighting + box_blur(rest, radius // PAPER_SMOOTHING)).astype(np.float32)
    height, width = channel.shape
    return resize_float(grid, (width, height), Image.Resampling.BILINEAR)


# 4. Regions along the image's edge ----------------------------------------------------------------


def _without_edge_regions(ink: np.ndarray) -> np.ndarray:
    """``ink`` (H, W) with a table, dark margin or frame along the image's sides set to 0.

    They are pieces of ink that keep to the edge (``_along_edge``), and the solid parts
    (thicker than 2 * SOLID, which no stroke is) of pieces covering much of the edge. They
    are cleared with a small border, so a digit that touches them comes free and the ink
    threshold is not set between paper and table.
    """
    mask = ink > _ink_threshold(ink)
    labels, count = _pieces(mask)
    along = _along_edge(component_stats(labels, count, ink * mask, EDGE_BAND))
    clear = np.concatenate([[False], along])[labels] & mask
    clear |= _solid_edge_parts(labels, count, mask)
    if not clear.any():
        return ink
    return np.where(dilate_mask(clear, _join_radius(mask.shape) + CLEAR_MARGIN), 0, ink).astype(np.float32)


def _join_radius(shape: tuple[int, ...]) -> int:
    """Gaps up to twice this many pixels (1% of the image, JOIN_DIVISOR) do not split a stroke."""
    return max(1, round(max(shape) / JOIN_DIVISOR))


def _pieces(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The pieces of ink of ``mask`` (labels (H, W), count), those closer than twice the
    join radius made one (labelled after a dilation, so the labels cover the gaps too)."""
    return label(dilate_mask(mask, _join_radius(mask.shape)))


def _along_edge(stats: dict[str, np.ndarray]) -> np.ndarray:
    """Which pieces keep to the image's edge (more than EDGE_SHARE of their ink within
    EDGE_BAND of its sides), away from the main piece: a piece of the digit that a tight
    crop cut off, within CUT_REACH of the main piece's size of its box, is not one."""
    along = stats["edge_share"] > EDGE_SHARE
    if along.all():
        return np.zeros_like(along)
    box = grown(stats["box"][_main_piece(stats, ~along)], CUT_REACH)
    inside = (stats["box"][:, :2] >= box[:2]).all(axis=1) & (stats["box"][:, 2:] <= box[2:]).all(axis=1)
    return along & ~inside


def _main_piece(stats: dict[str, np.ndarray], candidate: np.ndarray) -> int:
    """The candidate piece (any piece, if none is) with the most ink, discounted by
    CORNER_DISCOUNT at the image's corners."""
    candidate = candidate if candidate.any() else np.ones_like(candidate)
    return int(np.argmax(stats["mass"] * (1 - CORNER_DISCOUNT * stats["off_centre"]) * candidate))


def _solid_edge_parts(labels: np.ndarray, count: int, mask: np.ndarray) -> np.ndarray:
    """The parts of the pieces covering more than EDGE_CONTACT of the image's edge pixels
    that survive an opening SOLID of the image wide: solid regions, not strokes."""
    edge = np.concatenate([labels[0], labels[-1], labels[1:-1, 0], labels[1:-1, -1]])
    hugging = np.bincount(edge, minlength=count + 1) > EDGE_CONTACT * len(edge)
    hugging[0] = False
    if not hugging.any():
        return np.zeros_like(mask)
    radius = max(1, round(SOLID * max(mask.shape)))
    pieces = np.pad(hugging[labels] & mask, radius)  # outside the image is paper: no stroke is thicker there
    return open_mask(pieces, radius)[radius:-radius, radius:-radius]


# 5. Ruled lines -----------------------------------------------------------------------------------


def _without_ruled_lines(ink: np.ndarray) -> np.ndarray:
    """``ink`` (H, W) with the ruled lines of lined or squared paper painted over.

    A ruled line is straight, within RULED_MAX_DEGREES of horizontal, crosses at least
    RULED_SPAN of the picture's width and is thin (RULED_THICKNESS); lined paper shows
    RULED_MIN_LINES or more. Each line is painted over with the lesser ink just above and
    below it, so the strokes that cross it go on and the line goes.
    """
    mask = ink > _ink_threshold(ink)
    slope, bands = near_horizontal_lines(mask, RULED_SPAN, RULED_MAX_DEGREES, RULED_STEP_DEGREES)
    thin = max(RULED_MIN_PIXELS, RULED_THICKNESS * ink.shape[0])
    bands = [(first, last) for first, last in bands if last - first < thin]
    if len(bands) < RULED_MIN_LINES:
        return ink
    for first, last in bands:
        ink = paint_over_band(ink, slope, first, last, RULED_SOFT_EDGE)
    return ink


# 6. Ink versus paper ------------------------------------------------------------------------------


def _ink_threshold(ink: np.ndarray) -> float:
    """Otsu's threshold between the ink and the paper of ``ink`` (H, W).

    Raises ImageError when there is nothing to separate: no ink reaches BLANK_INK, or all
    of it is at one level (a blank image).
    """
    if float(ink.max()) < BLANK_INK:
        raise ImageError(_BLANK)
    threshold = otsu(ink)
    if threshold is None:  # every value in one bin: a flat image
        raise ImageError(_BLANK)
    return threshold


# 7. Which pieces are the digit --------------------------------------------------------------------


def _digit_components(ink: np.ndarray, threshold: float) -> np.ndarray:
    """The pixels of ``ink`` (H, W) above ``threshold`` that belong to the digit, as a
    boolean (H, W) mask.

    Pieces closer than twice the join radius are one (``_pieces``). Pieces that keep to
    the image's edge (``_along_edge``) or box in another big piece (``_frames``) are not
    the digit. Of the rest, the main piece has the most ink, discounted away from the
    centre (``_main_piece``); other pieces stay when they hold PART_SHARE of its ink and
    lie within PART_REACH of its size of its box. The rest (specks, shadows) goes.
    """
    mask = ink > threshold
    labels, count = _pieces(mask)
    stats = component_stats(labels, count, ink * mask, EDGE_BAND)
    candidate = ~_along_edge(stats) & ~_frames(stats["box"], stats["mass"])
    main = _main_piece(stats, candidate)
    near = overlaps(stats["box"], grown(stats["box"][main], PART_REACH))
    keep = (stats["mass"] >= PART_SHARE * stats["mass"][main]) & near & candidate
    keep[main] = True
    return np.concatenate([[False], keep])[labels] & mask


def _frames(boxes: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Which pieces (boxes (n, 4), ink ``mass`` (n,)) box in another piece holding
    FRAMED_SHARE of their ink or more: frames drawn or printed around the digit."""
    big = mass >= BOXED_MIN * mass.max()  # only these can be boxed in
    outer, inner = boxes[:, None, :], boxes[None, big, :]
    inside = (inner[..., :2] > outer[..., :2]).all(axis=2) & (inner[..., 2:] < outer[..., 2:]).all(axis=2)
    return (inside & (mass[None, big] >= FRAMED_SHARE * mass[:, None])).any(axis=1)


# 8. The digit's ink levels ------------------------------------------------------------------------


def _ink_levels(ink: np.ndarray, threshold: float, digit: np.ndarray) -> np.ndarray:
    """The digit's ink as a nearly binary (H, W) picture in [0, 1], 0 away from the digit.

    Like the NIST scans MNIST was made from: 0 below INK_RAMP_START of ``threshold``, a
    ramp INK_RAMP_WIDTH of it wide, then 1. The grey levels of the 28x28 result come, as
    MNIST's did, from anti-aliasing when the digit is shrunk into its box.
    """
    _check_contrast(ink, threshold, digit)
    near = dilate_mask(digit, _join_radius(ink.shape))
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


def _strokes_like_mnist(grey: np.ndarray, digit: np.ndarray) -> np.ndarray:
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


def _to_field(digit: np.ndarray) -> np.ndarray:
    """Fit ``digit`` (H, W) in [0, 1] into the BOX x BOX box, anti-aliased, and paste it into
    the FIELD x FIELD field with its centre of mass at CENTRE (rounded to whole pixels, as
    MNIST did). Returns uint8 0-255 with the strongest pixel at 255."""
    digit = _trim(digit)
    scale = BOX / max(digit.shape)
    size = (max(1, round(digit.shape[1] * scale)), max(1, round(digit.shape[0] * scale)))
    small = resize_float(digit, size, Image.Resampling.BOX)
    small = np.clip(small, 0, None) / max(float(small.max()), MIN_PEAK)
    field = np.zeros((FIELD + 2 * BOX, FIELD + 2 * BOX), np.float32)  # a BOX margin: the paste never falls off
    top, left = (round(CENTRE - c) + BOX for c in centre_of_mass(small))
    field[top : top + small.shape[0], left : left + small.shape[1]] = small
    field = field[BOX : BOX + FIELD, BOX : BOX + FIELD]
    return np.round(np.clip(field, 0, 1) * 255).astype(np.uint8)


def _trim(digit: np.ndarray) -> np.ndarray:
    """``digit`` cut to the box of pixels above TRIM_LEVEL, as float32; ImageError if none is."""
    rows, cols = np.nonzero(digit > TRIM_LEVEL)
    if len(rows) == 0:
        raise ImageError(_BLANK)
    return digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(np.float32)


# The pipeline, and reading a file ---------------------------------------------------------------


def preprocess(image: Image.Image) -> np.ndarray:
    """Turn an opened photo, scan or drawing of one digit into an MNIST digit.

    ``image`` may be in any Pillow mode (colour, grey, palette, 16-bit, with or without
    alpha); dark ink on light paper and light ink on dark are both read. Returns a
    (28, 28) uint8 array, white digit on black. Raises ``ImageError`` if the image is
    blank (no ink stands out from the background): a blank photo has no answer, and
    returning an empty field would make the network guess. The steps are those of the
    module's docstring, in its order.
    """
    rgb = _working_rgb(image)  # 1
    rgb = _dark_ink(rgb)  # 2
    ink = _ink_strength(rgb)  # 3
    ink = _without_edge_regions(ink)  # 4
    ink = _without_ruled_lines(ink)  # 5
    threshold = _ink_threshold(ink)  # 6
    digit = _digit_components(ink, threshold)  # 7
    grey = _ink_levels(ink, threshold, digit)  # 8
    grey = _strokes_like_mnist(grey, digit)  # 9
    return _to_field(grey)  # 10


def load_digit(path: str | os.PathLike, warned: list[str] | None = None) -> np.ndarray:
    """Read the image file at ``path`` and return its digit as MNIST would have it.

    Returns a (28, 28) uint8 array, white (255) ink on black (0), the digit fitted
    into the central 20x20 box with its centre of mass at pixel (14, 14). Any format
    Pillow reads works (JPEG, PNG, BMP, GIF, TIFF, WebP...). Raises ``ImageError``
    naming the file when it is missing, empty, not a regular file (a folder, a FIFO,
    a device: refused after ``os.stat``, never opened for reading, so nothing blocks),
    not an image, truncated, larger than MAX_PIXELS (refused on the size its header
    declares, before decoding) or Pillow's decompression-bomb limit, or blank.

    Warnings raised while the file is read (Pillow's about damaged EXIF data or an image
    over its decompression-bomb warning size, NumPy's...) never escape as they are, whatever
    the process's warning filters: each becomes one line "PATH: message", appended to
    ``warned`` when a list is given, else issued again as an ``ImageWarning``. When the file
    cannot be read, the ``ImageError`` alone says why (its warnings are dropped).
    """
    return _read(lambda: _open(path), path, warned)


def read_digit(data: bytes, name: str = "image", warned: list[str] | None = None) -> np.ndarray:
    """The digit in an image given as bytes (an upload), read as ``load_digit`` reads a file
    holding those bytes: the same decoding and steps, so the same answer. Errors and warnings
    name ``name`` where ``load_digit``'s name the path."""
    if not data:
        raise ImageError(f"{name}: the file is empty (0 bytes)")
    return _read(lambda: _decode(io.BytesIO(data), name), name, warned)


def _read(open_image, name: str | os.PathLike, warned: list[str] | None) -> np.ndarray:
    """``preprocess(open_image())``, every warning on the way turned into one line "NAME: message"."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # record them all, even under PYTHONWARNINGS=error
        image = open_image()
        try:
            digit = preprocess(image)
        except ImageError as error:
            raise ImageError(f"{name}: {error}") from None
    lines = list(dict.fromkeys(f"{name}: {_one_line(str(warning.message))}" for warning in caught))
    if warned is not None:
        warned.extend(lines)
    else:
        for line in lines:
            warnings.warn(line, ImageWarning, stacklevel=3)
    return digit


def _open(path: str | os.PathLike) -> Image.Image:
    """Decode the file at ``path`` (``_decode``), the file closed again."""
    with _open_regular_file(path) as file:
        return _decode(file, path)


def _decode(file: BinaryIO, name: str | os.PathLike) -> Image.Image:
    """Decode ``file`` and turn it upright (EXIF orientation) into an image in memory.
    JPEGs are decoded at a reduced size (DCT scaling): much faster for photos."""
    try:
        with Image.open(file) as image:  # reads the header only
            if image.format == "JPEG":
                image.draft(image.mode, _draft_size(image.size))
            check_pixels(image.size, name)
            return ImageOps.exif_transpose(image)  # a new image: this loads the file
    except ImageError:
        raise
    except Image.UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError as error:
        raise ImageError(f"{name}: too large to decode safely ({_one_line(str(error))})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(f"{name}: cannot decode the image ({_one_line(str(error))})") from None
    except Exception as error:  # a damaged file can make a Pillow plugin fail in any way
        raise ImageError(f"{name}: cannot decode the image ({type(error).__name__}: {_one_line(str(error))})") from None


def check_pixels(size: tuple[int, int], name: str | os.PathLike, error: type[Exception] = ImageError) -> None:
    """Refuse an image whose declared size is over MAX_PIXELS, before it is decoded: raise
    ``error`` naming ``name`` (every reader of images calls this between Image.open and decoding)."""
    width, height = size
    if width * height > MAX_PIXELS:
        raise error(f"{name}: the image is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), "
                    f"more than the {MAX_PIXELS // 1_000_000} megapixels purenet decodes; scale it down first")


def _open_regular_file(path: str | os.PathLike) -> BinaryIO:
    """``path`` opened for binary reading, once it is known to be a regular, non-empty file
    (``purenet.io.files.open_regular``: a FIFO, socket, device or folder is never opened)."""
    return open_regular(path, ImageError, expected="an image file", problem=lambda error: _os_problem(error, path),
                        empty="the file is empty (0 bytes)")


def _os_problem(error: OSError, path: str | os.PathLike | None = None) -> str:
    """What an ``OSError`` of opening or inspecting ``path`` means, in a few words."""
    if isinstance(error, FileNotFoundError):
        if path is not None and os.path.islink(path):
            return "no such file (a symbolic link to a missing file)"
        return "no such file"
    if isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, NotADirectoryError):
        return "no such file (a part of the path before it is not a directory)"
    if isinstance(error, IsADirectoryError):
        return "is a folder, not an image file"
    return f"cannot open it ({_one_line(error.strerror or str(error))})"


def _one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) made one space."""
    return " ".join(text.split())


def _draft_size(size: tuple[int, int]) -> tuple[int, int]:
    """The smallest size worth decoding a JPEG at: its long side still at least WORK_SIZE."""
    scale = WORK_SIZE / max(size)
    return (max(1, int(np.ceil(size[0] * scale))), max(1, int(np.ceil(size[1] * scale))))
