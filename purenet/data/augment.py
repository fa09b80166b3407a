"""Data augmentation: random affine and elastic distortions of uint8 image batches.

    Augmenter(shift=2.0, rotation=10.0, scale=0.1, ...)(images, rng) -> images   # what training calls
    augmenter.draw_affine(n, rng), augmenter.draw_field(n, rng)   -> the random parameters it draws
    augmenter.apply(images, affine, field)                         -> images, for given parameters
    AugmentError      a magnitude out of its range (RANGES), naming it
    random_affine, elastic, affine   the entry points of 0.1: deprecated, each an Augmenter call

The resampling itself, shared by every distortion, is ``purenet.data.resample``.

``images`` is a batch (N, H*W) of uint8 pixels (MNIST's ``shape``, 28x28, by default;
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
fraction of the cost. ``exact_elastic=True`` draws the full-resolution field as the paper does.

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
import numbers
import warnings

import attrs
import numpy as np

from purenet.base.checks import shown
from purenet.base.mnist import SHAPE
from purenet.data.resample import PAD, check_images, coordinates, resample

Shape = tuple[int, int]

_CAPTURED_VARIANCE = 0.999
"""Share of the elastic field's variance that the truncated expansion keeps (exact=False)."""


# --- the magnitudes and their ranges ------------------------------------------------------


class AugmentError(ValueError):
    """A setting of ``Augmenter`` out of its range: ``field`` names it, ``problem`` says what it must be.

    ``purenet.runs.config`` turns it into its ``ConfigError`` for the same field, so a
    run's settings are checked here, once.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field, self.problem = field, problem


RANGES = {
    "shift": (0.0, 1e4, False),
    "rotation": (0.0, 360.0, False),
    "scale": (0.0, 0.9, False),
    "shear": (0.0, 100.0, False),
    "elastic_alpha": (0.0, 1e4, False),
    "elastic_sigma": (0.0, 1e3, True),
}
"""(low, high, low excluded) of each magnitude. 0 is no distortion, except for
``elastic_sigma``, a Gaussian's width, which must be above it. The upper bounds lie far
beyond any useful distortion (a shift or an elastic strength of 1e4 pixels moves every
pixel off the image; a full turn; scale factors from 0.1 to 1.9, so they stay positive)
but are finite, so that no arithmetic on them overflows."""


def _number(value: float) -> float:
    """A real number as a float; anything else is left for ``_in_range`` to refuse by name."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an int beyond any float: refused as not finite
            pass
    return value


def _in_range(_instance, attribute, value: float) -> None:
    low, high, above = RANGES[attribute.name]
    if not (isinstance(value, float) and math.isfinite(value) and (value > low if above else value >= low) and value <= high):
        bound = f"above {low:g}" if above else f">= {low:g}"
        raise AugmentError(attribute.name, f"must be a finite number {bound} and at most {high:g}, got {shown(value)}")


def _to_shape(value) -> Shape:
    h, w = (int(v) for v in value)
    if h < 1 or w < 1:
        raise AugmentError("shape", f"must be two positive sizes (rows, columns), got {value}")
    return h, w


def _magnitude(default: float):
    return attrs.field(default=default, converter=_number, validator=_in_range)


