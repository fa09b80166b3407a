"""Data augmentation: random affine and elastic distortions of uint8 image batches.

    Augmenter(shift=2.0, rotation=10.0, scale=0.1, ...)(images, rng) -> images   # what training calls
    augment(images, rng, augmenter or None)                               -> images
    random_affine(images, rng, max_shift=2.0, max_rotation=10.0, max_scale=0.1) -> images
    elastic(images, rng, alpha=34.0, sigma=4.0)                           -> images
    affine(images, shift, rotation, scale, shear)   -> images   # given per-image parameters
    elastic_displacement(n, rng, alpha=, sigma=)    -> (2, n, H*W) float32 displacement fields
    warp(images, coords)                            -> images   # bilinear resampling at (2, N, H*W) coords

``images`` is a batch (N, H*W) of uint8 pixels (MNIST: H = W = 28, ``shape=(28, 28)``;
0 is the background). It may be read-only and is never modified; the result is a new
(N, H*W) uint8 array. Labels are not touched: the distortions are small enough to keep
the digit. Randomness comes only from the ``numpy.random.Generator`` passed in.

How it works. Every distortion is an inverse map: for each output pixel q it says where
in the source image to read, p = M (q - c - t) + c + d(q), with M the inverse of the
image's rotation, shear and scaling about its centre c, t its shift and d a smooth
random displacement field (the elastic part). Along each axis, p is a sum of products
of per-image weights with a few fixed columns (the field's modes, the centred pixel
coordinate, ones), p = B_rows @ weights @ B_cols.T, so two batched matrix products give
the source coordinates of the whole batch, and one bilinear resampling (a gather from
the zero-padded batch) applies affine and elastic distortion together.

The elastic distortion is that of Simard, Steinkraus & Platt (2003), "Best practices for
convolutional neural networks applied to visual document analysis", section 2: each
displacement component is a field of independent uniform [-1, 1] values convolved with a
Gaussian of standard deviation ``sigma`` pixels, then multiplied by ``alpha``. Smoothing
is a matrix product, field -> G @ field @ G.T; done for every image at full resolution
it costs more than all the rest together, and most of it is wasted: the smoothed field
lives almost entirely in a few smooth modes (at sigma = 4, the top 7 of the 28
eigenvectors of G G.T per axis keep more than 99.9% of the field's variance). So by
default the field is U_k sqrt(L_k) Z sqrt(L_k) U_k.T with Z a small (k, k) uniform
[-1, 1] matrix and (L_k, U_k) those eigenpairs (a truncated Karhunen-Loeve
expansion, ``field_modes``): mean 0 and, to within 0.1%, the paper's covariance, at a
fraction of the cost.
``exact=True`` draws the full-resolution field as the paper does.

Sign conventions: rows grow downward and columns rightward, as the image is shown; a
positive shift (dr, dc) moves the content down and right; a positive rotation turns it
counterclockwise on screen (rotation=90 on a square image equals ``np.rot90``); a scale
factor above 1 enlarges it; a positive shear k moves the row r pixels below the centre
k*r pixels to the right.

>>> import numpy as np
>>> batch = np.zeros((3, 784), np.uint8); batch[:, 14 * 28 + 14] = 255
>>> out = Augmenter()(batch, np.random.default_rng(0))
>>> out.shape, out.dtype
((3, 784), dtype('uint8'))
"""

from __future__ import annotations

import functools
import math

import attrs
import numpy as np

Shape = tuple[int, int]

MNIST_SHAPE: Shape = (28, 28)
_PAD = 2
"""Width of the background border around each image, so that every clipped position reads background."""
_CAPTURED_VARIANCE = 0.999
"""Share of the elastic field's variance that the truncated expansion keeps (exact=False)."""


# --- the record a training loop calls ----------------------------------------------------


