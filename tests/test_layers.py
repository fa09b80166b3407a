"""The layer kinds one by one: gradients, a loop reference for convolution, im2col's
adjoint, where pooling routes its gradient, and the layer-list grammar.

Every gradient check is float64 and compares the layer's backward with central
differences (tests/gradcheck.py) of the scalar L = sum(out * R), R random, over every
entry of every learned array and of the input.
"""

from __future__ import annotations

import math
from typing import Callable

import attrs
import numpy as np
import pytest
from gradcheck import KINKED, TOLERANCE, numerical_gradient, relative_error
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import purenet
from purenet.core.activations import ACTIVATIONS
from purenet.core.arrays import learned_names, static_names
from purenet.core.layers import (
    AvgPool,
    BatchNorm,
    Context,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    LayerListError,
    MaxPool,
    ToImage,
    canonical_layers,
    col2im,
    im2col,
    kind_of,
    plan_layers,
)
from purenet.core.layers.conv import conv_forward, paddings
from purenet.core.layers.pool import avg_pool_backward, avg_pool_forward, max_pool_backward, max_pool_forward
from purenet.core.records import Arch
from purenet.runs.config import ConfigError, parse_layers

pytestmark = pytest.mark.core  # the core math: `pytest -m core` runs it alone, in seconds

GRADIENT_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])


# --- helpers --------------------------------------------------------------------------------


def check_kind_gradients(record, x: np.ndarray, make_ctx: Callable[[], Context], rng: np.random.Generator) -> dict:
    """Compare ``kind.backward`` with central differences for every learned field and for x.

    ``make_ctx`` builds a fresh context for each call (a layer that draws, dropout, gets a
    generator reseeded the same way every time, so its mask does not move). Returns the
    relative errors by name; the caller asserts on them.
    """
    kind = kind_of(record)
    out, cache = kind.forward(record, x, make_ctx())
    r = rng.normal(size=out.shape)

    def loss_of(layer, inputs) -> float:
        return float(np.sum(kind.forward(layer, inputs, make_ctx())[0] * r))

    d_out = r.copy()
    grads, dx = kind.backward(record, cache, d_out, make_ctx())
    assert type(grads) is type(record)
    for name in static_names(type(record)):
        assert getattr(grads, name) == getattr(record, name), name
    errors = {}
    for name in learned_names(type(record)):
        numeric = numerical_gradient(lambda a, name=name: loss_of(attrs.evolve(record, **{name: a}), x), getattr(record, name))
        analytic = getattr(grads, name)
        assert analytic.dtype == np.float64
        errors[name] = relative_error(numeric, analytic)
    numeric_dx = numerical_gradient(lambda a: loss_of(record, a), x)
    assert dx is not None and dx.shape == x.shape and dx.dtype == np.float64
    errors["x"] = relative_error(numeric_dx, np.asarray(dx))
    # need_dx=False: the same grads, no dx
    no_dx_ctx = attrs.evolve(make_ctx(), need_dx=False)
    grads_again, none = kind.backward(record, kind.forward(record, x, make_ctx())[1], r.copy(), no_dx_ctx)
    assert none is None
    for name in learned_names(type(record)):
        np.testing.assert_allclose(getattr(grads_again, name), getattr(grads, name), rtol=1e-12, atol=1e-12)
    return errors


def reference_pads(size: int, k: int, stride: int, padding: str) -> tuple[int, int]:
    """TensorFlow's 'same' padding as its documentation writes it (in_size % stride form);
    the odd pixel goes after (bottom/right). 'valid': none."""
    if padding == "valid":
        return 0, 0
    if size % stride == 0:
        total = max(k - stride, 0)
    else:
        total = max(k - size % stride, 0)
    return total // 2, total - total // 2


def reference_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, padding: str, act) -> np.ndarray:
    """Convolution (cross-correlation, as every framework) with explicit loops over n, oh, ow, f."""
    n, h, width, c = x.shape
    k, _, _, f = w.shape
    top, bottom = reference_pads(h, k, stride, padding)
    left, right = reference_pads(width, k, stride, padding)
    padded = np.zeros((n, h + top + bottom, width + left + right, c))
    for i in range(h):
        for j in range(width):
            padded[:, top + i, left + j, :] = x[:, i, j, :]
    if padding == "same":
        oh, ow = math.ceil(h / stride), math.ceil(width / stride)
    else:
        oh, ow = (h - k) // stride + 1, (width - k) // stride + 1
    out = np.zeros((n, oh, ow, f))
    for s in range(n):
        for r in range(oh):
            for q in range(ow):
                for g in range(f):
                    total = b[g]
                    for di in range(k):
                        for dj in range(k):
                            for ch in range(c):
                                total += padded[s, r * stride + di, q * stride + dj, ch] * w[di, dj, ch, g]
                    out[s, r, q, g] = total
    return act.fn(out.copy())


