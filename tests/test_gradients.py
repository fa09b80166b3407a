"""Finite-difference checks of ``backward`` for every activation x loss pair.

Hypothesis draws the depth (1-4 layers), the widths and the batch size (1-8); the
params are float64 and every partial derivative is compared with a central
five-point difference of ``purenet.loss`` (tests/gradcheck.py, ``order=4``).
"""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import ACCURATE_STEP, KINKED, TOLERANCE, noise_floor, numerical_grads, relative_error, relative_errors
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from purenet import ACTIVATIONS, LOSSES, Dense, Params, backward, forward, init, loss
from purenet.core.layers.dropout import DropoutCache
from purenet.core.network import with_dropout

pytestmark = pytest.mark.core  # the core math: `pytest -m core` runs it alone, in seconds

SMOOTH_STEP, KINKED_STEP = ACCURATE_STEP, 1e-5  # five-point differences (order 4) throughout


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
    params = Params(params.arch, [Dense(d.w, rng.normal(0, 0.5, d.b.shape)) for d in params.layers])
    x = rng.normal(0, 1, (batch, sizes[0]))
    y = rng.integers(0, sizes[-1], batch)
    step = KINKED_STEP if act in KINKED else SMOOTH_STEP
    if act in KINKED:  # a finite difference across a kink measures no derivative
        assume(all(np.abs(z).min() > 100 * step for z in pre_activations(params, x)[:-1]))

    analytic = list(backward(params, forward(params, x), y).arrays())
    numeric = numerical_grads(lambda p: loss(p, x, y), params, step, order=4)
    errors = relative_errors(numeric, analytic, noise_floor(step))
    assert all(a.dtype == np.float64 for a in analytic)
    assert max(errors) < TOLERANCE, errors


def test_the_check_catches_a_wrong_gradient():
    """The comparison above is able to fail: a gradient off by 1% is caught."""
    rng = np.random.default_rng(0)
    params = init([3, 4, 2], act="tanh", rng=rng, dtype=np.float64)
    x, y = rng.normal(size=(5, 3)), rng.integers(0, 2, 5)
    analytic = list(backward(params, forward(params, x), y).arrays())
    numeric = numerical_grads(lambda p: loss(p, x, y), params, SMOOTH_STEP, order=4)
    floor = noise_floor(SMOOTH_STEP)
    assert max(relative_errors(numeric, analytic, floor)) < TOLERANCE
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
    numeric = numerical_grads(masked_loss, params, SMOOTH_STEP, order=4)
    errors = relative_errors(numeric, analytic, noise_floor(SMOOTH_STEP))
    assert max(errors) < TOLERANCE, errors


@settings(max_examples=15, deadline=None)
@given(shape=network_shapes, smoothing=st.floats(0.01, 0.5))
def test_backward_with_label_smoothing_matches_finite_differences(shape, smoothing):
    """``backward(..., label_smoothing=e)`` is the gradient of the smoothed ce loss (tanh: no kinks)."""
    from purenet.core.losses import loss_terms

    sizes, batch, seed = shape
    sizes[-1] = max(sizes[-1], 2)
    rng = np.random.default_rng(seed)
    params = init(sizes, act="tanh", rng=rng, dtype=np.float64)
    x, y = rng.normal(0, 1, (batch, sizes[0])), rng.integers(0, sizes[-1], batch)
    value = loss_terms("ce", smoothing)[0]
    analytic = list(backward(params, forward(params, x), y, label_smoothing=smoothing).arrays())
    numeric = numerical_grads(lambda p: value(forward(p, x).logits, y), params, SMOOTH_STEP, order=4)
    errors = relative_errors(numeric, analytic, noise_floor(SMOOTH_STEP))
    assert max(errors) < TOLERANCE, errors
