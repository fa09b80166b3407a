"""Tests for purenet.data.augment: shapes and purity, exact geometry, elastic fields, bounds, labels kept."""

from __future__ import annotations

import numpy as np
import pytest
from augment_helpers import affine, elastic_displacement, pixel_grid, warp
from hypothesis import given, settings
from hypothesis import strategies as st

from purenet import Adam, init
from purenet.core.network import forward
from purenet.core.training import train_step
from purenet.data import augment as augment_module
from purenet.data import batches, to_float
from purenet.data.augment import RANGES, Augmenter, AugmentError, field_modes, gaussian_matrix

SEEDS = st.integers(0, 2**32 - 1)
SIDES = st.integers(1, 12)
FAST = settings(max_examples=40, deadline=None)
ZERO = dict(shift=0.0, rotation=0.0, scale=0.0, shear=0.0, elastic_alpha=0.0)
"""Every magnitude 0: the augmenter that changes nothing."""
ELASTIC_ONLY = dict(shift=0.0, rotation=0.0, scale=0.0)


def random_images(seed: int, n: int, shape: tuple[int, int]) -> np.ndarray:
    """(n, H*W) uint8 noise, read-only like the batches the training loop hands over."""
    images = np.random.default_rng(seed).integers(0, 256, (n, shape[0] * shape[1]), dtype=np.uint8)
    images.flags.writeable = False
    return images


