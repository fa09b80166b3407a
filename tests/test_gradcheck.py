"""The gradient checker itself (tests/gradcheck.py): its differences have the accuracy their
formulas promise, and its comparison fails on every kind of wrong gradient."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import (
    ACCURATE_STEP,
    TOLERANCE,
    noise_floor,
    numerical_gradient,
    numerical_grads,
    relative_error,
    relative_errors,
    slope,
    with_array,
)

from purenet import backward, forward, init, loss, sgd, tree_map

pytestmark = pytest.mark.core  # the core math: `pytest -m core` runs it alone, in seconds


def smooth(x: np.ndarray) -> float:
    """A scalar function with a known gradient (``smooth_gradient``) and no kink."""
    return float(np.sum(np.sin(x) * np.arange(1, x.size + 1).reshape(x.shape)) + np.sum(x**3) / 3)


def smooth_gradient(x: np.ndarray) -> np.ndarray:
    return np.cos(x) * np.arange(1, x.size + 1).reshape(x.shape) + x**2


@pytest.fixture
def network():
    """A small float64 network, a batch, its loss and the gradient ``backward`` gives."""
    rng = np.random.default_rng(0)
    params = init([4, 5, 3], act="tanh", rng=rng, dtype=np.float64)
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, 6)
    analytic = list(backward(params, forward(params, x), y).arrays())
    return params, (lambda p: loss(p, x, y)), analytic


# --- the differences ------------------------------------------------------------------------


@pytest.mark.parametrize("step, order", [(1e-6, 2), (ACCURATE_STEP, 4)])
def test_the_differences_find_a_known_gradient_and_leave_x_alone(step, order):
    x = np.random.default_rng(1).normal(size=(3, 4))
    before = x.copy()
    numeric = numerical_gradient(smooth, x, step, order)
    assert relative_error(numeric, smooth_gradient(x)) < TOLERANCE
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("order", [2, 4])
def test_halving_the_step_divides_the_error_as_the_order_says(order):
    """A two-point difference's error falls 4x when the step halves, a five-point one's 16x:
    a wrong coefficient in a stencil leaves an error that does not fall at all."""
    x = np.random.default_rng(2).normal(size=5)
    exact = smooth_gradient(x)
    coarse, fine = (np.linalg.norm(numerical_gradient(smooth, x, step, order) - exact) for step in (0.1, 0.05))
    assert 0.8 * 2**order < coarse / fine < 1.2 * 2**order


def test_f_gets_an_array_of_its_own_at_each_call():
    x = np.zeros(3)
    seen = []

    def keeps_and_writes(moved: np.ndarray) -> float:
        seen.append(moved)
        value = float(moved.sum())
        moved[:] = 99.0  # code under test that writes into its input does not move the next point
        return value

    np.testing.assert_allclose(numerical_gradient(keeps_and_writes, x), np.ones(3), rtol=1e-9)
    assert len({id(a) for a in seen}) == len(seen) == 6
    np.testing.assert_array_equal(x, 0.0)


def test_the_slope_of_an_elementwise_function_is_each_entry_s_own_derivative():
    z = np.linspace(-2, 2, 7)
    np.testing.assert_allclose(slope(np.tanh, z), 1 - np.tanh(z) ** 2, rtol=1e-9)
    per_entry = numerical_gradient(lambda v: float(np.sum(np.tanh(v))), z)
    np.testing.assert_allclose(slope(np.tanh, z), per_entry, rtol=1e-8)


def test_numerical_grads_moves_each_learned_array_in_the_order_of_params_arrays(network):
    params, loss_of, analytic = network
    numeric = numerical_grads(loss_of, params)
    assert [a.shape for a in numeric] == [a.shape for a in params.arrays()]
    assert max(relative_errors(numeric, analytic)) < TOLERANCE
    replaced = with_array(params, 1, np.full(5, 7.0))
    kept = [np.array_equal(new, old) for new, old in zip(replaced.arrays(), params.arrays())]
    assert kept == [True, False, True, True] and np.all(list(replaced.arrays())[1] == 7.0)


def test_only_float64_and_the_two_orders_are_accepted():
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(smooth, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="order"):
        numerical_gradient(smooth, np.zeros(3), order=3)


# --- the comparison -------------------------------------------------------------------------


def first(g: np.ndarray) -> np.ndarray:
    """True at the first entry of ``g`` only."""
    return (np.arange(g.size) == 0).reshape(g.shape)


MISTAKES = {
    "off by 1%": lambda g: g * 1.01,
    "one entry's sign flipped": lambda g: np.where(first(g), -g, g),
    "one entry off by 1e-4 of the norm": lambda g: g + 1e-4 * np.linalg.norm(g) * first(g),
    "entries shifted by one": lambda g: np.roll(g, 1),
    "zero": np.zeros_like,
    "half the size": lambda g: g / 2,
}


@pytest.mark.parametrize("mistake", MISTAKES, ids=list(MISTAKES))
def test_the_check_fails_on_a_wrong_gradient(network, mistake):
    """Every array of a correct gradient passes; each mistake, in any one array, fails."""
    params, loss_of, analytic = network
    numeric = numerical_grads(loss_of, params)
    assert max(relative_errors(numeric, analytic)) < TOLERANCE
    for index in range(len(analytic)):
        wrong = list(analytic)
        wrong[index] = MISTAKES[mistake](analytic[index])
        errors = relative_errors(numeric, wrong)
        assert errors[index] > TOLERANCE, (index, errors)


def test_the_check_fails_on_a_wrong_gradient_near_the_noise_floor():
    """Below the floor, gradients are compared on an absolute scale, still tightly: a tiny
    gradient that is twice the true one fails, its rounding noise passes."""
    floor = noise_floor(ACCURATE_STEP)
    true = np.full(4, 1e-3 * floor)
    noise = 1e-3 * TOLERANCE * floor * np.array([1, -1, 1, -1])
    assert relative_error(true + noise, true, floor) < TOLERANCE
    assert relative_error(2 * true, true, floor) > TOLERANCE
    assert relative_error(true, true, floor) == 0.0


def test_the_comparison_is_relative_and_refuses_mismatched_shapes():
    g = np.random.default_rng(3).normal(size=(2, 3))
    assert relative_error(1e-8 * g * 1.01, 1e-8 * g) == pytest.approx(relative_error(g * 1.01, g))
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(g, -g) == 1.0 and relative_error(g, np.zeros_like(g)) == 1.0
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        relative_error(g, g.T)
    with pytest.raises(ValueError, match="2 numeric gradients against 1"):
        relative_errors([g, g], [g])


# --- BatchNorm: a network's gradient in a training pass and at inference ----------------------


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("layers", [[16, "conv3k3", "bn", "avgpool2", 5, "bn", 3], [6, "bn", 5, "bn", 3]],
                         ids=["image-and-vector", "vectors"])
def test_a_batchnorm_network_s_gradients_match_the_differences(layers, training):
    """Every learned array, BatchNorm's gamma and beta too, against central differences of
    the loss of the same pass: batch statistics in training (each x moves every output of its
    channel), the running averages at inference (constants, moved far from 0 and 1 first)."""
    rng = np.random.default_rng(4)
    params = init(layers, act="tanh", rng=rng, dtype=np.float64)
    warm = rng.normal(1, 2, (8, layers[0]))
    for _ in range(3):  # lr 0: only the running averages move, away from their start
        params = sgd(params, backward(params, forward(params, warm, training=True), rng.integers(0, 3, 8)), 0.0)
    params = tree_map(lambda a: rng.normal(0, 0.7, a.shape), params)  # gamma and beta too; keeps the running averages
    x, y = rng.normal(0, 1, (5, layers[0])), rng.integers(0, 3, 5)

    def loss_of(p):
        return loss(p, forward(p, x, training=training), y)

    analytic = list(backward(params, forward(params, x, training=training), y).arrays())
    numeric = numerical_grads(loss_of, params)
    assert all(np.linalg.norm(n) > 1e-3 for n in numeric)  # every array reaches the loss
    assert max(relative_errors(numeric, analytic)) < TOLERANCE, relative_errors(numeric, analytic)
    norms = [layer for layer in params.layers if type(layer).__name__ == "BatchNorm"]
    assert all(np.abs(layer.var - 1).max() > 0.1 for layer in norms)
