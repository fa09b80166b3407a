"""From a photo of a handwritten digit to an MNIST digit.

    load_digit(path, warned=None) -> (28, 28) uint8, a white digit on black, made the way MNIST was made
    preprocess(image)  -> the same, from a PIL image that is already open
    ImageError         the file is not a readable image, or no digit can be found in it
    ImageWarning       something odd about an image read all the same (when no ``warned`` list is given)

MNIST's digits are NIST scans whose ink was scaled to fit a 20x20 box (keeping the
aspect ratio, anti-aliased, hence the grey levels) and pasted into a 28x28 field so
that the centre of mass of the ink lands at the centre. A network trained on them
only reads a photo prepared the same way, so ``preprocess`` rebuilds that recipe
from a photo, in steps that each answer something real photos get wrong:

1. ``_working_rgb``: apply the EXIF rotation, flatten any alpha channel onto a
   background that contrasts with the strokes, and shrink to WORK_SIZE pixels on the
   long side (phone photos are 4000 px wide; the digit needs a few hundred).
2. ``_dark_ink``, ``_ink_strength``: make the ink dark (invert light-on-dark
   drawings), estimate the paper colour around every pixel (a plane for the overall
   lighting, then a morphological closing on a coarse grid, which follows shadows but
   not strokes) and measure how far each pixel falls below it, over all three
   channels, so blue or red ink on coloured paper counts as ink just like pencil.
3. ``_without_edge_regions``, ``_without_ruled_lines``: clear a table, dark margin or
   frame along the image's edge, and paint over the ruled lines of lined paper.
4. ``_otsu``, ``_digit_components``: split ink from paper with Otsu's threshold and
   keep the digit's connected pieces, dropping specks, paper edges and frames
   (8-connected components, labelled in pure NumPy by ``_label``).
5. ``_ink_levels``, ``_normalise_strokes``: the digit as a nearly binary picture with
   soft edges, its strokes thickened or thinned into MNIST's range of widths relative
   to the digit's size (a thin pen line would vanish at 28x28; a marker fills loops).
6. ``_to_field``: shrink into the 20x20 box (the anti-aliasing gives the grey levels)
   and paste into 28x28 with the centre of mass at MNIST's centre, as uint8 0-255.

>>> from PIL import Image, ImageDraw
>>> paper = Image.new("L", (300, 300), 255)
>>> ImageDraw.Draw(paper).line([(150, 40), (150, 260)], fill=0, width=12)
>>> digit = preprocess(paper)
>>> digit.shape, digit.dtype
((28, 28), dtype('uint8'))
"""

from __future__ import annotations

import os
import warnings
from typing import BinaryIO, Iterator

import numpy as np
from PIL import Image, ImageOps

from purenet.files import open_regular

WORK_SIZE = 400
"""Long side, in pixels, at which a photo is analysed (larger images are shrunk first)."""

MIN_WORK_SIZE = 160
"""Smaller images (50-pixel scans) are enlarged to this, so the pixel-sized steps still fit."""

FIELD, BOX = 28, 20
"""MNIST's image side and the box its digits were scaled to fit."""

CENTRE = 14.0
"""Where MNIST's centre of mass sits, in (row, column) pixel indices: the mean over the
training set is (14.00, 14.01), with the 0.29 px spread of a rounding to whole pixels."""

STROKE_RANGE = (0.115, 0.2)
"""Stroke widths, as fractions of the digit's long side, that MNIST's digits have: from
their lower quartile to their 97th percentile, measured as ``_stroke_width`` measures a
photo (on MNIST digits enlarged 10x; the median is 0.130, i.e. 2.6 px of the 20 px box).
Thinner strokes are thickened to the lower end, thicker ones thinned to the upper end."""

EDGE_BAND, EDGE_SHARE = 0.08, 0.85
"""A piece of ink with more than EDGE_SHARE of its ink within EDGE_BAND (of the long
side) of the image's sides keeps to the edge: a table, a paper edge or a frame, not the
digit (even a 0 that a tight crop cuts on all four sides has a good part of its ink
further in)."""

EDGE_CONTACT, SOLID = 0.08, 0.15
"""A piece of ink covering more than EDGE_CONTACT of the image's edge pixels, with parts
thicker than 2 * SOLID of the long side (no digit's stroke is), is a table or dark margin."""

