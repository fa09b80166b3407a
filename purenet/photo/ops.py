"""Small image operations over NumPy arrays and Pillow images; none of them knows about digits.

What a few calls to OpenCV or SciPy would do, written in NumPy (and Pillow for
decoding and resampling) so that purenet needs neither. ``purenet.photo.prepare`` builds its
photo-to-MNIST pipeline from them.

Pixels and modes      common_mode, stretch, luminance, resize_float
Filters               box_blur, max_filter, closing, block_max, dilate, dilate_mask, open_mask
Lighting              fit_plane, upper_plane, plane
Thresholds            otsu, robust_sigma
Connected components  label, component_stats, grown, overlaps
Shapes                stroke_width, box_size, centre_of_mass
Straight lines        near_horizontal_lines, paint_over_band

Arrays are (H, W) (or (H, W, 3) for colour), rows first; sizes given to Pillow are
(width, height), as Pillow takes them.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
from PIL import Image

ALPHA_MODES = ("RGBA", "LA", "La", "RGBa", "PA")
"""Pillow's modes that carry an alpha channel (a palette or grey image may also name a
transparent colour in ``image.info["transparency"]``)."""

LUMA_601 = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma weights of R, G and B: the ones Pillow's "L" conversion uses."""

MAD_TO_SIGMA = 1.4826
"""The median absolute deviation of a normal distribution times this is its standard
deviation (1 / the normal's 75th percentile, 0.6745)."""

OCTAGON = (0.414, 0.586)
"""An octagon of radius r is a square of (sqrt 2 - 1) r dilated by a diamond of (2 - sqrt 2) r."""


# Pixels and modes ---------------------------------------------------------------------------


def common_mode(image: Image.Image) -> Image.Image:
    """``image`` in one of three modes: RGB, RGBA (anything with transparency) or F (16-bit,
    32-bit integer and float images, which an 8-bit conversion would clip)."""
    if image.mode.startswith("I;"):  # 16-bit: Pillow converts it to F by way of I
        image = image.convert("I")
    if image.mode in ("I", "F"):
        return image.convert("F")
    has_alpha = image.mode in ALPHA_MODES or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def stretch(pixels: np.ndarray) -> np.ndarray:
    """A single-channel image of any range, mapped linearly onto [0, 255] (all 0 if flat)."""
    low, high = float(pixels.min()), float(pixels.max())
    return (pixels - low) * (255 / (high - low)) if high > low else np.zeros_like(pixels)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """The luma (LUMA_601) of (..., 3) colours -> (...), in ``rgb``'s float type."""
    return rgb @ np.array(LUMA_601, np.float32)