# --- strategies ----------------------------------------------------------------------------


@st.composite
def conv_cases(draw):
    n = draw(st.integers(1, 3))
    h, w = draw(st.integers(3, 9)), draw(st.integers(3, 9))
    c, f = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.sampled_from([1, 2]))
    padding = draw(st.sampled_from(["same", "valid"]))
    k = draw(st.integers(1, min(4, h, w) if padding == "valid" else 4))
    act = draw(st.sampled_from(sorted(ACTIVATIONS)))
    seed = draw(st.integers(0, 2**32 - 1))
    return n, h, w, c, f, k, stride, padding, act, seed


def conv_layer(rng, k, c, f, stride, padding) -> Conv2D:
    """Weights of magnitude 0.1 to 1, either sign: a weight near 0 makes dx smaller than the
    central differences' rounding noise (about 1e-10 of the loss), which no tolerance on the
    relative error survives (seed 117 of a 1x1 kernel drew w = -1.9e-5)."""
    magnitudes = rng.uniform(0.1, 1.0, (k, k, c, f))
    w = np.where(rng.random((k, k, c, f)) < 0.5, -magnitudes, magnitudes)
    return Conv2D(w=w, b=rng.normal(0, 0.5, f), stride=stride, padding=padding)


pool_cases = st.tuples(
    st.integers(1, 3),  # batch
    st.integers(1, 3),  # pool size
    st.integers(0, 4),  # extra rows beyond the size (not multiples of it too)
    st.integers(0, 4),  # extra columns
    st.integers(1, 3),  # channels
    st.integers(0, 2**32 - 1),
)


# --- 1. gradients of every kind ------------------------------------------------------------


# cases that must always run: odd total padding (the extra row below), even kernels, stride 2
ALWAYS = [
    (2, 4, 7, 2, 3, 2, 1, "same", "tanh", 1),
    (1, 7, 6, 3, 2, 4, 2, "same", "identity", 2),
    (3, 5, 8, 1, 2, 3, 2, "same", "sigmoid", 3),
    (2, 9, 4, 2, 1, 4, 2, "valid", "elu", 4),
    (1, 3, 3, 1, 1, 4, 1, "same", "tanh", 5),  # the kernel is larger than the image
]


def always_examples(test):
    """The fixed cases of ALWAYS, run by every conv test besides the drawn ones."""
    for case, why in zip(ALWAYS, ("odd padding", "even kernel, stride 2", "stride 2, odd padding",
                                  "valid, stride 2", "kernel above the image")):
        test = example(case=case).via(why)(test)
    return test


@GRADIENT_SETTINGS
@given(case=conv_cases())
@always_examples
def test_conv_gradients_match_central_differences(case):
    n, h, w, c, f, k, stride, padding, act_name, seed = case
    rng = np.random.default_rng(seed)
    layer = conv_layer(rng, k, c, f, stride, padding)
    x = rng.normal(0, 1, (n, h, w, c))
    act = ACTIVATIONS[act_name]
    if act_name in KINKED:  # a finite difference across the kink measures no derivative
        z, _ = conv_forward(layer, x, ACTIVATIONS["identity"])
        assume(np.abs(z).min() > 1e-4)
    errors = check_kind_gradients(layer, x, lambda: Context(act=act), rng)
    assert max(errors.values()) < TOLERANCE, errors


@GRADIENT_SETTINGS
@given(case=pool_cases)
def test_max_pool_gradients_match_central_differences(case):
    n, k, extra_h, extra_w, c, seed = case
    rng = np.random.default_rng(seed)
    shape = (n, k + extra_h, k + extra_w, c)
    # distinct values 0.01 apart: no ties, and a step of 1e-6 never changes a window's winner
    x = rng.permutation(math.prod(shape)).reshape(shape) * 0.01
    errors = check_kind_gradients(MaxPool(k), x, lambda: Context(), rng)
    assert max(errors.values()) < TOLERANCE, errors


