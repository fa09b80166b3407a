"""Steps 4 to 7 of preparing a photo (``purenet.photo.prepare``): which ink is the digit.

    without_edge_regions(ink)          -> ink    4. a table, dark margin or frame along the edge cleared
    without_ruled_lines(ink)           -> ink    5. the ruled lines of lined paper painted over
    ink_threshold(ink)                 -> float  6. Otsu's split of ink from paper (ImageError: blank)
    digit_components(ink, threshold)   -> mask   7. the digit's connected pieces, without specks and frames

``ink`` is (H, W) float32 >= 0, how far each pixel falls below the paper
(``purenet.photo.ink``). Each step's constants stand just above it and say where each
value comes from.
"""

from __future__ import annotations

import numpy as np

from purenet.photo.errors import BLANK, ImageError
from purenet.photo.ops import (
    component_stats,
    dilate_mask,
    grown,
    label,
    near_horizontal_lines,
    open_mask,
    otsu,
    overlaps,
    paint_over_band,
)

# 4. Regions along the image's edge ----------------------------------------------------------------

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


def without_edge_regions(ink: np.ndarray) -> np.ndarray:
    """``ink`` (H, W) with a table, dark margin or frame along the image's sides set to 0.

    They are pieces of ink that keep to the edge (``_along_edge``), and the solid parts
    (thicker than 2 * SOLID, which no stroke is) of pieces covering much of the edge. They
    are cleared with a small border, so a digit that touches them comes free and the ink
    threshold is not set between paper and table.
    """
    mask = ink > ink_threshold(ink)
    labels, count = _pieces(mask)
    along = _along_edge(component_stats(labels, count, ink * mask, EDGE_BAND))
    clear = np.concatenate([[False], along])[labels] & mask
    clear |= _solid_edge_parts(labels, count, mask)
    if not clear.any():
        return ink
    return np.where(dilate_mask(clear, join_radius(mask.shape) + CLEAR_MARGIN), 0, ink).astype(np.float32)


def join_radius(shape: tuple[int, ...]) -> int:
    """Gaps up to twice this many pixels (1% of the image, JOIN_DIVISOR) do not split a stroke."""
    return max(1, round(max(shape) / JOIN_DIVISOR))


def _pieces(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The pieces of ink of ``mask`` (labels (H, W), count), those closer than twice the
    join radius made one (labelled after a dilation, so the labels cover the gaps too)."""
    return label(dilate_mask(mask, join_radius(mask.shape)))


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


def without_ruled_lines(ink: np.ndarray) -> np.ndarray:
    """``ink`` (H, W) with the ruled lines of lined or squared paper painted over.

    A ruled line is straight, within RULED_MAX_DEGREES of horizontal, crosses at least
    RULED_SPAN of the picture's width and is thin (RULED_THICKNESS); lined paper shows
    RULED_MIN_LINES or more. Each line is painted over with the lesser ink just above and
    below it, so the strokes that cross it go on and the line goes.
    """
    mask = ink > ink_threshold(ink)
    slope, bands = near_horizontal_lines(mask, RULED_SPAN, RULED_MAX_DEGREES, RULED_STEP_DEGREES)
    thin = max(RULED_MIN_PIXELS, RULED_THICKNESS * ink.shape[0])
    bands = [(first, last) for first, last in bands if last - first < thin]
    if len(bands) < RULED_MIN_LINES:
        return ink
    for first, last in bands:
        ink = paint_over_band(ink, slope, first, last, RULED_SOFT_EDGE)
    return ink


# 6. Ink versus paper ------------------------------------------------------------------------------

BLANK_INK = 1.0
"""An image whose strongest ink is below one grey level is blank: nothing to split."""


def ink_threshold(ink: np.ndarray) -> float:
    """Otsu's threshold between the ink and the paper of ``ink`` (H, W).

    Raises ImageError when there is nothing to separate: no ink reaches BLANK_INK, or all
    of it is at one level (a blank image).
    """
    if float(ink.max()) < BLANK_INK:
        raise ImageError(BLANK)
    threshold = otsu(ink)
    if threshold is None:  # every value in one bin: a flat image
        raise ImageError(BLANK)
    return threshold


# 7. Which pieces are the digit --------------------------------------------------------------------

PART_SHARE, PART_REACH = 0.05, 0.25
"""Besides the main piece, the digit keeps the pieces holding PART_SHARE of its ink within
PART_REACH of its size of its box: parts of the digit the pen or a tight crop did not
join. Specks and shadows are smaller or farther."""

FRAMED_SHARE, BOXED_MIN = 0.1, 0.01
"""A piece that boxes in another holding FRAMED_SHARE of its ink is a frame drawn or printed
around the digit (a digit's loop rarely holds such a big blob). Only pieces with BOXED_MIN of
the biggest piece's ink are tested as boxed in: it keeps the n x m test small."""


def digit_components(ink: np.ndarray, threshold: float) -> np.ndarray:
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
    return np.asarray((inside & (mass[None, big] >= FRAMED_SHARE * mass[:, None])).any(axis=1))