def resize_float(a: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """The float32 (H, W) array ``a`` resampled by Pillow to ``size`` = (width, height)."""
    return np.asarray(Image.fromarray(a, "F").resize(size, resample))


# Filters --------------------------------------------------------------------------------------


def box_blur(a: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)-square around each pixel of (H, W) ``a`` (edges repeated), as float32.

    A pass down the columns, then one along the rows, each a difference of running sums,
    so the cost does not grow with the radius.
    """
    k = 2 * radius + 1
    sums = np.cumsum(np.pad(a, ((radius + 1, radius), (0, 0)), mode="edge"), axis=0, dtype=np.float64)
    a = sums[k:] - sums[:-k]
    sums = np.cumsum(np.pad(a, ((0, 0), (radius + 1, radius)), mode="edge"), axis=1)
    return ((sums[:, k:] - sums[:, :-k]) / (k * k)).astype(np.float32)


def max_filter(a: np.ndarray, radius: int) -> np.ndarray:
    """Grey dilation of (H, W) ``a`` by a (2r+1)-square (edges repeated), as two 1-D passes."""
    if radius < 1:
        return a
    for axis in (0, 1):
        a = _windows(a, radius, axis).max(axis=-1)
    return a


def _windows(a: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Every run of 2r+1 neighbours of each pixel along ``axis``, as a view (H, W, 2r+1);
    the image's edge pixels are repeated outwards so windows near the edge stay full."""
    pad = [(0, 0), (0, 0)]
    pad[axis] = (radius, radius)
    return np.lib.stride_tricks.sliding_window_view(np.pad(a, pad, mode="edge"), 2 * radius + 1, axis=axis)


def closing(a: np.ndarray, radius: int) -> np.ndarray:
    """Grey closing of (H, W) ``a`` by a (2r+1)-square: a max filter, then a min filter.
    Removes every dark mark narrower than the square and keeps what is wider."""
    return -max_filter(-max_filter(a, radius), radius)


def block_max(a: np.ndarray, block: int) -> np.ndarray:
    """The maximum of each ``block`` x ``block`` tile of (H, W) ``a`` (edges padded by
    repetition): a coarse grid, ``block`` times smaller on each side."""
    h, w = -(-a.shape[0] // block) * block, -(-a.shape[1] // block) * block
    padded = np.pad(a, ((0, h - a.shape[0]), (0, w - a.shape[1])), mode="edge")
    return padded.reshape(h // block, block, w // block, block).max(axis=(1, 3))


def dilate(a: np.ndarray, radius: float) -> np.ndarray:
    """Grey dilation of (H, W) ``a`` by an octagon of about ``radius`` (OCTAGON: a near-disk,
    so strokes grow equally in every direction): a square, then a diamond, step by step."""
    square, diamond = OCTAGON
    a = max_filter(a, round(square * radius))
    for _ in range(round(diamond * radius)):
        shifted = np.pad(a, 1, mode="edge")
        a = np.maximum.reduce(
            [a, shifted[:-2, 1:-1], shifted[2:, 1:-1], shifted[1:-1, :-2], shifted[1:-1, 2:]]
        )
    return a


def dilate_mask(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation of the boolean (H, W) ``mask`` by a (2r+1)-square."""
    return max_filter(mask.astype(np.uint8), radius).astype(bool)


def open_mask(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary opening of ``mask`` by a (2r+1)-square (an erosion, then a dilation): what
    is left is the parts at least 2r+1 pixels thick in both directions. The image's edge
    pixels repeat outwards, so pad ``mask`` first if outside should count as unset."""
    return dilate_mask(~dilate_mask(~mask, radius), radius)


# Lighting: planes through an image's brightness ------------------------------------------------


def fit_plane(grid: np.ndarray, rounds: int = 4, clip: float = 2.5, floor: float = 1.0) -> np.ndarray:
    """The coefficients (a, b, c) of a plane a + b x + c y through the bulk of (H, W) ``grid``.

    Least squares, then again without the cells farther from it, on either side, than
    ``clip`` robust standard deviations of the residuals plus ``floor`` (in the grid's
    units: so a perfectly flat grid keeps its cells), ``rounds`` times in all. What lies
    far off the overall trend (ink, glare) does not tilt the plane.
    """
    basis, values = _plane_basis(grid.shape), grid.ravel().astype(np.float64)
    bulk = np.ones(values.shape, bool)
    for _ in range(rounds):
        coefficients = np.linalg.lstsq(basis[bulk], values[bulk], rcond=None)[0]
        residual = values - basis @ coefficients
        bulk = np.abs(residual) < clip * (robust_sigma(residual[bulk]) + floor)
    return coefficients


def upper_plane(grid: np.ndarray, rounds: int = 10, below: float = 0.01) -> np.ndarray:
    """The plane along the upper side of (H, W) ``grid``, below which darker marks lie, as
    an array of ``grid``'s shape.

    Asymmetric least squares: cells below the plane count ``below`` as much as cells
    above it, refitted ``rounds`` times, so that even dark marks covering most of the
    grid do not pull it down. Unlike a filter it has no trouble at the grid's edge.
    """
    basis, values = _plane_basis(grid.shape), grid.ravel().astype(np.float64)
    weights = np.ones_like(values)
    for _ in range(rounds):
        root = np.sqrt(weights)
        coefficients = np.linalg.lstsq(basis * root[:, None], values * root, rcond=None)[0]
        weights = np.where(values >= basis @ coefficients, 1.0, below)
    return plane(coefficients, grid.shape)


def plane(coefficients: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The plane a + b x + c y over an image of ``shape`` (H, W), as float32, in the
    coordinates of ``fit_plane`` (so a plane fitted on a coarse grid fits the full image)."""
    x, y = _coordinates(shape)
    return (coefficients[0] + coefficients[1] * x + coefficients[2] * y).astype(np.float32)


def _plane_basis(shape: tuple[int, int]) -> np.ndarray:
    """(H * W, 3): 1, x and y at every pixel."""
    x, y = np.broadcast_arrays(*_coordinates(shape))
    return np.stack([np.ones(x.size), x.ravel(), y.ravel()], axis=-1)


def _coordinates(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """x (1, W) and y (H, 1) of each pixel's centre, measured from the image's centre in
    units of its long side, so that a coarse grid and the full image share one plane."""
    h, w = shape
    x = (np.arange(w) + 0.5 - w / 2) / max(h, w)
    y = (np.arange(h) + 0.5 - h / 2) / max(h, w)
    return x[None, :], y[:, None]


# Thresholds ------------------------------------------------------------------------------------


def otsu(values: np.ndarray, bins: int = 256) -> float | None:
    """Otsu's threshold of non-negative ``values``: the level that best splits them in two.

    The level maximises the between-class variance over a histogram of ``bins`` bins
    from 0 to the largest value. None when there is nothing to split (all values in one
    bin).
    """
    top = float(values.max())
    counts, edges = np.histogram(values, bins=bins, range=(0.0, top))
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts)[:-1].astype(np.float64)
    mass = np.cumsum(counts * centres)[:-1]
    total, total_mass = weight[-1] + counts[-1], mass[-1] + counts[-1] * centres[-1]
    rest = total - weight
    split = (weight > 0) & (rest > 0)
    if not split.any():
        return None
    between = np.zeros_like(weight)
    between[split] = (
        weight[split] * rest[split]
        * (mass[split] / weight[split] - (total_mass - mass[split]) / rest[split]) ** 2
    )
    return float(edges[1:-1][np.argmax(between)])


def robust_sigma(deviations: np.ndarray) -> float:
    """The standard deviation of ``deviations`` from a centre, estimated from their median
    absolute value (MAD_TO_SIGMA), so a minority of outliers does not inflate it."""
    return MAD_TO_SIGMA * float(np.median(np.abs(deviations)))


# Connected components --------------------------------------------------------------------------


def label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of a boolean (H, W) mask: labels (H, W) int, 0 = background, and n.

    Union-find over the pixel graph, vectorised: every round hooks the larger root of
    each edge whose ends still differ onto the smaller one, then lets every pixel jump
    up its tree until it points at its root; a few rounds suffice.
    """
    index = np.full(mask.shape, -1, np.int64)
    index[mask] = np.arange(int(mask.sum()))
    a, b = (np.concatenate(ends) for ends in zip(*_neighbour_pairs(index)))
    parent = np.arange(int(mask.sum()))
    while len(a):
        root_a, root_b = parent[a], parent[b]
        differ = root_a != root_b
        if not differ.any():
            break
        np.minimum.at(parent, np.maximum(root_a, root_b)[differ], np.minimum(root_a, root_b)[differ])
        while not np.array_equal(parent, parent[parent]):
            parent = parent[parent]
    roots, compact = np.unique(parent, return_inverse=True)
    labels = np.zeros(mask.shape, np.int64)
    labels[mask] = compact + 1
    return labels, len(roots)


def _neighbour_pairs(index: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(a, b) pixel numbers of every pair of 8-neighbours that are both set (index >= 0)."""
    h, w = index.shape
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = index[: h - dy, max(0, -dx) : w - max(0, dx)]
        b = index[dy:, max(0, dx) : w - max(0, -dx)]
        both = (a >= 0) & (b >= 0)
        yield a[both], b[both]


def component_stats(labels: np.ndarray, count: int, weight: np.ndarray, band: float) -> dict[str, np.ndarray]:
    """Per component 1..n of ``labels``, weighting each pixel by ``weight`` (H, W):

    ``mass``, its total weight; ``box``, its bounding box (n, 4: top, left, bottom, right,
    inclusive); ``off_centre``, the distance of its centre of mass from the image's centre
    (0 at the centre, 1 at a corner); ``edge_share``, the part of its weight within
    ``band`` (a fraction of the long side) of the image's sides.
    """
    h, w = labels.shape
    rows, cols = np.nonzero(labels)
    lab, weight = labels[rows, cols] - 1, weight[rows, cols]
    mass = np.bincount(lab, weights=weight, minlength=count) + 1e-9  # no division by zero below
    box = np.array([[h, w, -1, -1]] * count)
    np.minimum.at(box[:, 0], lab, rows), np.minimum.at(box[:, 1], lab, cols)
    np.maximum.at(box[:, 2], lab, rows), np.maximum.at(box[:, 3], lab, cols)
    com_r = np.bincount(lab, weights=weight * rows, minlength=count) / mass
    com_c = np.bincount(lab, weights=weight * cols, minlength=count) / mass
    off = np.hypot((com_r - (h - 1) / 2) / (h / 2), (com_c - (w - 1) / 2) / (w / 2)) / np.sqrt(2)
    to_edge = np.minimum(np.minimum(rows, h - 1 - rows), np.minimum(cols, w - 1 - cols))
    in_band = to_edge < band * max(h, w)
    edge_share = np.bincount(lab, weights=weight * in_band, minlength=count) / mass
    return {"mass": mass, "box": box, "off_centre": off, "edge_share": edge_share}


def grown(box: np.ndarray, fraction: float) -> np.ndarray:
    """``box`` (top, left, bottom, right) grown on every side by ``fraction`` of its long side."""
    grow = fraction * max(box[2] - box[0], box[3] - box[1])
    return np.array([box[0] - grow, box[1] - grow, box[2] + grow, box[3] + grow])


def overlaps(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Which ``boxes`` (n, 4: top, left, bottom, right) overlap ``box``."""
    return (boxes[:, 0] <= box[2]) & (boxes[:, 2] >= box[0]) & (boxes[:, 1] <= box[3]) & (boxes[:, 3] >= box[1])


# Shapes ----------------------------------------------------------------------------------------


def stroke_width(mask: np.ndarray) -> float:
    """The mean stroke width of the boolean (H, W) ``mask``, in pixels: twice its area over
    its perimeter.

    The perimeter is the count of set/unset pixel edges, times pi/4 to undo the
    staircase of slanted edges (an edge at a random angle is counted 4/pi times too long).
    """
    edges = np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(mask[:, 1:] != mask[:, :-1])
    return 2 * float(mask.sum()) / max(1.0, edges * np.pi / 4)


def box_size(a: np.ndarray, level: float) -> tuple[int, int]:
    """Height and width of the box of the pixels of (H, W) ``a`` at or above ``level``
    (1 x 1 when there are none)."""
    rows, cols = np.nonzero(a >= level)
    if len(rows) == 0:
        return 1, 1
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def centre_of_mass(a: np.ndarray) -> tuple[float, float]:
    """(row, column) centre of mass of a non-negative (H, W) array."""
    total = float(a.sum())
    row = float(a.sum(axis=1) @ np.arange(a.shape[0])) / total
    col = float(a.sum(axis=0) @ np.arange(a.shape[1])) / total
    return row, col


# Straight lines --------------------------------------------------------------------------------


def near_horizontal_lines(
    mask: np.ndarray, span: float, max_degrees: float, step_degrees: float
) -> tuple[float, list[tuple[int, int]]]:
    """Straight lines of the boolean (H, W) ``mask`` that cross ``span`` of its width.

    Slopes within ``max_degrees`` of horizontal are tried ``step_degrees`` apart (a
    Hough transform restricted to near-horizontal lines); at each, a line is a band of
    two rows (to allow for rounding) set in enough columns, and the slope with the most
    such rows wins. Returns that slope (rows per column) and the (first, last) row, at
    column 0, of each band of adjacent line rows.
    """
    h, w = mask.shape
    rows, cols = np.nonzero(mask)
    pad = int(np.ceil(w * np.tan(np.radians(max_degrees)))) + 1
    best, best_slope = np.zeros(h + 2 * pad, bool), 0.0
    for slope in np.tan(np.radians(np.arange(-max_degrees, max_degrees + step_degrees / 2, step_degrees))):
        hit = np.zeros((h + 2 * pad + 1, w), bool)
        hit[np.round(rows - cols * slope).astype(int) + pad, cols] = True
        lines = (hit[:-1] | hit[1:]).sum(axis=1) >= span * w
        if lines.sum() > best.sum():
            best, best_slope = lines, float(slope)
    starts = np.flatnonzero(best & ~np.concatenate([[False], best[:-1]]))
    ends = np.flatnonzero(best & ~np.concatenate([best[1:], [False]]))
    return best_slope, [(int(s) - pad, int(e) + 1 - pad) for s, e in zip(starts, ends)]


def paint_over_band(a: np.ndarray, slope: float, first: int, last: int, grow: int) -> np.ndarray:
    """(H, W) ``a`` with a slanted band painted over: in each column, the rows from ``first``
    to ``last`` (+ slope * column), grown by ``grow`` pixels on each side, take the lesser
    of the values just above and just below the band. What crosses the band goes on
    through it; the band itself goes."""
    h, w = a.shape
    cols = np.arange(w)
    top = np.floor(first + slope * cols).astype(int) - grow
    rows = top[:, None] + np.arange(last - first + 1 + 2 * grow)  # (W, band height): the rows to paint
    fill = np.minimum(a[np.clip(top - 1, 0, h - 1), cols], a[np.clip(rows[:, -1] + 1, 0, h - 1), cols])
    cols, fill = np.broadcast_to(cols[:, None], rows.shape), np.broadcast_to(fill[:, None], rows.shape)
    inside = (rows >= 0) & (rows < h)
    out = a.copy()
    out[rows[inside], cols[inside]] = fill[inside]
    return out