@GRADIENT_SETTINGS
@given(case=pool_cases)
def test_avg_pool_gradients_match_central_differences(case):
    n, k, extra_h, extra_w, c, seed = case
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, k + extra_h, k + extra_w, c))
    errors = check_kind_gradients(AvgPool(k), x, lambda: Context(), rng)
    assert max(errors.values()) < TOLERANCE, errors


@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=3, max_size=3), n=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_flatten_and_to_image_gradients(shape, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape))
    errors = check_kind_gradients(Flatten(), x, lambda: Context(), rng)
    assert max(errors.values()) < TOLERANCE, errors
    side = shape[0]
    rows = rng.normal(size=(n, side * side))
    errors = check_kind_gradients(ToImage(side), rows, lambda: Context(), rng)
    assert max(errors.values()) < TOLERANCE, errors
    # channels-last order: flatten(x)[n, (i*W + j)*C + c] == x[n, i, j, c]
    flat, _ = kind_of(Flatten()).forward(Flatten(), x, Context())
    np.testing.assert_array_equal(flat, np.stack([x[s].reshape(-1) for s in range(n)]))


@settings(max_examples=20, deadline=None)
@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3), n=st.integers(1, 3),
    rate=st.sampled_from([0.0, 0.2, 0.5, 0.9]), seed=st.integers(0, 2**32 - 1),
)
def test_dropout_gradients_with_a_fixed_mask(shape, n, rate, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape))
    layer = Dropout(rate)
    errors = check_kind_gradients(layer, x, lambda: Context(rng=np.random.default_rng(seed)), rng)
    assert max(errors.values()) < TOLERANCE, errors


def test_dropout_mask_is_drawn_scaled_and_skipped_without_a_generator():
    x = np.ones((200, 50))
    out, cache = kind_of(Dropout(0.25)).forward(Dropout(0.25), x, Context(rng=np.random.default_rng(0)))
    assert set(np.unique(out)) == {0.0, 1 / 0.75}
    assert 0.2 < np.mean(out == 0) < 0.3
    np.testing.assert_array_equal(cache.keep, out)  # x is ones: what passed is the mask
    again, _ = kind_of(Dropout(0.25)).forward(Dropout(0.25), x, Context(rng=np.random.default_rng(0)))
    np.testing.assert_array_equal(again, out)
    passed, _ = kind_of(Dropout(0.25)).forward(Dropout(0.25), x, Context())  # inference: no generator
    np.testing.assert_array_equal(passed, x)


@GRADIENT_SETTINGS
@given(
    fan_in=st.integers(1, 6), fan_out=st.integers(1, 6), n=st.integers(1, 4),
    act_name=st.sampled_from(sorted(ACTIVATIONS)), seed=st.integers(0, 2**32 - 1),
)
def test_dense_gradients_match_central_differences(fan_in, fan_out, n, act_name, seed):
    rng = np.random.default_rng(seed)
    layer = Dense(w=rng.normal(0, 0.5, (fan_in, fan_out)), b=rng.normal(0, 0.5, fan_out))
    x = rng.normal(size=(n, fan_in))
    if act_name in KINKED:
        assume(np.abs(x @ layer.w + layer.b).min() > 1e-4)
    errors = check_kind_gradients(layer, x, lambda: Context(act=ACTIVATIONS[act_name]), rng)
    assert max(errors.values()) < TOLERANCE, errors


def batchnorm_layer(rng, width: int) -> BatchNorm:
    """gamma of magnitude 0.5 to 1.5 either sign, any beta, running averages far from 0 and 1."""
    gamma = rng.uniform(0.5, 1.5, width) * rng.choice([-1, 1], width)
    return BatchNorm(gamma=gamma, beta=rng.normal(0, 1, width), mean=rng.normal(0, 1, width),
                     var=rng.uniform(0.2, 3, width))