# --- the record a training loop calls ----------------------------------------------------


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

    Every magnitude 0 returns a copy and draws nothing (a training loop takes None for no
    augmentation). Each magnitude must lie in its ``RANGES``: ``AugmentError`` says which not.

    >>> aug = Augmenter(shift=2.0, rotation=10.0, scale=0.1, elastic_alpha=0.0)
    >>> aug(np.zeros((2, 784), np.uint8), np.random.default_rng(0)).shape
    (2, 784)
    """

    shift: float = _magnitude(2.0)
    rotation: float = _magnitude(10.0)
    scale: float = _magnitude(0.1)
    shear: float = _magnitude(0.0)
    elastic_alpha: float = _magnitude(34.0)
    elastic_sigma: float = _magnitude(4.0)
    shape: Shape = attrs.field(default=SHAPE, converter=_to_shape)
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
        n = check_images(images, self.shape)
        if self.is_identity:
            return images.copy()
        affine = self.draw_affine(n, rng) if self.has_affine else None
        field = self.draw_field(n, rng) if self.elastic_alpha else None
        return self._apply(images, n, affine, field)

    def draw_affine(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """Per-image affine parameters: shift (n, 2), rotation (n,) degrees, scale (n,), shear (n,)."""
        shift = rng.uniform(-self.shift, self.shift, (n, 2))
        rotation = rng.uniform(-self.rotation, self.rotation, n)
        scale = 1.0 + rng.uniform(-self.scale, self.scale, n)
        shear = rng.uniform(-self.shear, self.shear, n)
        return shift, rotation, scale, shear

    def draw_field(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Per-image elastic weights, (2, n, k_rows, k_cols) float32 uniform in [-elastic_alpha,
        elastic_alpha): the displacement along each axis is B_rows @ w @ B_cols.T, with B the
        ``field_modes`` of ``elastic_sigma`` (``exact_elastic``: the full Gaussian)."""
        rows, cols = (self._basis(size, True) for size in self.shape)
        return _uniform(rng, (2, n, rows.shape[1] - 2, cols.shape[1] - 2), self.elastic_alpha)

    def apply(self, images: np.ndarray, affine: tuple | None = None, field: np.ndarray | None = None) -> np.ndarray:
        """Distort ``images`` (N, H*W) uint8 by given parameters; returns a new (N, H*W) uint8 array.

        ``affine`` is (shift, rotation, scale, shear) as ``draw_affine`` gives them, each
        per image or one for all: shift (N, 2) or (2,) pixels (down, right), rotation
        degrees counterclockwise, scale a factor > 0, shear a factor, all about the image
        centre ((H - 1) / 2, (W - 1) / 2); None is the identity. ``field`` holds elastic
        weights as ``draw_field`` gives them, or None. The magnitudes play no part here.

        >>> one = np.zeros((1, 9), np.uint8); one[0, 4] = 200        # centre of a 3x3 image
        >>> Augmenter(shape=(3, 3)).apply(one, ((1, 0), 0, 1, 0)).reshape(3, 3)   # moved one row down
        array([[  0,   0,   0],
               [  0,   0,   0],
               [  0, 200,   0]], dtype=uint8)
        """
        n = check_images(images, self.shape)
        if field is not None:
            rows, cols = (self._basis(size, True) for size in self.shape)
            if np.shape(field) != (2, n, rows.shape[1] - 2, cols.shape[1] - 2):
                raise ValueError(f"field must have the shape draw_field gives, {(2, n, rows.shape[1] - 2, cols.shape[1] - 2)}, "
                                 f"got {np.shape(field)}")
        if affine is not None:
            shift, rotation, scale, shear = affine
            affine = (np.broadcast_to(np.asarray(shift, np.float64), (n, 2)),
                      *(np.broadcast_to(np.asarray(v, np.float64), (n,)) for v in (rotation, scale, shear)))
        return self._apply(images, n, affine, field)

    def _apply(self, images: np.ndarray, n: int, affine: tuple | None, field: np.ndarray | None) -> np.ndarray:
        """``apply`` to a checked batch of ``n`` images, with per-image ``affine`` parameters."""
        params = None if affine is None else inverse_affine(*affine, shape=self.shape)
        rows, cols = (self._basis(size, field is not None) for size in self.shape)
        return resample(images, coordinates(_weights(n, params, field, rows, cols), rows, cols), self.shape)

    def _basis(self, size: int, elastic: bool) -> np.ndarray:
        """``axis_basis`` along an axis of ``size`` pixels, with the field's modes when ``elastic``."""
        return axis_basis(size, self.elastic_sigma if elastic else None, self.exact_elastic)


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


# --- the source coordinates ----------------------------------------------------------------


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
    ones with the centred column, and ones with ones (the offset, plus PAD to move into
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
    weights[:, :, k_rows + 1, k_cols + 1] = affine_rows[..., 2] + PAD
    return weights


# --- the entry points of 0.1, for one release -----------------------------------------------


def random_affine(images: np.ndarray, rng: np.random.Generator, *, max_shift: float = 2.0, max_rotation: float = 10.0,
                  max_scale: float = 0.1, max_shear: float = 0.0, shape: Shape = SHAPE) -> np.ndarray:
    """Deprecated: ``Augmenter(shift, rotation, scale, shear, elastic_alpha=0.0, shape=shape)(images, rng)``."""
    _deprecated("random_affine", "Augmenter(shift, rotation, scale, shear, elastic_alpha=0.0)(images, rng)")
    return Augmenter(max_shift, max_rotation, max_scale, max_shear, elastic_alpha=0.0, shape=shape)(images, rng)


def elastic(images: np.ndarray, rng: np.random.Generator, *, alpha: float = 34.0, sigma: float = 4.0,
            shape: Shape = SHAPE, exact: bool = False) -> np.ndarray:
    """Deprecated: ``Augmenter(0.0, 0.0, 0.0, 0.0, alpha, sigma, shape=shape, exact_elastic=exact)(images, rng)``."""
    _deprecated("elastic", "Augmenter(shift=0.0, rotation=0.0, scale=0.0, elastic_alpha=alpha, elastic_sigma=sigma)(images, rng)")
    return Augmenter(0.0, 0.0, 0.0, 0.0, alpha, sigma, shape=shape, exact_elastic=exact)(images, rng)


def affine(images: np.ndarray, shift=0.0, rotation=0.0, scale=1.0, shear=0.0, *, shape: Shape = SHAPE) -> np.ndarray:
    """Deprecated: ``Augmenter(shape=shape).apply(images, (shift, rotation, scale, shear))``."""
    _deprecated("affine", "Augmenter(shape=shape).apply(images, (shift, rotation, scale, shear))")
    return Augmenter(shape=shape).apply(images, (shift, rotation, scale, shear))


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"purenet.data.augment.{old} is deprecated: use {new}; it goes in the next release",
                  DeprecationWarning, stacklevel=3)