def _non_negative(instance, attribute, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{attribute.name} must be a finite number >= 0, got {value}")


def _below_one(instance, attribute, value: float) -> None:
    _non_negative(instance, attribute, value)
    if value >= 1:
        raise ValueError(f"{attribute.name} must be below 1, so that scale factors stay positive; got {value}")


def _positive(instance, attribute, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name} must be a finite number > 0, got {value}")


def _to_shape(value) -> Shape:
    h, w = (int(v) for v in value)
    if h < 1 or w < 1:
        raise ValueError(f"shape must be two positive sizes (rows, columns), got {value}")
    return h, w


@attrs.frozen
class Augmenter:
    """A random distortion of image batches: ``augmenter(images, rng) -> images``.

    For each image it draws, independently and uniformly: a shift in [-shift, shift]
    pixels along each axis, a rotation in [-rotation, rotation] degrees, a scale factor
    in [1 - scale, 1 + scale] and a shear factor in [-shear, shear]; and, when
    ``elastic_alpha`` > 0, an elastic field of strength ``elastic_alpha`` and smoothness
    ``elastic_sigma`` pixels (Simard et al. 2003). Then it resamples once, bilinearly;
    pixels read from outside the image are 0. ``exact_elastic`` draws the elastic field
    at full resolution as in the paper (slower; see the module docstring).

    ``NO_AUGMENT`` (every magnitude 0) returns a copy and draws nothing. A training loop
    may also take ``None`` to mean no augmentation: ``augment(images, rng, None)``.

    >>> aug = Augmenter(shift=2.0, rotation=10.0, scale=0.1, elastic_alpha=0.0)
    >>> aug(np.zeros((2, 784), np.uint8), np.random.default_rng(0)).shape
    (2, 784)
    """

    shift: float = attrs.field(default=2.0, converter=float, validator=_non_negative)
    rotation: float = attrs.field(default=10.0, converter=float, validator=_non_negative)
    scale: float = attrs.field(default=0.1, converter=float, validator=_below_one)
    shear: float = attrs.field(default=0.0, converter=float, validator=_non_negative)
    elastic_alpha: float = attrs.field(default=34.0, converter=float, validator=_non_negative)
    elastic_sigma: float = attrs.field(default=4.0, converter=float, validator=_positive)
    shape: Shape = attrs.field(default=MNIST_SHAPE, converter=_to_shape)
    exact_elastic: bool = attrs.field(default=False, converter=bool)

    @property
    def is_identity(self) -> bool:
        """True when every magnitude is 0, so the output equals the input."""
        return not (self.has_affine or self.elastic_alpha)

    @property
    def has_affine(self) -> bool:
        """True when some affine magnitude (shift, rotation, scale, shear) is above 0."""
        return bool(self.shift or self.rotation or self.scale or self.shear)

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Distort each image of ``images`` (N, H*W) uint8; returns a new (N, H*W) uint8 array.

        Draws from ``rng``, in this order: shifts (N, 2), rotations (N,), scales (N,),
        shears (N,) (only if ``has_affine``), then the elastic weights (2, N, k_rows,
        k_cols) (only if ``elastic_alpha`` > 0). Same batch and generator state, same
        output, bit for bit.
        """
        n = _check_images(images, self.shape)
        if self.is_identity:
            return images.copy()
        params = inverse_affine(*self.draw_affine(n, rng), shape=self.shape) if self.has_affine else None
        sigma = self.elastic_sigma if self.elastic_alpha else None
        rows, cols = (axis_basis(size, sigma, self.exact_elastic) for size in self.shape)
        field = None
        if self.elastic_alpha:
            field = _uniform(rng, (2, n, rows.shape[1] - 2, cols.shape[1] - 2), self.elastic_alpha)
        return _resample(images, _coordinates(_weights(n, params, field, rows, cols), rows, cols), self.shape)

    def draw_affine(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """Per-image affine parameters: shift (n, 2), rotation (n,) degrees, scale (n,), shear (n,)."""
        shift = rng.uniform(-self.shift, self.shift, (n, 2))
        rotation = rng.uniform(-self.rotation, self.rotation, n)
        scale = 1.0 + rng.uniform(-self.scale, self.scale, n)
        shear = rng.uniform(-self.shear, self.shear, n)
        return shift, rotation, scale, shear


NO_AUGMENT = Augmenter(shift=0.0, rotation=0.0, scale=0.0, shear=0.0, elastic_alpha=0.0)
"""The augmenter that changes nothing: it returns a copy of the batch and draws no random numbers."""


def augment(images: np.ndarray, rng: np.random.Generator, augmenter: Augmenter | None) -> np.ndarray:
    """``augmenter(images, rng)``, or ``images`` itself when ``augmenter`` is None.

    The hook for a training loop: ``x = to_float(augment(split.images[index], rng, aug))``.
    """
    return images if augmenter is None else augmenter(images, rng)


def random_affine(
    images: np.ndarray,
    rng: np.random.Generator,
    *,
    max_shift: float = 2.0,
    max_rotation: float = 10.0,
    max_scale: float = 0.1,
    max_shear: float = 0.0,
    shape: Shape = MNIST_SHAPE,
) -> np.ndarray:
    """Shift (pixels), rotate (degrees), scale and shear each image of (N, H*W) uint8 ``images``
    by amounts drawn uniformly in [-max, max] (scale factor in [1 - max_scale, 1 + max_scale]).

    Returns a new (N, H*W) uint8 array; one inverse-mapped affine and one bilinear
    resampling per image, the whole batch at once.
    """
    aug = Augmenter(max_shift, max_rotation, max_scale, max_shear, elastic_alpha=0.0, shape=shape)
    return aug(images, rng)


def elastic(
    images: np.ndarray,
    rng: np.random.Generator,
    *,
    alpha: float = 34.0,
    sigma: float = 4.0,
    shape: Shape = MNIST_SHAPE,
    exact: bool = False,
) -> np.ndarray:
    """Simard et al. (2003) elastic distortion of each image of (N, H*W) uint8 ``images``.

    Displacements are uniform [-1, 1] fields smoothed by a Gaussian of std ``sigma``
    pixels and scaled by ``alpha`` (34 and 4 are the values usually quoted for MNIST);
    ``exact=False`` draws them from the truncated expansion of ``field_modes``. Up to
    float rounding, equals ``warp(images, pixel_grid(shape)[:, None] + elastic_displacement(N, rng))``.
    """
    aug = Augmenter(0.0, 0.0, 0.0, 0.0, alpha, sigma, shape=shape, exact_elastic=exact)
    return aug(images, rng)


# --- explicit transforms ------------------------------------------------------------------


def affine(
    images: np.ndarray,
    shift: np.ndarray | float = 0.0,
    rotation: np.ndarray | float = 0.0,
    scale: np.ndarray | float = 1.0,
    shear: np.ndarray | float = 0.0,
    *,
    shape: Shape = MNIST_SHAPE,
) -> np.ndarray:
    """Apply given affine transforms to (N, H*W) uint8 ``images``; returns new (N, H*W) uint8.

    ``shift`` (N, 2) or (2,) pixels (down, right); ``rotation`` (N,) or scalar degrees,
    counterclockwise; ``scale`` (N,) or scalar factor > 0; ``shear`` (N,) or scalar factor.
    All about the image centre ((H - 1) / 2, (W - 1) / 2).

    >>> one = np.zeros((1, 9), np.uint8); one[0, 4] = 200        # centre of a 3x3 image
    >>> affine(one, shift=(1, 0), shape=(3, 3)).reshape(3, 3)     # moved one row down
    array([[  0,   0,   0],
           [  0,   0,   0],
           [  0, 200,   0]], dtype=uint8)
    """
    shape = _to_shape(shape)
    n = _check_images(images, shape)
    shift = np.broadcast_to(np.asarray(shift, np.float64), (n, 2))
    rotation, scale, shear = (np.broadcast_to(np.asarray(v, np.float64), (n,)) for v in (rotation, scale, shear))
    params = inverse_affine(shift, rotation, scale, shear, shape=shape)
    rows, cols = axis_basis(shape[0]), axis_basis(shape[1])
    return _resample(images, _coordinates(_weights(n, params, None, rows, cols), rows, cols), shape)


def inverse_affine(
    shift: np.ndarray, rotation: np.ndarray, scale: np.ndarray, shear: np.ndarray, *, shape: Shape
) -> np.ndarray:
    """The inverse maps as (N, 2, 3) float64 rows: source = rows @ (q_row - c_row, q_col - c_col, 1).

    The forward map is q = A (p - c) + c + t with A = R(rotation) Shear(shear) scale, so
    the inverse is p = A^-1 (q - c) + c - A^-1 t, A^-1 = Shear(-shear) R(-rotation) / scale.
    """
    if not (np.isfinite(shift).all() and np.isfinite(rotation).all() and np.isfinite(shear).all()):
        raise ValueError("shift, rotation and shear must be finite")
    if not (np.isfinite(scale).all() and (scale > 0).all()):
        raise ValueError("scale factors must be finite and > 0")
    theta = np.deg2rad(rotation)
    cos, sin = np.cos(theta) / scale, np.sin(theta) / scale
    rows = np.empty((len(theta), 2, 3))
    # rows point down, so R(-theta) = [[cos, sin], [-sin, cos]]; then Shear(-shear)
    rows[:, 0, 0], rows[:, 0, 1] = cos, sin
    rows[:, 1, 0], rows[:, 1, 1] = -shear * cos - sin, cos - shear * sin
    for axis, centre in enumerate((size - 1) / 2 for size in shape):
        rows[:, axis, 2] = centre - rows[:, axis, 0] * shift[:, 0] - rows[:, axis, 1] * shift[:, 1]
    return rows


# --- elastic fields -----------------------------------------------------------------------


def elastic_displacement(
    n: int,
    rng: np.random.Generator,
    *,
    alpha: float = 34.0,
    sigma: float = 4.0,
    shape: Shape = MNIST_SHAPE,
    exact: bool = False,
) -> np.ndarray:
    """``n`` smooth random displacement fields, (2, n, H*W) float32 (row, column) pixels.

    Each component is alpha * B_rows Z B_cols.T for a uniform [-1, 1] matrix Z, with B
    from ``field_modes``: with ``exact``, B = G and Z is (H, W), as in Simard et al.
    (2003). Draws exactly what ``elastic`` draws from the same generator.
    """
    h, w = _to_shape(shape)
    rows, cols = (axis_basis(size, sigma, exact)[:, :-2] for size in (h, w))  # the modes alone
    weights = _uniform(rng, (2, n, rows.shape[1], cols.shape[1]), alpha)
    return (rows @ weights @ cols.T).reshape(2, n, h * w)


def pixel_grid(shape: Shape = MNIST_SHAPE) -> np.ndarray:
    """(2, H*W) float32 (row, column) of every pixel: the coordinates of the identity warp."""
    h, w = _to_shape(shape)
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    return np.stack([rows.ravel(), cols.ravel()])


def gaussian_matrix(size: int, sigma: float) -> np.ndarray:
    """(size, size) float64 G with G @ v = v convolved with a Gaussian of std ``sigma`` pixels.

    The kernel is truncated at 4 sigma and sums to 1; the field beyond the image counts
    as 0, so rows near the borders sum to less than 1. G is symmetric.
    """
    radius = max(1, math.ceil(4 * sigma))
    offsets = np.subtract.outer(np.arange(size), np.arange(size))
    kernel = np.exp(-0.5 * (np.arange(radius + 1) / sigma) ** 2)
    kernel /= 2 * kernel.sum() - kernel[0]  # the whole kernel, -radius..radius, sums to 1
    near = np.abs(offsets) <= radius
    return np.where(near, kernel[np.minimum(np.abs(offsets), radius)], 0.0)


def field_modes(size: int, sigma: float, exact: bool = False) -> np.ndarray:
    """(size, k) float64 B such that B @ Z @ B.T, for Z uniform in [-1, 1], is a field
    smoothed as in Simard et al. (2003), along an axis of ``size`` pixels.

    ``exact``: B = G, k = size, the paper's recipe. Otherwise a truncated
    Karhunen-Loeve expansion: B = U_k sqrt(L_k) from the top k eigenpairs of G G.T, the
    fewest keeping sqrt(``_CAPTURED_VARIANCE``) of its trace along each axis, so that
    (B B.T) kron (B B.T) keeps ``_CAPTURED_VARIANCE`` of the 2-D field's covariance.
    """
    g = gaussian_matrix(size, sigma)
    if exact:
        return g
    values, vectors = _eigenpairs(g)
    k = int(np.searchsorted(np.cumsum(values) / values.sum(), math.sqrt(_CAPTURED_VARIANCE))) + 1
    return vectors[:, :k] * np.sqrt(values[:k])


def _eigenpairs(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending, >= 0) and eigenvectors (columns) of g @ g.T, each
    vector's sign fixed (largest entry positive) so results agree across LAPACKs."""
    values, vectors = np.linalg.eigh(g @ g.T)
    values, vectors = np.clip(values[::-1], 0, None), vectors[:, ::-1]
    signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(len(values))])
    return values, vectors * signs