@GRADIENT_SETTINGS
@given(
    shape=st.sampled_from([(1,), (3,), (2, 2, 1), (3, 2, 2), (1, 1, 3)]), n=st.integers(1, 4),
    training=st.booleans(), seed=st.integers(0, 2**32 - 1),
)
@example(shape=(3,), n=3, training=True, seed=0).via("three rows, the fewest checked")
@example(shape=(1, 1, 3), n=4, training=True, seed=1).via("1x1 images: the statistics over N alone")
def test_batchnorm_gradients_match_central_differences(shape, n, training, seed):
    """In a training pass the batch's mean and variance depend on x (dx has the two extra
    terms); at inference the running averages are constants."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2, (n, *shape)) + rng.normal(0, 1, shape[-1])
    per_channel = x.reshape(-1, shape[-1])
    if training:
        # two values per channel normalise to +-1 whatever x is: dx is of the size of eps, below
        # the differences' noise; a near-constant channel makes 1/sqrt(var) explode
        assume(len(per_channel) >= 3 and per_channel.var(axis=0).min() > 1e-2)
    layer = batchnorm_layer(rng, shape[-1])
    errors = check_kind_gradients(layer, x, lambda: Context(training=training), rng)
    assert max(errors.values()) < TOLERANCE, errors


def test_the_batchnorm_check_catches_a_gradient_that_forgets_the_batch_statistics(monkeypatch):
    """The inference gradient used in a training pass (the batch's mean and variance taken
    as constants) fails the check: the check sees the terms through the statistics."""
    import purenet.core.layers.batchnorm as batchnorm

    rng = np.random.default_rng(5)
    layer = batchnorm_layer(rng, 3)
    x = rng.normal(size=(4, 2, 2, 3))
    errors = check_kind_gradients(layer, x, lambda: Context(training=True), rng)
    assert max(errors.values()) < TOLERANCE
    original = batchnorm.batchnorm_backward

    def as_constants(layer, cache, d_out, need_dx=True):
        return original(layer, attrs.evolve(cache, training=False, x=cache.xhat / cache.inv_std, mean=np.zeros(3)),
                        d_out, need_dx)

    monkeypatch.setattr(batchnorm, "batchnorm_backward", as_constants)
    errors = check_kind_gradients(layer, x, lambda: Context(training=True), rng)
    assert errors["x"] > TOLERANCE and errors["gamma"] < TOLERANCE and errors["beta"] < TOLERANCE


def test_the_gradient_check_catches_a_wrong_gradient(monkeypatch):
    """The comparison above can fail: a convolution whose dx is off by one row (a padding
    split the wrong way round) or whose dw forgets the activation's derivative is caught."""
    import purenet.core.layers.conv as conv

    rng = np.random.default_rng(3)
    layer = conv_layer(rng, 3, 2, 2, 1, "same")
    x = rng.normal(size=(2, 5, 5, 2))
    tanh = ACTIVATIONS["tanh"]
    errors = check_kind_gradients(layer, x, lambda: Context(act=tanh), rng)
    assert max(errors.values()) < TOLERANCE
    original = conv.conv_backward

    def shifted_dx(layer, cache, d_out, act, need_dx=True, **kwargs):
        grads, dx = original(layer, cache, d_out, act, need_dx, **kwargs)
        return grads, None if dx is None else np.roll(dx, 1, axis=1)

    monkeypatch.setattr(conv, "conv_backward", shifted_dx)
    assert check_kind_gradients(layer, x, lambda: Context(act=tanh), rng)["x"] > TOLERANCE

    def linear_grads(layer, cache, d_out, act, need_dx=True, **kwargs):
        return original(layer, cache, d_out, ACTIVATIONS["identity"], need_dx, **kwargs)

    monkeypatch.setattr(conv, "conv_backward", linear_grads)
    errors = check_kind_gradients(layer, x, lambda: Context(act=tanh), rng)
    assert min(errors.values()) > TOLERANCE, errors


# --- every kind's dx is the next layer's to write into -------------------------------------