def as_grid(images: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return images.reshape(len(images), *shape)


@pytest.fixture(scope="module")
def digits(mnist):
    return mnist.test.images[:300]


# --- shapes, dtype, purity, determinism -------------------------------------------------


@FAST
@given(seed=SEEDS, n=st.integers(0, 4), h=SIDES, w=SIDES, magnitudes=st.tuples(*[st.floats(0, 5)] * 3))
def test_output_is_a_new_uint8_batch_of_the_same_shape(seed, n, h, w, magnitudes):
    images = random_images(seed, n, (h, w))
    before = images.tobytes()
    shift, rotation, alpha = magnitudes
    aug = Augmenter(shift=shift, rotation=rotation * 10, scale=0.2, shear=0.1, elastic_alpha=alpha, shape=(h, w))
    out = aug(images, np.random.default_rng(seed))
    assert out.shape == images.shape and out.dtype == np.uint8
    assert out.flags.writeable and not np.shares_memory(out, images)
    assert images.tobytes() == before


@pytest.mark.parametrize(
    "distort",
    [
        lambda x, rng: Augmenter(elastic_alpha=0.0)(x, rng),
        lambda x, rng: Augmenter(**ELASTIC_ONLY)(x, rng),
        lambda x, rng: Augmenter(**ELASTIC_ONLY, exact_elastic=True)(x, rng),
        lambda x, rng: Augmenter(shear=0.2)(x, rng),
    ],
    ids=["affine", "elastic", "elastic_exact", "augmenter"],
)
def test_same_seed_same_output_other_seed_other_output(digits, distort):
    before = digits.tobytes()
    first = distort(digits, np.random.default_rng(7))
    again = distort(digits, np.random.default_rng(7))
    other = distort(digits, np.random.default_rng(8))
    assert first.tobytes() == again.tobytes()
    assert not np.array_equal(first, other)
    assert not np.array_equal(first, digits)
    assert digits.tobytes() == before  # read-only MNIST went in untouched


def test_each_image_gets_its_own_draw(digits):
    twins = np.repeat(digits[:1], 8, axis=0)
    out = Augmenter()(twins, np.random.default_rng(0))
    assert len({row.tobytes() for row in out}) == 8


def test_draws_stay_within_the_magnitudes():
    aug = Augmenter(shift=1.5, rotation=7.0, scale=0.2, shear=0.3)
    shift, rotation, scale, shear = aug.draw_affine(10_000, np.random.default_rng(0))
    assert np.abs(shift).max() <= 1.5 and np.abs(rotation).max() <= 7.0
    assert np.abs(scale - 1).max() <= 0.2 and np.abs(shear).max() <= 0.3
    # and they fill them: uniform draws come close to both ends
    assert np.abs(shift).max() > 1.45 and np.abs(rotation).max() > 6.9


# --- identities -------------------------------------------------------------------------


@FAST
@given(seed=SEEDS, n=st.integers(0, 4), h=SIDES, w=SIDES)
def test_zero_magnitudes_give_the_input_back(seed, n, h, w):
    images = random_images(seed, n, (h, w))
    rng = np.random.default_rng(seed)
    assert np.array_equal(Augmenter(**ZERO, shape=(h, w))(images, rng), images)
    assert np.array_equal(affine(images, shape=(h, w)), images)
    assert np.array_equal(Augmenter(shape=(h, w)).apply(images), images)
    identity = np.broadcast_to(pixel_grid((h, w))[:, None], (2, n, h * w))
    assert np.array_equal(warp(images, identity, shape=(h, w)), images)


def test_no_augmentation_copies_and_draws_nothing(digits):
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    out = Augmenter(**ZERO)(digits, rng)
    assert np.array_equal(out, digits) and not np.shares_memory(out, digits)
    assert rng.bit_generator.state == state


def test_a_call_is_its_draws_applied(digits):
    """``augmenter(images, rng)`` draws the affine parameters, then the field, and applies them."""
    augmenter = Augmenter(shear=0.2)
    rng = np.random.default_rng(11)
    drawn = augmenter.draw_affine(len(digits), rng), augmenter.draw_field(len(digits), rng)
    assert np.array_equal(augmenter.apply(digits, *drawn), augmenter(digits, np.random.default_rng(11)))


# --- exact geometry ---------------------------------------------------------------------


def shifted(grid: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """Reference: content moved dr rows down and dc columns right, zeros coming in."""
    h, w = grid.shape[1:]
    rows, cols = np.arange(h)[:, None] - dr, np.arange(w)[None, :] - dc
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    return np.where(inside, grid[:, np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)], 0).astype(np.uint8)


@FAST
@given(seed=SEEDS, h=SIDES, w=SIDES, dr=st.integers(-3, 3), dc=st.integers(-3, 3))
def test_whole_pixel_shift_moves_the_image_exactly(seed, h, w, dr, dc):
    images = random_images(seed, 3, (h, w))
    out = affine(images, shift=(dr, dc), shape=(h, w))
    assert np.array_equal(as_grid(out, (h, w)), shifted(as_grid(images, (h, w)), dr, dc))


def test_one_pixel_shift_down_on_mnist(digits):
    out = as_grid(affine(digits, shift=(1, 0)), (28, 28))
    assert np.array_equal(out[:, 1:], as_grid(digits, (28, 28))[:, :-1])
    assert not out[:, 0].any()


@FAST
@given(seed=SEEDS, side=st.integers(1, 12), k=st.sampled_from([1, 2, 3, -1]))
def test_quarter_turns_match_rot90(seed, side, k):
    """Positive rotation is counterclockwise on screen, like np.rot90."""
    images = random_images(seed, 2, (side, side))
    out = affine(images, rotation=90.0 * k, shape=(side, side))
    assert np.array_equal(as_grid(out, (side, side)), np.rot90(as_grid(images, (side, side)), k, axes=(1, 2)))


def test_shear_slides_rows_in_proportion_to_their_height():
    images = random_images(1, 2, (15, 15))
    out = as_grid(affine(images, shear=1.0, shape=(15, 15)), (15, 15))
    rows = np.arange(15)[:, None]
    source = np.arange(15)[None, :] - (rows - 7)  # row r moves r - 7 columns right
    inside = (source >= 0) & (source < 15)
    expected = np.where(inside, as_grid(images, (15, 15))[:, rows, np.clip(source, 0, 14)], 0)
    assert np.array_equal(out, expected)


def test_scale_two_doubles_distances_from_the_centre():
    images = random_images(2, 2, (15, 15))
    out = as_grid(affine(images, scale=2.0, shape=(15, 15)), (15, 15))
    even = np.arange(1, 15, 2)  # 7 + 2d lands on whole source pixel 7 + d
    assert np.array_equal(out[:, even[:, None], even], as_grid(images, (15, 15))[:, 4:11, 4:11])


def reference_bilinear(images: np.ndarray, coords: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Float64 bilinear interpolation, one neighbour at a time, 0 outside the image."""
    h, w = shape
    grid = as_grid(images, shape).astype(np.float64)
    rows, cols = coords.astype(np.float64)
    total = np.zeros_like(rows)
    for r in (np.floor(rows), np.floor(rows) + 1):
        for c in (np.floor(cols), np.floor(cols) + 1):
            inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
            value = grid[np.arange(len(grid))[:, None], np.clip(r, 0, h - 1).astype(int), np.clip(c, 0, w - 1).astype(int)]
            total += np.where(inside, (1 - np.abs(rows - r)) * (1 - np.abs(cols - c)) * value, 0.0)
    return total


@FAST
@given(seed=SEEDS, n=st.integers(1, 4), h=SIDES, w=SIDES)
def test_warp_matches_a_plain_bilinear_reference(seed, n, h, w):
    images = random_images(seed, n, (h, w))
    rng = np.random.default_rng(seed)
    coords = np.stack([rng.uniform(-3, h + 2, (n, h * w)), rng.uniform(-3, w + 2, (n, h * w))]).astype(np.float32)
    before = coords.copy()
    out = warp(images, coords, shape=(h, w))
    assert np.abs(out - reference_bilinear(images, coords, (h, w))).max() <= 0.5 + 1e-3
    assert np.array_equal(coords, before)


def test_batches_too_big_for_float32_indices_give_the_same_pixels():
    """Past 2^24 padded pixels per batch the flat indices are computed in integers."""
    images = random_images(5, 700_000, (1, 1))  # 700,000 * 5 * 5 padded pixels > 2^24
    shift = np.random.default_rng(5).uniform(-1, 1, (700_000, 2))
    whole_batch = affine(images, shift=shift, shape=(1, 1))
    tail = slice(690_000, None)
    assert np.array_equal(whole_batch[tail], affine(images[tail], shift=shift[tail], shape=(1, 1)))
    assert whole_batch.any() and not np.array_equal(whole_batch, images)


def test_far_away_sources_read_the_background(digits):
    assert not affine(digits, shift=(0, 30)).any()
    assert not affine(digits, shift=(-29, 0)).any()


def test_small_transforms_roughly_keep_the_ink(digits):
    ink = digits.sum(axis=1, dtype=np.int64)
    moved = Augmenter(scale=0.0, elastic_alpha=0.0)(digits, np.random.default_rng(0)).sum(axis=1, dtype=np.int64)
    # rotation and shift move ink around without changing it; rounding and the blur
    # of bilinear interpolation move totals by a few percent at most
    assert np.abs(moved / ink - 1).max() < 0.05
    for factor in (0.9, 1.1):  # scaling by s multiplies the area, and the ink, by s^2
        scaled = affine(digits, scale=factor).sum(axis=1, dtype=np.int64)
        assert np.abs(scaled / (ink * factor**2) - 1).max() < 0.08


# --- elastic fields ---------------------------------------------------------------------


def test_gaussian_matrix_is_a_gaussian_blur():
    g = gaussian_matrix(101, 4.0)
    assert np.allclose(g, g.T) and (g >= 0).all()
    centre = g[50]  # far from the borders: a whole kernel
    offsets = np.arange(101) - 50
    assert centre.sum() == pytest.approx(1.0)
    assert np.sqrt((centre * offsets**2).sum()) == pytest.approx(4.0, rel=0.01)
    assert g[0].sum() < 0.6  # half the kernel falls beyond the border


@pytest.mark.parametrize("size, sigma", [(28, 4.0), (20, 3.0), (30, 8.0)])
def test_truncated_modes_keep_the_covariance(size, sigma):
    g = gaussian_matrix(size, sigma)
    modes = field_modes(size, sigma)
    assert modes.shape[1] < size / 2
    exact_2d = np.kron(g @ g.T, g @ g.T)  # covariance of the 2-D field, up to the factor 1/3
    kept_2d = np.kron(modes @ modes.T, modes @ modes.T)
    assert np.linalg.norm(kept_2d - exact_2d) < 0.01 * np.linalg.norm(exact_2d)
    assert np.array_equal(field_modes(size, sigma, exact=True), g)


@pytest.mark.parametrize("exact", [False, True], ids=["truncated", "exact"])
def test_elastic_fields_have_the_papers_spread(exact):
    """Var of alpha (G X G.T)[i, j] with X uniform [-1, 1] is alpha^2 / 3 |G_i|^2 |G_j|^2."""
    alpha, sigma = 34.0, 4.0
    d = elastic_displacement(3000, np.random.default_rng(0), alpha=alpha, sigma=sigma, exact=exact)
    g = gaussian_matrix(28, sigma)
    row_norms = (g**2).sum(axis=1)
    expected = alpha / np.sqrt(3) * np.sqrt(np.outer(row_norms, row_norms)).ravel()
    spread = d.reshape(-1, 784).std(axis=0)
    assert np.abs(spread / expected - 1).max() < 0.12
    assert np.abs(d.mean()) < 0.05 * expected.mean()


def test_elastic_fields_are_smooth_and_bounded():
    alpha = 34.0
    fields = elastic_displacement(500, np.random.default_rng(1), alpha=alpha, sigma=4.0, exact=True)
    grids = fields.reshape(2, 500, 28, 28)
    # each row of G is non-negative and sums to at most 1, so |alpha G X G.T| <= alpha
    assert np.abs(grids).max() <= alpha
    steps = np.concatenate([np.diff(grids, axis=2).ravel(), np.diff(grids, axis=3).ravel()])
    # neighbours move together: steps are small next to alpha and next to the field's
    # spread (for an unsmoothed field the mean |step| would be about 1.1 spreads)
    assert np.abs(steps).max() < 0.1 * alpha
    assert np.abs(steps).mean() < 0.25 * grids.std()
    rough = elastic_displacement(500, np.random.default_rng(1), alpha=alpha, sigma=0.3, exact=True)
    assert np.abs(np.diff(rough.reshape(2, 500, 28, 28), axis=3)).mean() > 0.8 * rough.std()


def test_elastic_is_warp_along_the_displacement(digits):
    n = len(digits)
    direct = Augmenter(**ELASTIC_ONLY)(digits, np.random.default_rng(4))
    field = elastic_displacement(n, np.random.default_rng(4))
    via_warp = warp(digits, pixel_grid()[:, None] + field)
    difference = np.abs(direct.astype(int) - via_warp)
    assert difference.max() <= 1 and (difference > 0).mean() < 0.001  # float rounding only


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [("shift", -1.0), ("scale", 1.0), ("scale", 0.95), ("elastic_sigma", 0.0), ("rotation", float("nan")),
     ("rotation", 361.0), ("shift", 1e308), ("elastic_alpha", float("inf")), ("shear", True), ("shift", "2"),
     ("shift", 10**400), ("shape", (0, 28))],
)
def test_bad_magnitudes_are_refused_naming_the_field(field, value):
    with pytest.raises(AugmentError, match=f"^{field} must be ") as caught:
        Augmenter(**{field: value})
    assert caught.value.field == field and isinstance(caught.value, ValueError)


def test_magnitudes_are_held_as_floats():
    augmenter = Augmenter(shift=1, rotation=np.int64(5), scale=np.float32(0.5))
    assert (augmenter.shift, augmenter.rotation, augmenter.scale) == (1.0, 5.0, 0.5)
    assert all(type(getattr(augmenter, name)) is float for name in RANGES)


@pytest.mark.parametrize("field", sorted(RANGES))
def test_each_magnitude_takes_its_whole_range_and_nothing_beyond(field):
    low, high, above = RANGES[field]
    assert getattr(Augmenter(**{field: high}), field) == high
    assert getattr(Augmenter(**{field: np.float32(high / 2)}), field) == np.float32(high / 2)
    with pytest.raises(AugmentError, match=f"at most {high:g}"):
        Augmenter(**{field: high * 1.01})
    if above:
        with pytest.raises(AugmentError, match=f"above {low:g}"):
            Augmenter(**{field: low})
    else:
        assert getattr(Augmenter(**{field: low}), field) == low


@pytest.mark.parametrize(
    "images",
    [np.zeros((2, 784), np.float32), np.zeros((2, 783), np.uint8), np.zeros((2, 28, 28), np.uint8)],
    ids=["float", "wrong_size", "3d"],
)
def test_bad_batches_are_refused(images):
    with pytest.raises(ValueError):
        Augmenter()(images, np.random.default_rng(0))


def test_bad_parameters_are_refused(digits):
    with pytest.raises(ValueError):
        affine(digits, scale=0.0)
    with pytest.raises(ValueError, match="field must have the shape draw_field gives"):
        Augmenter().apply(digits, field=np.zeros((2, 1, 3, 3), np.float32))
    with pytest.raises(ValueError):
        warp(digits, np.zeros((2, 5, 784), np.float32))
    with pytest.raises(ValueError):
        warp(digits, np.full((2, len(digits), 784), np.nan, np.float32))


# --- labels survive ---------------------------------------------------------------------


def fit(mnist, augmenter: Augmenter | None):
    """784-256-10 relu, Adam 1e-3, 2 epochs of batches of 128, fresh distortions per batch."""
    params = init([784, 256, 10], act="relu", rng=np.random.default_rng(0))
    optimizer, rng = Adam(1e-3), np.random.default_rng(1)
    state = optimizer.init(params)
    for _ in range(2):
        for index in batches(len(mnist.train), 128, rng):
            images = mnist.train.images[index]
            x = to_float(images if augmenter is None else augmenter(images, rng))
            params, state, _ = train_step(params, state, x, mnist.train.labels[index], optimizer)
    return params


def accuracy(params, images, labels) -> float:
    return float((forward(params, to_float(images)).logits.argmax(axis=1) == labels).mean())


@pytest.mark.slow
def test_distorted_digits_keep_their_labels(mnist):
    """Trained on distorted digits (default magnitudes, a fresh draw per batch), a model
    learns the real digits, so image and label stayed paired, and it reads distorted test
    digits nearly as well as plain ones, so they stay recognisable. (A model trained on
    plain digits cannot show the second: an MLP is not shift invariant, and 2-pixel
    shifts alone cost it about 15% of its accuracy.)"""
    test = mnist.test
    model = fit(mnist, Augmenter())
    plain = accuracy(model, test.images, test.labels)
    distorted = accuracy(model, Augmenter()(test.images, np.random.default_rng(2)), test.labels)
    assert plain >= 0.9
    assert distorted >= 0.85 * plain


# --- the entry points of 0.1 ------------------------------------------------------------


@pytest.mark.parametrize(
    "old, new",
    [
        (lambda x: augment_module.random_affine(x, np.random.default_rng(1), max_shear=0.1),
         lambda x: Augmenter(shear=0.1, elastic_alpha=0.0)(x, np.random.default_rng(1))),
        (lambda x: augment_module.elastic(x, np.random.default_rng(1), exact=True),
         lambda x: Augmenter(**ELASTIC_ONLY, exact_elastic=True)(x, np.random.default_rng(1))),
        (lambda x: augment_module.affine(x, shift=(1, -2), rotation=30.0), lambda x: affine(x, shift=(1, -2), rotation=30.0)),
    ],
    ids=["random_affine", "elastic", "affine"],
)
def test_the_entry_points_of_0_1_still_work_and_warn(digits, old, new):
    with pytest.warns(DeprecationWarning, match="^purenet.data.augment.[a-z_]+ is deprecated: use Augmenter"):
        got = old(digits)
    assert np.array_equal(got, new(digits))
