"""Steps 1 to 3 of preparing a photo (``purenet.photo.prepare``): how much ink is at each pixel.

    working_rgb(image) -> (H, W, 3) float32     1. upright, alpha flattened, at working size
    dark_ink(rgb)      -> (H, W, 3) float32     2. dark ink on light paper
    ink_strength(rgb)  -> (H, W) float32 >= 0   3. how far each pixel falls below the paper

Each step's constants stand just above it and say where each value comes from.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from purenet.io.images import REDUCING_GAP
from purenet.photo.errors import ImageError
from purenet.photo.ops import (
    block_max,
    box_blur,
    closing,
    common_mode,
    fit_plane,
    luminance,
    plane,
    resize_float,
    stretch,
    upper_plane,
)

# 1. A float RGB picture at working size -------------------------------------------------------

WORK_SIZE = 400
"""Long side, in pixels, at which a photo is analysed (larger images are shrunk first): a
choice, a few hundred pixels being enough for a digit and a 4000-pixel photo slow."""

MIN_WORK_SIZE = 160
"""Smaller images (50-pixel scans) are enlarged to this, so the pixel-sized steps still fit."""

OPAQUE, TRANSPARENT = 0.98, 0.02
"""Alpha above OPAQUE everywhere: the image is opaque (nothing to flatten); below
TRANSPARENT everywhere: it is fully transparent (no digit). A margin of 5 of 255 levels."""

HALF_OPAQUE = 0.5
"""Alpha of a pixel that counts as opaque; an image with a mean alpha below it is mostly
transparent, so its opaque part is the strokes (a drawing app's PNG), not paper."""

MID_GREY = 128
"""Strokes darker than the middle of the 8-bit range are dark (put on white), else light."""


def working_rgb(image: Image.Image) -> np.ndarray:
    """(H, W, 3) float32 in [0, 255]: upright, alpha flattened, long side WORK_SIZE at most
    (MIN_WORK_SIZE at least). 16-bit and float images are stretched onto [0, 255]."""
    image = ImageOps.exif_transpose(image)
    image = common_mode(image)
    image = image.resize(working_size(image.size), Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
    pixels = np.asarray(image, dtype=np.float32)
    if image.mode == "F":
        return stretch(pixels)[..., None].repeat(3, axis=2)
    if image.mode == "RGBA":
        return _flatten_alpha(pixels[..., :3], pixels[..., 3] / 255)
    return pixels


def working_size(size: tuple[int, int], largest: int = WORK_SIZE) -> tuple[int, int]:
    """``size`` scaled so its long side is ``largest`` (if larger) or MIN_WORK_SIZE (if smaller)."""
    long_side = max(size)
    target = min(max(long_side, min(MIN_WORK_SIZE, largest)), largest)
    width, height = (max(1, round(side * target / long_side)) for side in size)
    return width, height


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


def dark_ink(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` with dark ink on light paper: light-on-dark images are inverted.

    The paper is the bulk of the picture, the ink a tail on one side of its brightness:
    compare how far the darkest and the brightest few percent (DARK_TAIL, BRIGHT_TAIL)
    reach from the median, once the overall lighting (a plane fitted to the brightness;
    a curved surface could take the shape of a big 0) is taken away, so the bright side
    of a photo lit from one side is not taken for ink.
    """
    lum = luminance(rgb)
    small = resize_float(lum, working_size(lum.shape[::-1], LIGHTING_SAMPLE), Image.Resampling.BICUBIC)
    flat = lum - plane(fit_plane(small, PLANE_ROUNDS, PLANE_CLIP, PLANE_FLOOR), lum.shape)
    tails = np.percentile(flat, [*DARK_TAIL, 50, *BRIGHT_TAIL])
    dark, median, bright = np.split(tails, [len(DARK_TAIL), len(DARK_TAIL) + 1])
    return 255 - rgb if (bright - median).sum() > (median - dark).sum() else rgb


# 3. How much ink is at each pixel -----------------------------------------------------------------

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


def ink_strength(rgb: np.ndarray) -> np.ndarray:
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
