"""Resampling a batch of images at given source coordinates: the last step of ``purenet.data.augment``.

    check_images(images, shape)       -> N, once ``images`` is known to be an (N, H*W) uint8 batch
    new_scratch(n, shape)             -> (5, N, H*W) float32 working memory; slots 0-1 take the coordinates
    coordinates(weights, rows, cols)  -> a scratch holding B_rows @ weights @ B_cols.T: the source coordinates
    resample(images, scratch, shape)  -> (N, H*W) uint8, each pixel read bilinearly at its coordinates

The coordinates are in the frame of the batch padded by PAD pixels of background on
every side (``purenet.data.augment`` adds PAD to the offsets it builds), so that every
clipped position reads background. Resampling works in float32, in place in the
scratch, for speed: ``resample`` says how.
"""

from __future__ import annotations

import numpy as np

Shape = tuple[int, int]

PAD = 2
"""Width of the background border around each image, so that every clipped position reads background."""


def check_images(images: np.ndarray, shape: Shape) -> int:
    """The batch size of ``images``, after checking it is (N, H*W) uint8."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2:
        raise ValueError(f"images must be an (N, H*W) uint8 array, got {_describe(images)}")
    if images.shape[1] != shape[0] * shape[1]:
        raise ValueError(f"images have {images.shape[1]} pixels each, but shape {shape} has {shape[0] * shape[1]}")
    return len(images)


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"shape {value.shape} dtype {value.dtype}"
    return type(value).__name__


def new_scratch(n: int, shape: Shape) -> np.ndarray:
    """(5, N, H*W) float32 working memory for ``resample``; slots 0-1 take coordinates.

    One block rather than five arrays: fresh memory costs page faults, and glibc's
    malloc keeps freed memory for reuse, rather than returning it to the system, only
    up to a threshold (by default about twice the largest block freed so far;
    ``purenet.apps.allocator.tune_malloc()`` raises it, which the command line calls), so one large
    block lets every later batch reuse its memory.
    """
    return np.empty((5, n, shape[0] * shape[1]), np.float32)


def coordinates(weights: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """B_rows @ weights @ B_cols.T for every image and axis -> a ``new_scratch`` whose
    slots 0 and 1 hold the (row, column) source coordinates, (N, H*W) each."""
    _, n, _, k_cols = weights.shape
    h, w = len(rows), len(cols)
    half = rows @ weights  # (2, N, H, k_cols): small
    scratch = new_scratch(n, (h, w))
    np.matmul(half.reshape(-1, k_cols), cols.T, out=scratch[:2].reshape(2 * n * h, w))
    return scratch


def resample(images: np.ndarray, scratch: np.ndarray, shape: Shape) -> np.ndarray:
    """Bilinear resampling: output pixel j of image i reads image i at the (row, column)
    held in ``scratch[:2, i, j]`` (a ``new_scratch`` whose slots 0-1 hold the coordinates, in
    the frame of the padded batch); positions outside the image read the zero background.
    Returns a new (N, H*W) uint8 array, rounded to nearest.

    The steps work in place in the scratch slots: coordinates -> fractional parts (0-1),
    whole parts (2-3) -> flat indices, then slots 2-4 hold the gathered neighbours.
    """
    wp = shape[1] + 2 * PAD
    frac = scratch[:2]
    # clipping keeps both neighbours inside the padded image; it moves only positions
    # at least one pixel outside the image, which read background either way
    np.clip(frac, 0, _clip_limits(shape), out=frac)
    whole = np.floor(frac, out=scratch[2:4])
    frac -= whole
    index = _flat_index(whole, shape)
    flat = _padded(images, shape).ravel()
    a, b, d = scratch[2:]  # whole is spent: its slots take the gathered neighbours
    # the four neighbours of a position are flat[index + (0, 1, wp, wp + 1)]; the
    # indices are always valid, and mode="wrap" skips take's slower bounds checking
    top = _lerp(flat.take(index, out=a, mode="wrap"), flat[1:].take(index, out=b, mode="wrap"), frac[1])
    lower_left = flat[wp:].take(index, out=a, mode="wrap")
    bottom = _lerp(lower_left, flat[wp + 1 :].take(index, out=d, mode="wrap"), frac[1])
    return _truncate_to_uint8(_lerp(top, bottom, frac[0]))


def _clip_limits(shape: Shape) -> np.ndarray:
    """(2, 1, 1) float32 upper bounds of (row, column) positions in the padded frame."""
    return np.array(shape, np.float32).reshape(2, 1, 1) + np.float32(2 * PAD - 2)


def _flat_index(whole: np.ndarray, shape: Shape) -> np.ndarray:
    """(N, H*W) intp indices into the flattened padded batch, from (2, N, H*W) whole
    positions (overwritten)."""
    hp, wp = shape[0] + 2 * PAD, shape[1] + 2 * PAD
    n = whole.shape[1]
    block = (np.arange(n) * (hp * wp))[:, None]  # where each image starts in the flat batch
    if n * hp * wp > 2**24:  # past the whole numbers float32 holds exactly: use integers
        return whole[0].astype(np.intp) * wp + whole[1].astype(np.intp) + block
    index = whole[0]
    index *= wp
    index += whole[1]
    index += block.astype(np.float32)
    return index.astype(np.intp)


def _padded(images: np.ndarray, shape: Shape) -> np.ndarray:
    """(N, H + 2 PAD, W + 2 PAD) float32 copy of the batch plus 0.5, with a border of 0.5.

    Bilinear weights sum to 1, so the 0.5 comes through every blend unchanged and the
    final truncation to uint8 rounds to nearest, with no separate rounding pass.
    """
    (h, w), n = shape, len(images)
    padded = np.full((n, h + 2 * PAD, w + 2 * PAD), 0.5, np.float32)
    np.add(images.reshape(n, h, w), np.float32(0.5), out=padded[:, PAD : PAD + h, PAD : PAD + w])
    return padded


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """a + t (b - a), computed in place in ``b``; exactly ``a`` where t = 0."""
    b -= a
    b *= t
    b += a
    return b


def _truncate_to_uint8(values: np.ndarray) -> np.ndarray:
    """uint8 of blends of pixels + 0.5 (``_padded``): truncating rounds them to nearest.

    The blends lie in [0.5, 255.5] up to float rounding (~1e-5), so no clipping is needed.
    """
    return values.astype(np.uint8)