RULED_SPAN = 0.7
"""A straight, near-horizontal run of ink across this fraction of the image is a ruled line."""

_ALPHA_MODES = ("RGBA", "LA", "La", "RGBa", "PA")


class ImageError(ValueError):
    """An image cannot be read, or shows no digit; the message names the file and the problem."""


class ImageWarning(UserWarning):
    """Something odd about an image that was read all the same; the message names the file."""


def load_digit(path: str | os.PathLike, warned: list[str] | None = None) -> np.ndarray:
    """Read the image file at ``path`` and return its digit as MNIST would have it.

    Returns a (28, 28) uint8 array, white (255) ink on black (0), the digit fitted
    into the central 20x20 box with its centre of mass at pixel (14, 14). Any format
    Pillow reads works (JPEG, PNG, BMP, GIF, TIFF, WebP...). Raises ``ImageError``
    naming the file when it is missing, empty, not a regular file (a folder, a FIFO,
    a device: refused after ``os.stat``, never opened for reading, so nothing blocks),
    not an image, truncated, too large for Pillow's decompression-bomb limit, or blank.

    Warnings raised while the file is read (Pillow's about damaged EXIF data or an image
    over its decompression-bomb warning size, NumPy's...) never escape as they are, whatever
    the process's warning filters: each becomes one line "PATH: message", appended to
    ``warned`` when a list is given, else issued again as an ``ImageWarning``. When the file
    cannot be read, the ``ImageError`` alone says why (its warnings are dropped).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # record them all, even under PYTHONWARNINGS=error
        image = _open(path)
        try:
            digit = preprocess(image)
        except ImageError as error:
            raise ImageError(f"{path}: {error}") from None
    lines = list(dict.fromkeys(f"{path}: {_one_line(str(warning.message))}" for warning in caught))
    if warned is not None:
        warned.extend(lines)
    else:
        for line in lines:
            warnings.warn(line, ImageWarning, stacklevel=2)
    return digit


def _open(path: str | os.PathLike) -> Image.Image:
    """Decode ``path`` and turn it upright (EXIF orientation) into an image in memory, the
    file closed. JPEGs are decoded at a reduced size (DCT scaling): much faster for photos."""
    with _open_regular_file(path) as file:
        try:
            with Image.open(file) as image:
                if image.format == "JPEG":
                    image.draft(image.mode, _draft_size(image.size))
                return ImageOps.exif_transpose(image)  # a new image: this loads the file
        except Image.UnidentifiedImageError:
            raise ImageError(f"{path}: not an image file (or a format Pillow cannot read)") from None
        except Image.DecompressionBombError as error:
            raise ImageError(f"{path}: too large to decode safely ({_one_line(str(error))})") from None
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise ImageError(f"{path}: cannot decode the image ({_one_line(str(error))})") from None
        except Exception as error:  # a damaged file can make a Pillow plugin fail in any way
            raise ImageError(f"{path}: cannot decode the image ({type(error).__name__}: {_one_line(str(error))})") from None


def _open_regular_file(path: str | os.PathLike) -> BinaryIO:
    """``path`` opened for binary reading, once it is known to be a regular, non-empty file
    (``purenet.files.open_regular``: a FIFO, socket, device or folder is never opened)."""
    file = open_regular(path, ImageError, expected="an image file", problem=lambda error: _os_problem(error, path))
    try:
        if os.fstat(file.fileno()).st_size == 0:
            raise ImageError(f"{path}: the file is empty (0 bytes)")
    except OSError as error:
        file.close()
        raise ImageError(f"{path}: {_os_problem(error)}") from None
    except BaseException:
        file.close()
        raise
    return file


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


def preprocess(image: Image.Image) -> np.ndarray:
    """Turn an opened photo, scan or drawing of one digit into an MNIST digit.

    ``image`` may be in any Pillow mode (colour, grey, palette, 16-bit, with or without
    alpha); dark ink on light paper and light ink on dark are both read. Returns a
    (28, 28) uint8 array, white digit on black. Raises ``ImageError`` if the image is
    blank (no ink stands out from the background): a blank photo has no answer, and
    returning an empty field would make the network guess.
    """
    rgb = _working_rgb(image)
    ink = _ink_strength(_dark_ink(rgb))
    ink = _without_ruled_lines(_without_edge_regions(ink))
    threshold = _otsu(ink)
    digit = _digit_components(ink > threshold, ink)
    grey = _ink_levels(ink, threshold, digit)
    grey = _normalise_strokes(_crop(grey, digit), _stroke_width(digit))
    return _to_field(grey)


# 1. A float RGB picture at working size -------------------------------------------------


def _working_rgb(image: Image.Image) -> np.ndarray:
    """(H, W, 3) float32 in [0, 255]: upright, alpha flattened, long side at most WORK_SIZE."""
    image = ImageOps.exif_transpose(image)
    image = _common_mode(image)
    image = image.resize(_working_size(image.size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    pixels = np.asarray(image, dtype=np.float32)
    if image.mode == "F":
        return _stretch(pixels)[..., None].repeat(3, axis=2)
    if image.mode == "RGBA":
        return _flatten_alpha(pixels[..., :3], pixels[..., 3] / 255)
    return pixels


def _common_mode(image: Image.Image) -> Image.Image:
    """RGB, RGBA (anything with transparency) or F (16-bit and float images)."""
    if image.mode.startswith("I;"):  # 16-bit: Pillow converts it to F by way of I
        image = image.convert("I")
    if image.mode in ("I", "F"):
        return image.convert("F")
    has_alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def _working_size(size: tuple[int, int], largest: int = WORK_SIZE) -> tuple[int, int]:
    """``size`` scaled so its long side is ``largest`` (if larger) or MIN_WORK_SIZE (if smaller)."""
    long_side = max(size)
    target = min(max(long_side, min(MIN_WORK_SIZE, largest)), largest)
    return tuple(max(1, round(side * target / long_side)) for side in size)


def _stretch(pixels: np.ndarray) -> np.ndarray:
    """A single-channel image of any range, mapped linearly onto [0, 255]."""
    low, high = float(pixels.min()), float(pixels.max())
    return (pixels - low) * (255 / (high - low)) if high > low else np.zeros_like(pixels)


def _flatten_alpha(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite ``rgb`` (H, W, 3) with ``alpha`` (H, W) in [0, 1] onto a chosen background.

    Where little of the image is opaque, the opaque part is the strokes (a transparent
    PNG from a drawing app, whose hidden colour is often the ink's own): the background
    is white under dark strokes, black under light ones. Where most of it is opaque,
    the opaque part is paper and the transparent rest is filled with the paper's colour.
    """
    if alpha.min() > 0.98:
        return rgb
    if alpha.max() < 0.02:
        raise ImageError("no digit found: the image is fully transparent")
    if alpha.mean() < 0.5:
        stroke_lum = float((_luminance(rgb) * alpha).sum() / alpha.sum())
        background = np.full(3, 255.0 if stroke_lum < 128 else 0.0, np.float32)
    else:
        background = np.median(rgb[alpha > 0.5], axis=0)
    return rgb * alpha[..., None] + background * (1 - alpha[..., None])


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma (the weights Pillow's "L" uses) of (..., 3) -> (...)."""
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


# 2. How much ink is at each pixel --------------------------------------------------------


def _dark_ink(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` with dark ink on light paper: light-on-dark images are inverted.

    The paper is the bulk of the picture, the ink a tail on one side of its brightness:
    compare how far the darkest and the brightest few percent reach from the median,
    once the overall lighting (a plane fitted to the brightness, ``_fit_plane``; a
    curved surface could take the shape of a big 0) is taken away, so the bright side
    of a photo lit from one side is not taken for ink.
    """
    lum = _luminance(rgb)
    small = np.asarray(Image.fromarray(lum, "F").resize(_working_size(lum.shape[::-1], 64)))
    flat = lum - _plane(_fit_plane(small), lum.shape)
    dark, median, bright = np.split(np.percentile(flat, [0.5, 1, 2, 4, 50, 96, 98, 99, 99.5]), [4, 5])
    return 255 - rgb if (bright - median).sum() > (median - dark).sum() else rgb


def _ink_strength(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float32 >= 0: how far each pixel is darker than the paper around it.

    The distance is taken over the three channels (only where a channel falls below the
    paper's), so coloured ink on coloured paper counts, and glare brighter than the
    paper does not.
    """
    rgb = np.stack([_box_blur(rgb[..., c], 1) for c in range(3)], axis=2)  # sensor and JPEG noise
    paper = np.stack([_paper(rgb[..., c]) for c in range(3)], axis=2)
    below = np.maximum(paper - rgb, 0)
    return np.sqrt((below**2).mean(axis=2))


def _paper(channel: np.ndarray) -> np.ndarray:
    """The local paper level of one channel (H, W): strokes removed, lighting kept.

    It is found on a coarse grid of block maxima (about 100 cells on the long side, for
    speed) in two parts. The overall lighting, brighter towards a lamp or a window, is a
    plane fitted to the paper (``_lighting``). What it leaves, a shadow or a vignette
    say, goes through a closing (max filter, then min filter), which removes every dark
    mark narrower than its window, a third of the image (the thickest strokes of a
    digit filling a tight crop), and keeps what is wider. A box blur smooths the blocks
    before the result is stretched back to full size.
    """
    grid = _block_max(channel, max(1, max(channel.shape) // 100))
    lighting = _lighting(grid)
    radius = max(2, max(grid.shape) // 6)
    rest = -_max_filter(-_max_filter(grid - lighting, radius), radius)
    grid = (lighting + _box_blur(rest, radius // 2)).astype(np.float32)
    height, width = channel.shape
    return np.asarray(Image.fromarray(grid, "F").resize((width, height), Image.Resampling.BILINEAR))


def _lighting(grid: np.ndarray, rounds: int = 10) -> np.ndarray:
    """The overall lighting of the paper in ``grid`` (H, W): the plane along its upper
    side, below which the ink lies. Unlike a filter it has no trouble at the image's
    edge: a side that darkens is followed to the edge, and a stroke cut by the edge stays
    ink. (A curved surface could dip into the places where only ink is, as in the middle
    of a tight crop of a thick 0.)

    Asymmetric least squares: cells below the plane count a hundredth as much as cells
    above it, refitted a few times, so even a thick digit that fills the picture does
    not pull it down.
    """
    basis, values = _plane_basis(grid.shape), grid.ravel().astype(np.float64)
    weights = np.ones_like(values)
    for _ in range(rounds):
        root = np.sqrt(weights)
        coefficients = np.linalg.lstsq(basis * root[:, None], values * root, rcond=None)[0]
        weights = np.where(values >= basis @ coefficients, 1.0, 0.01)
    return _plane(coefficients, grid.shape)


def _fit_plane(grid: np.ndarray, rounds: int = 4) -> np.ndarray:
    """The coefficients of a plane through the bulk of ``grid`` (H, W): fitted by least
    squares, then again without the cells far from it on either side, a few times over."""
    basis, values = _plane_basis(grid.shape), grid.ravel().astype(np.float64)
    bulk = np.ones(values.shape, bool)
    for _ in range(rounds):
        coefficients = np.linalg.lstsq(basis[bulk], values[bulk], rcond=None)[0]
        residual = values - basis @ coefficients
        bulk = np.abs(residual) < 2.5 * (1.4826 * float(np.median(np.abs(residual[bulk]))) + 1.0)
    return coefficients


def _plane(coefficients: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The plane a + b x + c y over an image of ``shape`` (H, W), as float32."""
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


def _block_max(a: np.ndarray, block: int) -> np.ndarray:
    """The maximum of each ``block`` x ``block`` tile of ``a`` (edges padded by repetition)."""
    h, w = -(-a.shape[0] // block) * block, -(-a.shape[1] // block) * block
    padded = np.pad(a, ((0, h - a.shape[0]), (0, w - a.shape[1])), mode="edge")
    return padded.reshape(h // block, block, w // block, block).max(axis=(1, 3))


def _max_filter(a: np.ndarray, radius: int) -> np.ndarray:
    """Grey dilation of (H, W) ``a`` by a (2r+1)-square, done as two 1-D passes."""
    if radius < 1:
        return a
    for axis in (0, 1):
        a = _windows(a, radius, axis).max(axis=-1)
    return a


def _box_blur(a: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)-square around each pixel of (H, W) ``a`` (edges repeated), as
    float32: a pass down the columns, then one along the rows, each a difference of
    running sums."""
    k = 2 * radius + 1
    sums = np.cumsum(np.pad(a, ((radius + 1, radius), (0, 0)), mode="edge"), axis=0, dtype=np.float64)
    a = sums[k:] - sums[:-k]
    sums = np.cumsum(np.pad(a, ((0, 0), (radius + 1, radius)), mode="edge"), axis=1)
    return ((sums[:, k:] - sums[:, :-k]) / (k * k)).astype(np.float32)


def _windows(a: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Every run of 2r+1 neighbours of each pixel along ``axis``, as a view (H, W, 2r+1);
    the image's edge pixels are repeated outwards so windows near the edge stay full."""
    pad = [(0, 0), (0, 0)]
    pad[axis] = (radius, radius)
    return np.lib.stride_tricks.sliding_window_view(np.pad(a, pad, mode="edge"), 2 * radius + 1, axis=axis)


# 3. Ink versus paper ----------------------------------------------------------------------


def _otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold: the level that best separates ``values`` into two classes.

    Maximises the between-class variance over a 256-bin histogram. Raises ImageError
    when there is nothing to separate (a blank image).
    """
    top = float(values.max())
    if top < 1.0:
        raise ImageError("no digit found: the image is blank")
    counts, edges = np.histogram(values, bins=bins, range=(0.0, top))
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts)[:-1].astype(np.float64)
    mass = np.cumsum(counts * centres)[:-1]
    total, total_mass = weight[-1] + counts[-1], mass[-1] + counts[-1] * centres[-1]
    rest = total - weight
    split = (weight > 0) & (rest > 0)
    if not split.any():  # every value in one bin: a flat image
        raise ImageError("no digit found: the image is blank")
    between = np.zeros_like(weight)
    between[split] = (
        weight[split] * rest[split]
        * (mass[split] / weight[split] - (total_mass - mass[split]) / rest[split]) ** 2
    )
    return float(edges[1:-1][np.argmax(between)])


def _ink_levels(ink: np.ndarray, threshold: float, digit: np.ndarray) -> np.ndarray:
    """The digit's ink as a nearly binary (H, W) picture in [0, 1], 0 away from the digit.

    Like the NIST scans MNIST was made from: 0 below 0.6 ``threshold``, 1 above 1.4,
    a ramp between for soft edges. The grey levels of the 28x28 result come, as
    MNIST's did, from anti-aliasing when the digit is shrunk into its box.
    """
    _check_contrast(ink, threshold, digit)
    near = _dilate_mask(digit, _join_radius(ink.shape))
    return (np.clip((ink - 0.6 * threshold) / (0.8 * threshold), 0, 1) * near).astype(np.float32)


def _check_contrast(ink: np.ndarray, threshold: float, digit: np.ndarray) -> None:
    """Raise ImageError unless the digit's ink stands out from the paper's noise: its
    median strength must pass the paper's median by four robust standard deviations
    (and 8 grey levels). On a blank page Otsu's threshold merely splits the noise."""
    paper = ink[ink <= threshold]
    centre = float(np.median(paper))
    sigma = 1.4826 * float(np.median(np.abs(paper - centre)))
    if float(np.median(ink[digit])) < max(8.0, centre + 4 * sigma):
        raise ImageError("no digit found: nothing stands out from the background")


def _without_ruled_lines(ink: np.ndarray) -> np.ndarray:
    """``ink`` (H, W) with the ruled lines of lined or squared paper painted over.

    A ruled line is straight, within 5 degrees of horizontal, crosses at least RULED_SPAN
    of the picture's width and is thin (2% of its height at most); lined paper shows two
    or more, while a digit never has two bars that long (and a tight crop's bar is
    thicker). Each line is painted over with the lesser ink just above and below it, so
    the strokes that cross it go on and the line goes.
    """
    slope, bands = _ruled_lines(ink > _otsu(ink))
    bands = [(first, last) for first, last in bands if last - first < max(2, 0.02 * ink.shape[0])]
    if len(bands) < 2:
        return ink
    for first, last in bands:
        ink = _paint_over(ink, slope, first, last)
    return ink


def _ruled_lines(mask: np.ndarray) -> tuple[float, list[tuple[int, int]]]:
    """The slope, and the (first, last) row at column 0 of each band of rows, of the lines
    that cross RULED_SPAN of ``mask``'s width: tried at slopes 0.25 degrees apart, a line
    being a band of rows (2 px, to allow for rounding) set in enough columns."""
    h, w = mask.shape
    rows, cols = np.nonzero(mask)
    pad = int(np.ceil(w * np.tan(np.radians(5)))) + 1
    best, best_slope = np.zeros(h + 2 * pad, bool), 0.0
    for slope in np.tan(np.radians(np.arange(-5, 5.01, 0.25))):
        hit = np.zeros((h + 2 * pad + 1, w), bool)
        hit[np.round(rows - cols * slope).astype(int) + pad, cols] = True
        lines = (hit[:-1] | hit[1:]).sum(axis=1) >= RULED_SPAN * w
        if lines.sum() > best.sum():
            best, best_slope = lines, float(slope)
    starts = np.flatnonzero(best & ~np.concatenate([[False], best[:-1]]))
    ends = np.flatnonzero(best & ~np.concatenate([best[1:], [False]]))
    return best_slope, [(int(s) - pad, int(e) + 1 - pad) for s, e in zip(starts, ends)]


def _paint_over(ink: np.ndarray, slope: float, first: int, last: int) -> np.ndarray:
    """``ink`` with the band between rows ``first`` and ``last`` + slope * column (grown
    by two pixels for the line's soft edges) replaced, column by column, by the lesser
    of the ink just above and just below it."""
    h, w = ink.shape
    cols = np.arange(w)
    top = np.floor(first + slope * cols).astype(int) - 2
    rows = top[:, None] + np.arange(last - first + 5)  # (W, band height): the rows to paint
    fill = np.minimum(ink[np.clip(top - 1, 0, h - 1), cols], ink[np.clip(rows[:, -1] + 1, 0, h - 1), cols])
    cols, fill = np.broadcast_to(cols[:, None], rows.shape), np.broadcast_to(fill[:, None], rows.shape)
    inside = (rows >= 0) & (rows < h)
    out = ink.copy()
    out[rows[inside], cols[inside]] = fill[inside]
    return out


# 4. Which pieces are the digit -----------------------------------------------------------


def _join_radius(shape: tuple[int, ...]) -> int:
    """Gaps up to twice this many pixels (1% of the image) do not split a stroke."""
    return max(1, round(max(shape) / 100))


def _dilate_mask(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation of ``mask`` by a (2r+1)-square."""
    return _max_filter(mask.astype(np.uint8), radius).astype(bool)


def _label(mask: np.ndarray) -> tuple[np.ndarray, int]:
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


def _digit_components(mask: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` (H, W) that belong to the digit, as a boolean (H, W) mask.

    Pieces closer than 2% of the image are joined (a dilation) before labelling. Pieces
    that keep to the image's edge (``_along_edge``: a table, a paper edge or a frame along
    the sides) or box in another big piece (a frame drawn around the digit) are not the
    digit. Of the rest, the main piece has the most ink, discounted away from the centre.
    Other pieces stay when they hold 5% of its ink and lie within a quarter of its size
    of its box: parts of the digit the pen or a tight crop did not join. The rest
    (specks, shadows) goes.
    """
    labels, count = _label(_dilate_mask(mask, _join_radius(mask.shape)))
    stats = _component_stats(labels, count, ink * mask)
    candidate = ~_along_edge(stats) & ~_frames(stats["box"], stats["mass"])
    main = _main_piece(stats, candidate)
    near = _overlaps(stats["box"], _grown(stats["box"][main], 0.25))
    keep = (stats["mass"] >= 0.05 * stats["mass"][main]) & near & candidate
    keep[main] = True
    return np.concatenate([[False], keep])[labels] & mask


def _main_piece(stats: dict[str, np.ndarray], candidate: np.ndarray) -> int:
    """The candidate piece (any piece, if none is) with the most ink, discounted by half
    at the image's corners: people put the digit in the middle of the picture."""
    candidate = candidate if candidate.any() else np.ones_like(candidate)
    return int(np.argmax(stats["mass"] * (1 - 0.5 * stats["off_centre"]) * candidate))


def _along_edge(stats: dict[str, np.ndarray]) -> np.ndarray:
    """Which pieces keep to the image's edge (more than EDGE_SHARE of their ink within
    EDGE_BAND of its sides), away from the main piece: a piece of the digit that a tight
    crop cut off, within a tenth of the main piece's size of its box, is not one."""
    along = stats["edge_share"] > EDGE_SHARE
    if along.all():
        return np.zeros_like(along)
    box = _grown(stats["box"][_main_piece(stats, ~along)], 0.1)
    inside = (stats["box"][:, :2] >= box[:2]).all(axis=1) & (stats["box"][:, 2:] <= box[2:]).all(axis=1)
    return along & ~inside


def _without_edge_regions(ink: np.ndarray) -> np.ndarray:
    """``ink`` (H, W) with a table, dark margin or frame along the image's sides set to 0.

    They are pieces of ink that keep to the edge (``_along_edge``), and the solid parts
    (thicker than 2 * SOLID, which no stroke is) of pieces covering much of the edge. They
    are cleared with a small border, so a digit that touches them comes free and the ink
    threshold is not set between paper and table.
    """
    mask = ink > _otsu(ink)
    labels, count = _label(_dilate_mask(mask, _join_radius(mask.shape)))
    clear = np.concatenate([[False], _along_edge(_component_stats(labels, count, ink * mask))])[labels] & mask
    clear |= _solid_edge_parts(labels, count, mask)
    if not clear.any():
        return ink
    return np.where(_dilate_mask(clear, _join_radius(mask.shape) + 1), 0, ink).astype(np.float32)


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
    return _dilate_mask(~_dilate_mask(~pieces, radius), radius)[radius:-radius, radius:-radius]


def _component_stats(labels: np.ndarray, count: int, weight: np.ndarray) -> dict[str, np.ndarray]:
    """Per component 1..n: ink ``mass``; bounding ``box`` (n, 4: top, left, bottom, right,
    inclusive); ``off_centre``, the distance of its centre of mass from the image centre
    (0 at the centre, 1 at a corner); ``edge_share``, the part of its ink that lies in
    the EDGE_BAND along the image's sides."""
    h, w = labels.shape
    rows, cols = np.nonzero(labels)
    lab, weight = labels[rows, cols] - 1, weight[rows, cols]
    mass = np.bincount(lab, weights=weight, minlength=count) + 1e-9
    box = np.array([[h, w, -1, -1]] * count)
    np.minimum.at(box[:, 0], lab, rows), np.minimum.at(box[:, 1], lab, cols)
    np.maximum.at(box[:, 2], lab, rows), np.maximum.at(box[:, 3], lab, cols)
    com_r = np.bincount(lab, weights=weight * rows, minlength=count) / mass
    com_c = np.bincount(lab, weights=weight * cols, minlength=count) / mass
    off = np.hypot((com_r - (h - 1) / 2) / (h / 2), (com_c - (w - 1) / 2) / (w / 2)) / np.sqrt(2)
    to_edge = np.minimum(np.minimum(rows, h - 1 - rows), np.minimum(cols, w - 1 - cols))
    in_band = to_edge < EDGE_BAND * max(h, w)
    edge_share = np.bincount(lab, weights=weight * in_band, minlength=count) / mass
    return {"mass": mass, "box": box, "off_centre": off, "edge_share": edge_share}


def _frames(boxes: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Which components box in another piece holding a tenth of their ink or more: frames
    drawn or printed around the digit. (A digit's loop rarely holds such a big blob.)"""
    big = mass >= 0.01 * mass.max()  # only these can be boxed in (keeps the n x m test small)
    outer, inner = boxes[:, None, :], boxes[None, big, :]
    inside = (inner[..., :2] > outer[..., :2]).all(axis=2) & (inner[..., 2:] < outer[..., 2:]).all(axis=2)
    return (inside & (mass[None, big] >= 0.1 * mass[:, None])).any(axis=1)


def _grown(box: np.ndarray, fraction: float) -> np.ndarray:
    """``box`` (top, left, bottom, right) grown on every side by ``fraction`` of its long side."""
    grow = fraction * max(box[2] - box[0], box[3] - box[1])
    return np.array([box[0] - grow, box[1] - grow, box[2] + grow, box[3] + grow])


def _overlaps(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Which ``boxes`` (n, 4) overlap ``box``."""
    return (boxes[:, 0] <= box[2]) & (boxes[:, 2] >= box[0]) & (boxes[:, 1] <= box[3]) & (boxes[:, 3] >= box[1])


# 5. Strokes as wide as MNIST's -------------------------------------------------------------


def _crop(grey: np.ndarray, digit: np.ndarray) -> np.ndarray:
    """The box of ``digit`` cut from ``grey``, with a zero margin for soft edges and dilation."""
    rows, cols = np.nonzero(digit)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    margin = max(2, round(STROKE_RANGE[1] * max(bottom - top, right - left)))
    return np.pad(grey[top:bottom, left:right], margin)


def _stroke_width(mask: np.ndarray) -> float:
    """The mean stroke width of ``mask``, in pixels, as twice its area over its perimeter.

    The perimeter is the count of ink/paper pixel edges, times pi/4 to undo the
    staircase of slanted edges (an edge at a random angle is counted 4/pi times too long).
    """
    edges = np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(mask[:, 1:] != mask[:, :-1])
    return 2 * float(mask.sum()) / max(1.0, edges * np.pi / 4)


def _normalise_strokes(digit: np.ndarray, width: float) -> np.ndarray:
    """Bring the strokes of ``digit`` (H, W) in [0, 1] into MNIST's STROKE_RANGE.

    ``width`` is the mean stroke width in pixels, the digit's size the long side of its
    ink box. Growing strokes by r on each side also grows the box by 2r, hence the
    1 - target in the radius that reaches the target after scaling.
    """
    size = max(_ink_box(digit))
    thin, thick = STROKE_RANGE
    if width < thin * size:
        return _dilate(digit, (thin * size - width) / (2 * (1 - thin)))
    if width > thick * size:
        return -_dilate(-digit, (width - thick * size) / (2 * (1 - thick)))
    return digit


def _ink_box(digit: np.ndarray) -> tuple[int, int]:
    """Height and width of the box of pixels above half intensity (at least 1 x 1)."""
    rows, cols = np.nonzero(digit >= 0.5)
    if len(rows) == 0:
        return 1, 1
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def _dilate(a: np.ndarray, radius: float) -> np.ndarray:
    """Grey dilation of ``a`` by an octagon of about ``radius`` (a near-disk, so strokes
    grow equally in every direction): a square of 0.41 r then a diamond of 0.59 r."""
    a = _max_filter(a, round(0.414 * radius))
    for _ in range(round(0.586 * radius)):
        shifted = np.pad(a, 1, mode="edge")
        a = np.maximum.reduce(
            [a, shifted[:-2, 1:-1], shifted[2:, 1:-1], shifted[1:-1, :-2], shifted[1:-1, 2:]]
        )
    return a


# 6. Into MNIST's 28x28 field ---------------------------------------------------------------


def _to_field(digit: np.ndarray) -> np.ndarray:
    """Fit ``digit`` (H, W) in [0, 1] into the 20x20 box, anti-aliased, and paste it into
    the 28x28 field with its centre of mass at CENTRE (rounded to whole pixels, as MNIST
    did). Returns uint8 0-255 with the strongest pixel at 255."""
    digit = _trim(digit)
    scale = BOX / max(digit.shape)
    size = (max(1, round(digit.shape[1] * scale)), max(1, round(digit.shape[0] * scale)))
    small = np.asarray(Image.fromarray(digit, "F").resize(size, Image.Resampling.BOX))
    small = np.clip(small, 0, None) / max(float(small.max()), 1e-6)
    field = np.zeros((FIELD + 2 * BOX, FIELD + 2 * BOX), np.float32)
    top, left = (round(CENTRE - c) + BOX for c in _centre_of_mass(small))
    field[top : top + small.shape[0], left : left + small.shape[1]] = small
    field = field[BOX : BOX + FIELD, BOX : BOX + FIELD]
    return np.round(np.clip(field, 0, 1) * 255).astype(np.uint8)


def _trim(digit: np.ndarray, level: float = 0.05) -> np.ndarray:
    """``digit`` cut to the box of pixels above ``level``; fainter pixels outside it dropped."""
    rows, cols = np.nonzero(digit > level)
    if len(rows) == 0:
        raise ImageError("no digit found: the image is blank")
    return digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(np.float32)


def _centre_of_mass(a: np.ndarray) -> tuple[float, float]:
    """(row, column) centre of mass of a non-negative (H, W) array."""
    total = float(a.sum())
    row = float(a.sum(axis=1) @ np.arange(a.shape[0])) / total
    col = float(a.sum(axis=0) @ np.arange(a.shape[1])) / total
    return row, col
