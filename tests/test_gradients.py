"""Finite-difference checks of ``backward`` for every activation x loss pair.

Hypothesis draws the depth (1-4 layers), the widths and the batch size (1-8); the
params are float64 and every partial derivative is compared with a central
difference of ``purenet.loss``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from purenet import ACTIVATIONS, LOSSES, Dense, Params, backward, forward, init, loss
from purenet.core.layers.dropout import DropoutCache
from purenet.core.network import with_dropout

pytestmark = pytest.mark.core  # the core math: `pytest -m core` runs it alone, in seconds

TOLERANCE = 1e-6
KINKED = ("relu", "leaky_relu", "elu")  # the derivative (or its derivative) jumps at z = 0
SMOOTH_STEP, KINKED_STEP = 1e-3, 1e-5


def noise_floor(step: float) -> float:
    """The gradient size below which rounding noise dominates a finite difference.

    A loss of size ~1 is computed to ~10 ulp, so the five-point difference carries
    ~10 eps / step of noise per entry; an array whose gradient norm is below
    noise / TOLERANCE (deep, narrow or saturated nets) is compared on that absolute scale.
    """
    return 10 * np.finfo(np.float64).eps / step / TOLERANCE


def numerical_grads(params: Params, loss_of: Callable[[Params], float], step: float) -> list[np.ndarray]:
    """Five-point central differences of ``loss_of`` for every scalar of every array
    (order w0, b0, w1, ...): error O(step^4) instead of O(step^2), so a larger step
    and much less rounding noise than the two-point formula."""
    grads = []
    for index, array in enumerate(params.arrays()):
        grad = np.zeros_like(array)
        for flat in range(array.size):
            def loss_at(offset: float) -> float:
                moved = array.copy()  # noqa: B023 - called in this iteration
                moved.flat[flat] += offset  # noqa: B023 - called in this iteration
                return loss_of(with_array(params, index, moved))  # noqa: B023 - called in this iteration

            grad.flat[flat] = (8 * (loss_at(step) - loss_at(-step)) - (loss_at(2 * step) - loss_at(-2 * step))) / (12 * step)
        grads.append(grad)
    return grads


def with_array(params: Params, index: int, array: np.ndarray) -> Params:
    """``params`` with its ``index``-th array (order w0, b0, w1, ...) replaced."""
    arrays = list(params.arrays())
    arrays[index] = array
    layers = [Dense(w=arrays[2 * i], b=arrays[2 * i + 1]) for i in range(len(params.layers))]
    return Params(arch=params.arch, layers=layers)


def relative_error(numeric: np.ndarray, analytic: np.ndarray, floor: float) -> float:
    """||numeric - analytic|| / max(||numeric|| + ||analytic||, floor)."""
    scale = max(np.linalg.norm(numeric) + np.linalg.norm(analytic), floor)
    return float(np.linalg.norm(numeric - analytic) / scale)


def pre_activations(params: Params, x: np.ndarray) -> list[np.ndarray]:
    cache = forward(params, x)
    return [c.x @ layer.w + layer.b for c, layer in zip(cache.layers, params.layers)]


network_shapes = st.tuples(
    st.lists(st.integers(1, 6), min_size=2, max_size=5),  # widths: 1 to 4 layers
    st.integers(1, 8),  # batch size
    st.integers(0, 2**32 - 1),  # seed
)


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(shape=network_shapes)
def test_backward_matches_finite_differences(act, loss_name, shape):
    sizes, batch, seed = shape
    sizes[-1] = max(sizes[-1], 2)  # at least two classes
    rng = np.random.default_rng(seed)
    params = init(sizes, act=act, loss=loss_name, rng=rng, dtype=np.float64)
    # random (not zero) biases, so the check also covers db and non-centred units
    params = Params(params.arch, [Dense(layer.w, rng.normal(0, 0.5, layer.b.shape)) for layer in params.layers])
    x = rng.normal(0, 1, (batch, sizes[0]))
    y = rng.integers(0, sizes[-1], batch)
    step = KINKED_STEP if act in KINKED else SMOOTH_STEP
    if act in KINKED:  # a finite difference across a kink measures no derivative
        assume(all(np.abs(z).min() > 100 * step for z in pre_activations(params, x)[:-1]))

    analytic = list(backward(params, forward(params, x), y).arrays())
    numeric = numerical_grads(params, lambda p: loss(p, x, y), step)
    errors = [relative_error(n, a, noise_floor(step)) for n, a in zip(numeric, analytic)]
    assert all(a.dtype == np.float64 for a in analytic)
    assert max(errors) < TOLERANCE, errors


def test_the_check_catches_a_wrong_gradient():
    """The comparison above is able to fail: a gradient off by 1% is caught."""
    rng = np.random.default_rng(0)
    params = init([3, 4, 2], act="tanh", rng=rng, dtype=np.float64)
    x, y = rng.normal(size=(5, 3)), rng.integers(0, 2, 5)
    analytic = list(backward(params, forward(params, x), y).arrays())
    numeric = numerical_grads(params, lambda p: loss(p, x, y), SMOOTH_STEP)
    floor = noise_floor(SMOOTH_STEP)
    assert max(relative_error(n, a, floor) for n, a in zip(numeric, analytic)) < TOLERANCE
    assert relative_error(numeric[0], analytic[0] * 1.01, floor) > TOLERANCE


def test_float64_params_stay_float64_end_to_end():
    rng = np.random.default_rng(1)
    params = init([4, 3, 2], act="elu", rng=rng, dtype=np.float64)
    x = rng.random((2, 4), dtype=np.float32)  # float32 inputs are promoted, never the reverse
    cache = forward(params, x)
    grads = backward(params, cache, np.array([0, 1]))
    assert all(a.dtype == np.float64 for a in (*params.arrays(), *grads.arrays(), cache.logits))


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_backward_with_dropout_matches_finite_differences(act):
    """With the mask held fixed (same generator state), dropout's gradient is exact too:
    Dropout layers after the hidden dense layers, where ``--dropout`` places them."""
    rng = np.random.default_rng(4)
    params = init([5, 6, 6, 3], act=act, rng=rng, dtype=np.float64)
    x, y = rng.normal(size=(4, 5)), rng.integers(0, 3, 4)

    def masked_loss(p: Params) -> float:
        net = with_dropout(p, 0.4)
        return loss(net, forward(net, x, rng=np.random.default_rng(9)), y)

    net = with_dropout(params, 0.4)
    cache = forward(net, x, rng=np.random.default_rng(9))
    masks = [c.keep for c in cache.layers if isinstance(c, DropoutCache)]
    assert len(masks) == 2 and all((m == 0).any() for m in masks)  # some units really are dropped
    analytic = list(backward(net, cache, y).arrays())
    numeric = numerical_grads(params, masked_loss, SMOOTH_STEP)
    errors = [relative_error(n, a, noise_floor(SMOOTH_STEP)) for n, a in zip(numeric, analytic)]
    assert max(errors) < TOLERANCE, errors