@pytest.mark.parametrize(
    "record, x_shape",
    [
        (AvgPool(1), (1, 3, 3, 2)),  # the window is the pixel
        (AvgPool(2), (1, 2, 2, 1)),  # one window per image, batch of 1
        (AvgPool(3), (1, 3, 3, 2)),
        (AvgPool(2), (3, 4, 4, 2)),
        (MaxPool(1), (1, 3, 3, 2)),
        (MaxPool(2), (1, 2, 2, 1)),
        (Flatten(), (2, 2, 2, 3)),
        (ToImage(3), (2, 9)),
        (Dropout(0.5), (2, 6)),
        (Conv2D(w=np.ones((1, 1, 2, 2)), b=np.zeros(2)), (1, 3, 3, 2)),
        (BatchNorm(gamma=np.ones(2), beta=np.zeros(2), mean=np.zeros(2), var=np.ones(2)), (1, 3, 3, 2)),
        (BatchNorm(gamma=np.ones(3), beta=np.zeros(3), mean=np.zeros(3), var=np.ones(3)), (1, 3)),
    ],
    ids=repr,
)
def test_dx_is_a_writeable_array_of_its_own(record, x_shape):
    """``backward`` may write into its ``d_out`` (the protocol; conv, dense and dropout do), so
    the dx a layer hands down must be writeable and must not repeat one number through
    zero strides: writing into it must change nothing else."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=x_shape)
    kind = kind_of(record)
    ctx = Context(act=ACTIVATIONS["tanh"], rng=np.random.default_rng(1))
    out, cache = kind.forward(record, x, ctx)
    d_out = rng.normal(size=out.shape)
    _, dx = kind.backward(record, cache, d_out, Context(act=ACTIVATIONS["tanh"]))
    assert dx.flags.writeable, f"{record}: dx is read-only"
    assert 0 not in dx.strides or dx.size <= 1, f"{record}: dx repeats values through a zero stride {dx.strides}"
    expected = dx.copy()
    dx.flat[0] += 1.0  # the next layer down consuming it in place
    assert np.count_nonzero(dx != expected) == 1


# --- 2. convolution equals a loop reference ------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(case=conv_cases())
@always_examples
def test_conv_forward_equals_the_loop_reference(case):
    n, h, w, c, f, k, stride, padding, act_name, seed = case
    rng = np.random.default_rng(seed)
    layer = conv_layer(rng, k, c, f, stride, padding)
    x = rng.normal(size=(n, h, w, c))
    act = ACTIVATIONS[act_name]
    out, _ = conv_forward(layer, x, act)
    expected = reference_conv(x, np.asarray(layer.w), np.asarray(layer.b), stride, padding, act)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "h, k, stride, expected_pads, rows",
    [
        (4, 2, 1, (0, 1), 4),  # odd total padding: the extra row goes below
        (5, 4, 1, (1, 2), 5),
        (7, 2, 2, (0, 1), 4),
        (6, 3, 2, (0, 1), 3),
        (5, 3, 2, (1, 1), 3),
        (4, 1, 2, (0, 0), 2),
        (3, 4, 2, (1, 2), 2),  # the kernel is larger than the image
    ],
)
def test_same_padding_is_tensorflows(h, k, stride, expected_pads, rows):
    assert paddings(h, k, stride, "same") == expected_pads
    assert paddings(h, k, stride, "valid") == (0, 0)
    # and the convolution uses it: a kernel that reads only its top-left tap returns the
    # padded input at (oh*s, ow*s), i.e. x[oh*s - top, ow*s - left] or 0 in the padding
    w = np.zeros((k, k, 1, 1))
    w[0, 0, 0, 0] = 1.0
    x = np.arange(1.0, h * h + 1).reshape(1, h, h, 1)
    out, _ = conv_forward(Conv2D(w=w, b=np.zeros(1), stride=stride, padding="same"), x, ACTIVATIONS["identity"])
    assert out.shape == (1, rows, rows, 1)
    top = expected_pads[0]
    for i in range(rows):
        for j in range(rows):
            src_i, src_j = i * stride - top, j * stride - top
            inside = 0 <= src_i < h and 0 <= src_j < h
            assert out[0, i, j, 0] == (x[0, src_i, src_j, 0] if inside else 0.0), (i, j)


# --- 3. col2im is the adjoint of im2col ----------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(1, 3), h=st.integers(1, 8), w=st.integers(1, 8), c=st.integers(1, 3), k=st.integers(1, 4),
    stride=st.integers(1, 3), padding=st.sampled_from(["same", "valid", "drawn"]),
    drawn=st.lists(st.integers(0, 2), min_size=4, max_size=4), seed=st.integers(0, 2**32 - 1),
)
def test_col2im_is_the_adjoint_of_im2col(n, h, w, c, k, stride, padding, drawn, seed):
    if padding == "drawn":  # any padding at all, also uneven on both sides
        pads = ((drawn[0], drawn[1]), (drawn[2], drawn[3]))
    else:
        pads = (paddings(h, k, stride, padding), paddings(w, k, stride, padding))
    assume(h + sum(pads[0]) >= k and w + sum(pads[1]) >= k)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, h, w, c))
    columns = im2col(x, k, stride, pads)
    oh, ow = (h + sum(pads[0]) - k) // stride + 1, (w + sum(pads[1]) - k) // stride + 1
    assert columns.shape == (n * oh * ow, k * k * c)
    y = rng.normal(size=columns.shape)
    back = col2im(y, x.shape, k, stride, pads)
    assert back.shape == x.shape
    left, right = float(np.sum(columns * y)), float(np.sum(x * back))
    assert abs(left - right) <= 1e-10 * max(abs(left) + abs(right), 1e-300), (left, right)


def test_im2col_rows_are_the_windows_in_ki_kj_c_order():
    x = np.arange(2 * 4 * 5 * 3, dtype=np.float64).reshape(2, 4, 5, 3)
    columns = im2col(x, 2, 2, ((0, 0), (0, 1)))  # 4x6 padded: 2x3 windows
    assert columns.shape == (2 * 2 * 3, 2 * 2 * 3)
    padded = np.pad(x, ((0, 0), (0, 0), (0, 1), (0, 0)))
    row = 0
    for s in range(2):
        for i in range(2):
            for j in range(3):
                np.testing.assert_array_equal(columns[row], padded[s, 2 * i:2 * i + 2, 2 * j:2 * j + 2, :].reshape(-1))
                row += 1


# --- 4. where pooling sends the gradient ---------------------------------------------------


def test_max_pool_routes_to_each_windows_maximum():
    x = np.zeros((1, 4, 4, 2))
    # channel 0: the maxima at known places, one per 2x2 window
    winners0 = [(0, 1), (1, 2), (3, 0), (2, 3)]
    # channel 1: other places, so a channel mix-up is visible
    winners1 = [(1, 0), (0, 3), (2, 1), (3, 2)]
    for value, (i, j) in enumerate(winners0, start=1):
        x[0, i, j, 0] = 10.0 * value
    for value, (i, j) in enumerate(winners1, start=1):
        x[0, i, j, 1] = 5.0 * value
    x[0, :, :, 1] -= 1.0  # negative elsewhere
    out, cache = max_pool_forward(MaxPool(2), x)
    np.testing.assert_array_equal(out[0, :, :, 0], [[10, 20], [30, 40]])
    np.testing.assert_array_equal(out[0, :, :, 1], [[4, 9], [14, 19]])
    d_out = np.arange(1.0, 9.0).reshape(1, 2, 2, 2)
    dx = max_pool_backward(MaxPool(2), cache, d_out.copy())
    expected = np.zeros_like(x)
    for (i, j), g in zip(winners0, d_out[0, :, :, 0].reshape(-1)):
        expected[0, i, j, 0] = g
    for (i, j), g in zip(winners1, d_out[0, :, :, 1].reshape(-1)):
        expected[0, i, j, 1] = g
    np.testing.assert_array_equal(dx, expected)


def test_max_pool_ties_go_to_the_first_in_row_major_order():
    x = np.zeros((1, 4, 6, 1))  # 2x3 windows of 2x2
    x[0, 2, 2, 0] = x[0, 3, 3, 0] = 7.0  # window (1, 1): tie between (0, 0) and (1, 1) -> (0, 0)
    x[0, 1, 4, 0] = x[0, 1, 5, 0] = 3.0  # window (0, 2): tie in the second row -> (1, 0)
    x[0, 0, 1, 0] = x[0, 1, 0, 0] = 2.0  # window (0, 0): (0, 1) before (1, 0)
    d_out = np.ones((1, 2, 3, 1))
    first = None
    for _ in range(3):
        out, cache = max_pool_forward(MaxPool(2), x)
        dx = max_pool_backward(MaxPool(2), cache, d_out.copy())
        if first is None:
            first = dx
        np.testing.assert_array_equal(dx, first)  # every run the same
    expected = np.zeros_like(x)
    for i, j in [(0, 1), (1, 4), (2, 2), (0, 2), (2, 0), (2, 4)]:  # the all-zero windows: their first element
        expected[0, i, j, 0] = 1.0
    np.testing.assert_array_equal(first, expected)


@pytest.mark.parametrize("pool", [MaxPool(2), MaxPool(3), AvgPool(2), AvgPool(3)], ids=repr)
def test_cropped_rows_and_columns_get_no_gradient(pool):
    k = pool.size
    rng = np.random.default_rng(0)
    shape = (2, 2 * k + 1, 3 * k - 1, 2)  # two whole windows each way, and one or more rows and columns left over
    x = rng.permutation(math.prod(shape)).reshape(shape) * 0.1
    is_max = type(pool) is MaxPool
    forward_fn, backward_fn = (max_pool_forward, max_pool_backward) if is_max else (avg_pool_forward, avg_pool_backward)
    out, cache = forward_fn(pool, x)
    assert out.shape == (2, 2, 2, 2)
    dx = backward_fn(pool, cache, np.ones_like(out))
    assert dx.shape == x.shape
    assert not dx[:, 2 * k:, :, :].any() and not dx[:, :, 2 * k:, :].any()
    assert dx[:, : 2 * k, : 2 * k, :].all() if type(pool) is AvgPool else dx.sum() == out.size


def test_avg_pool_spreads_a_ninth_over_a_3x3_window():
    x = np.random.default_rng(0).normal(size=(2, 6, 3, 2))
    out, cache = avg_pool_forward(AvgPool(3), x)
    np.testing.assert_allclose(out[1, 1, 0, 1], x[1, 3:6, 0:3, 1].mean(), rtol=1e-14)
    d_out = np.arange(1.0, 9.0).reshape(2, 2, 1, 2)
    dx = avg_pool_backward(AvgPool(3), cache, d_out.copy())
    for s in range(2):
        for i in range(2):
            for c in range(2):
                np.testing.assert_allclose(dx[s, 3 * i:3 * i + 3, :, c], d_out[s, i, 0, c] / 9, rtol=1e-15)


# --- 5. the layer-list grammar -------------------------------------------------------------


def test_tokens_parse_to_the_right_records():
    params = purenet.init([64, "conv3k3s2valid", "avgpool2", "flatten", "dropout0.5", 10], rng=0)
    assert params.arch.layers == (64, "conv3k3s2valid", "avgpool2", "flatten", "dropout0.5", 10)
    assert [type(layer) for layer in params.layers] == [ToImage, Conv2D, AvgPool, Flatten, Dropout, Dense]
    to_image, conv, pool, _, dropout, dense = params.layers
    assert to_image.side == 8
    assert (conv.stride, conv.padding, conv.w.shape, conv.b.shape) == (2, "valid", (3, 3, 1, 3), (3,))
    assert pool.size == 2 and dropout.rate == 0.5
    assert dense.w.shape == (3, 10)  # 8x8 -> conv valid s2: 3x3x3 -> avgpool2: 1x1x3
    planned = plan_layers(params.arch.layers)
    assert [p.plan.out_shape for p in planned] == [(8, 8, 1), (3, 3, 3), (1, 1, 3), (3,), (3,), (10,)]
    assert [p.position for p in planned] == [0, 2, 3, 4, 5, 6]


def test_tokens_have_one_canonical_spelling_and_flatten_is_inserted():
    tokens = canonical_layers([64, "CONV4K3S1SAME", "pool2", "maxpool2", " 16 ", "drop.5", "conv2k2s2", "avgpool1", 10])
    assert tokens == (64, "conv4k3", "maxpool2", "maxpool2", 16, "dropout0.5", "conv2k2s2", "avgpool1", 10)
    params = purenet.init([36, "conv4k3", "pool2", 5], rng=0)
    assert [type(layer) for layer in params.layers] == [ToImage, Conv2D, MaxPool, Flatten, Dense]
    assert params.layers[1].padding == "same" and params.layers[1].stride == 1
    assert params.layers[-1].w.shape == (3 * 3 * 4, 5)
    assert parse_layers("36,conv4k3s1,pool2,5") == (36, "conv4k3", "maxpool2", 5)


@pytest.mark.parametrize(
    "layers, position, problem",
    [
        ([64, "conv3k3", "bogus", 10], 3, "not a layer"),
        ([64, "conv0k3", 10], 2, "at least 1"),
        ([64, "conv3k0", 10], 2, "at least 1"),
        ([64, "conv3k3s0", 10], 2, "at least 1"),
        ([64, "pool0", 10], 2, "at least 1"),
        ([64, "dropout1.5", 10], 2, "[0, 1)"),
        ([64, True, 10], 2, "not a layer"),
        ([63, "conv3k3", 10], 2, "not a square"),
        ([64, 16, "conv3k3", 10], 3, "needs an image"),
        ([64, "conv3k9valid", 10], 2, "does not fit"),
        ([64, "pool9", 10], 2, "does not fit"),
        ([64, "conv3k3", "pool2", "pool5", 10], 4, "does not fit"),
        ([64, "conv3k3"], 2, "ends with a dense layer"),
        (["conv3k3", 10], 1, "starts with the input"),
    ],
)
def test_bad_layer_lists_name_the_item(layers, position, problem):
    with pytest.raises(LayerListError) as caught:
        plan_layers(canonical_layers(layers))
    assert caught.value.position == position
    assert problem in caught.value.problem
    assert isinstance(caught.value, ValueError)
    if isinstance(layers[0], int):  # init reads a list that starts with a layer as 28x28 images (test_network.py)
        with pytest.raises(ValueError, match=rf"item {position} \(") as caught:
            purenet.init(layers, rng=0)
        assert problem in str(caught.value)
    # the configuration's parser says the same (a list starting with no width is its own matter there)
    if isinstance(layers[0], int) and not any(isinstance(token, bool) for token in layers):
        with pytest.raises(ConfigError, match=rf"item {position}, "):
            parse_layers(",".join(map(str, layers)))


@pytest.mark.parametrize(
    "layers, position, problem",
    [
        ([784, "conv4k3s100000000000000000000", 10], 2, "stride must be at least 1 and at most 1024"),
        ([784, "conv4k3s29", 10], 2, "stride 29 is longer than the kernel"),
        ([784, "conv4k3", "pool2", "conv4k3s15", 10], 4, "stride 15 is longer"),
        ([784, "conv5000k3", 10], 2, "number of filters must be at least 1 and at most 4096"),
        ([784, "conv4k2000", 10], 2, "kernel size must be at least 1 and at most 1024"),
        ([784, "conv1k1000", 10], 2, "activations reach"),
        ([784, "pool1000000000", 10], 2, "pool size must be at least 1 and at most 1024"),
        ([784, "avgpool" + "9" * 5000, 10], 2, "(5000 digits)"),
        ([784, 2_000_000, 10], 2, "width must be at least 1 and at most"),
        ([784, 10**30, 10], 2, "width must be at least 1 and at most"),
        ([2_000_000, 10], 1, "width must be at least 1 and at most"),
        ([784, 1_000_000, 1000, 10], 3, "learned parameters here; at most 1,000,000,000"),
    ],
)
def test_every_layer_field_is_bounded_at_parse_and_at_load(layers, position, problem):
    """One validation for the grammar (--layers), the network and a checkpoint's layer list
    (which builds an Arch): each names the item out of bounds; nothing is ever allocated."""
    with pytest.raises(LayerListError) as caught:
        plan_layers(canonical_layers(layers))
    assert caught.value.position == position and problem in caught.value.problem
    with pytest.raises(ValueError, match=rf"item {position} \("):
        Arch(layers=layers, act="relu", loss="ce")  # what checkpoint.load builds from its metadata
    with pytest.raises(ConfigError, match=rf"^layers item {position}, "):
        parse_layers(",".join(map(str, layers)))


def test_layer_records_bound_their_static_fields():
    with pytest.raises(ValueError):
        Conv2D(w=np.zeros((3, 3, 1, 4), np.float32), b=np.zeros(4, np.float32), stride=10**20)
    with pytest.raises(ValueError):
        MaxPool(size=10**9)
    with pytest.raises(ValueError):
        AvgPool(size=0)


def test_a_stride_as_long_as_the_image_still_works():
    params = purenet.init([784, "conv2k3s28", 10], rng=0)
    assert params.layers[-1].w.shape == (2, 10)


@pytest.mark.parametrize(
    "token, rate",
    [("dropout0.5", 0.5), ("drop.25", 0.25), ("dropout0", 0.0), ("dropout0.05", 0.05),
     ("dropout0.00001", 0.00001), ("dropout0.0001", 0.0001), ("dropout0.123456789", 0.123456789)],
)
def test_a_dropout_tokens_canonical_spelling_parses_back_to_the_same_rate(token, rate):
    """Canonical spellings are what Arch, configs and checkpoints keep: each must parse again
    and name the very layer that was written, for any rate the grammar accepts."""
    (canonical,) = canonical_layers([token])
    assert canonical_layers([canonical]) == (canonical,)  # it parses, and is its own spelling
    params = purenet.init([16, token, 3], rng=0)
    assert params.layers[0].rate == rate
    assert parse_layers(f"16,{token},3") == (16, canonical, 3)