def _uniform(rng: np.random.Generator, size: tuple[int, ...], bound: float) -> np.ndarray:
    """float32 values uniform in [-bound, bound)."""
    values = rng.random(size, dtype=np.float32)
    values *= np.float32(2 * bound)
    values -= np.float32(bound)
    return values


# --- coordinates and resampling -----------------------------------------------------------


@functools.lru_cache(maxsize=64)
def axis_basis(size: int, sigma: float | None = None, exact: bool = False) -> np.ndarray:
    """(size, k + 2) float32 columns along one axis: the k ``field_modes`` (none when
    ``sigma`` is None), then the centred pixel coordinate, then ones. Cached, read-only.

    Any source coordinate the module uses is B_rows @ weights @ B_cols.T for a
    (k_rows + 2, k_cols + 2) weight matrix per image and axis (see ``_weights``).
    """
    columns = [np.arange(size)[:, None] - (size - 1) / 2, np.ones((size, 1))]
    if sigma is not None:
        columns.insert(0, field_modes(size, sigma, exact))
    basis = np.concatenate(columns, axis=1).astype(np.float32)
    basis.flags.writeable = False
    return basis


def _weights(
    n: int, params: np.ndarray | None, field: np.ndarray | None, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """(2, N, k_rows + 2, k_cols + 2) float32 weights for the two ``axis_basis`` matrices.

    The elastic weights (2, N, k_rows, k_cols) fill the top-left block; the affine rows
    (N, 2, 3) of ``inverse_affine`` (identity when None) pair the centred row with ones,
    ones with the centred column, and ones with ones (the offset, plus _PAD to move into
    the frame of the zero-padded batch).
    """
    k_rows, k_cols = rows.shape[1] - 2, cols.shape[1] - 2
    weights = np.zeros((2, n, k_rows + 2, k_cols + 2), np.float32)
    if field is not None:
        weights[:, :, :k_rows, :k_cols] = field
    if params is None:
        centre = (np.array([len(rows), len(cols)]) - 1) / 2
        params = np.broadcast_to(np.array([[1, 0, centre[0]], [0, 1, centre[1]]]), (n, 2, 3))
    affine_rows = params.transpose(1, 0, 2)  # (2, N, 3)
    weights[:, :, k_rows, k_cols + 1] = affine_rows[..., 0]
    weights[:, :, k_rows + 1, k_cols] = affine_rows[..., 1]
    weights[:, :, k_rows + 1, k_cols + 1] = affine_rows[..., 2] + _PAD
    return weights


def _coordinates(weights: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """B_rows @ weights @ B_cols.T for every image and axis -> a ``_scratch`` whose slots
    0 and 1 hold the (row, column) source coordinates, (N, H*W) each."""
    _, n, _, k_cols = weights.shape
    h, w = len(rows), len(cols)
    half = rows @ weights  # (2, N, H, k_cols): small
    scratch = _scratch(n, (h, w))
    np.matmul(half.reshape(-1, k_cols), cols.T, out=scratch[:2].reshape(2 * n * h, w))
    return scratch


def _scratch(n: int, shape: Shape) -> np.ndarray:
    """(5, N, H*W) float32 working memory for ``_resample``; slots 0-1 take coordinates.

    One block rather than five arrays: fresh memory costs page faults, and glibc's
    malloc keeps freed memory for reuse, rather than returning it to the system, only
    up to a threshold (by default about twice the largest block freed so far;
    ``purenet.apps.allocator.tune_malloc()`` raises it, which the command line calls), so one large
    block lets every later batch reuse its memory.
    """
    return np.empty((5, n, shape[0] * shape[1]), np.float32)


def warp(images: np.ndarray, coords: np.ndarray, *, shape: Shape = MNIST_SHAPE) -> np.ndarray:
    """Bilinear resampling: output pixel j of image i reads image i at ``coords[:, i, j]``.

    ``images`` (N, H*W) uint8; ``coords`` (2, N, H*W) finite (row, column) source
    positions in pixels (the layout of ``scipy.ndimage.map_coordinates``); positions
    outside the image read the zero background. Returns a new (N, H*W) uint8 array,
    rounded to nearest. Neither argument is modified.
    """
    shape = _to_shape(shape)
    n = _check_images(images, shape)
    if np.shape(coords) != (2, n, shape[0] * shape[1]):
        raise ValueError(f"coords must have shape {(2, n, shape[0] * shape[1])}, got {np.shape(coords)}")
    if not np.isfinite(coords).all():
        raise ValueError("coords must be finite")
    scratch = _scratch(n, shape)
    np.add(coords, np.float32(_PAD), out=scratch[:2], casting="unsafe")
    return _resample(images, scratch, shape)


def _resample(images: np.ndarray, scratch: np.ndarray, shape: Shape) -> np.ndarray:
    """``warp``, given a ``_scratch`` whose slots 0-1 hold the coordinates in the frame
    of the padded batch.

    The steps work in place in the scratch slots: coordinates -> fractional parts (0-1),
    whole parts (2-3) -> flat indices, then slots 2-4 hold the gathered neighbours.
    """
    wp = shape[1] + 2 * _PAD
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
    return np.array(shape, np.float32).reshape(2, 1, 1) + np.float32(2 * _PAD - 2)


def _flat_index(whole: np.ndarray, shape: Shape) -> np.ndarray:
    """(N, H*W) intp indices into the flattened padded batch, from (2, N, H*W) whole
    positions (overwritten)."""
    hp, wp = shape[0] + 2 * _PAD, shape[1] + 2 * _PAD
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
    padded = np.full((n, h + 2 * _PAD, w + 2 * _PAD), 0.5, np.float32)
    np.add(images.reshape(n, h, w), np.float32(0.5), out=padded[:, _PAD : _PAD + h, _PAD : _PAD + w])
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


def _check_images(images: np.ndarray, shape: Shape) -> int:
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
