"""Activations and losses: values, stability at extreme inputs, output-form derivatives."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import ACCURATE_STEP, TOLERANCE, noise_floor, numerical_gradient, relative_error, slope
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from purenet import ACTIVATIONS, init, predict
from purenet.core.activations import get_activation, sigmoid
from purenet.core.losses import LOSSES, get_loss, log_softmax, loss_terms, softmax

pytestmark = pytest.mark.core  # the core math: `pytest -m core` runs it alone, in seconds

REFERENCE = {  # the textbook formulas, for moderate z where they are safe
    "identity": lambda z: z,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.exp(np.minimum(z, 0)) - 1),
}

moderate = arrays(np.float64, (3, 5), elements=st.floats(-20, 20))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@given(z=moderate)
def test_activation_matches_its_formula(name, z):
    np.testing.assert_allclose(get_activation(name).fn(z), REFERENCE[name](z), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - {"identity"}))
@given(z=arrays(np.float64, 7, elements=st.floats(-5, 5).filter(lambda v: abs(v) > 1e-3)))
def test_derivative_from_output_matches_slope(name, z):
    act = get_activation(name)
    np.testing.assert_allclose(act.grad(act.fn(z)), slope(act.fn, z), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_are_quiet_at_extreme_inputs(name, dtype):
    """With np.seterr raising, any overflow or invalid value fails this test."""
    z = np.array([-1e4, -100, -1, 0, 1, 100, 1e4], dtype=dtype)
    a = get_activation(name).fn(z.copy())
    assert a.dtype == dtype and np.isfinite(a).all()


def test_sigmoid_saturates_exactly():
    a = sigmoid(np.array([-1e4, 0.0, 1e4]))
    np.testing.assert_array_equal(a, [0.0, 0.5, 1.0])


def test_activation_with_out_writes_in_place_and_without_does_not():
    z = np.array([-1.0, 2.0])
    relu = get_activation("relu")
    fresh = relu.fn(z)
    assert fresh is not z and z[0] == -1.0
    assert relu.fn(z, out=z) is z and z[0] == 0.0


def test_softmax_rows_sum_to_one_even_for_huge_logits():
    z = np.array([[1e4, 0.0, -1e4], [3.0, 3.0, 3.0]], dtype=np.float32)
    p = softmax(z)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(p[1], 1 / 3, rtol=1e-6)
    assert np.isfinite(log_softmax(z)).all()


@pytest.mark.parametrize("shape", [(5,), (4, 5), (2, 3, 5)])
@pytest.mark.parametrize("order", ["C", "F"])
def test_softmax_of_any_shape_and_layout_matches_the_formula_and_leaves_z_alone(shape, order):
    z = np.asarray(np.random.default_rng(0).normal(size=shape), order=order)
    before = z.copy()
    reference = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    for fn, expected in ((softmax, reference), (log_softmax, np.log(reference))):
        result = fn(z)
        assert result.shape == shape and result.flags.c_contiguous
        np.testing.assert_allclose(result, expected, rtol=1e-12)
    np.testing.assert_array_equal(z, before)


@pytest.mark.parametrize("order", ["C", "F"])
def test_cross_entropy_delta_is_softmax_minus_one_hot_over_n_and_leaves_z_alone(order):
    z = np.asarray(np.random.default_rng(1).normal(size=(6, 4)), order=order)
    y = np.array([0, 3, 1, 1, 2, 0])
    before = z.copy()
    expected = (softmax(z) - np.eye(4)[y]) / 6
    np.testing.assert_allclose(get_loss("ce").delta(z, y), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(z, before)


@pytest.mark.parametrize("name", ["relu", "elu"])
def test_relu_and_elu_take_lists_and_keep_the_dtype(name):
    fn = get_activation(name).fn
    np.testing.assert_allclose(fn([-1.0, 3.0]), REFERENCE[name](np.array([-1.0, 3.0])))
    assert fn(np.array([[-1.0, 2.0]], np.float32)).dtype == np.float32


def test_relu_takes_scalars_and_integers_like_a_ufunc():
    relu = get_activation("relu").fn
    assert relu(np.float32(-2.0)) == 0 and relu(np.float32(-2.0)).dtype == np.float32
    relu_of_ints = relu(np.array([-1, 2]))
    assert relu_of_ints.dtype.kind == "i" and relu_of_ints.tolist() == [0, 2]


@given(z=moderate, y=arrays(np.int64, 3, elements=st.integers(0, 4)))
def test_cross_entropy_matches_the_naive_formula(z, y):
    naive = -np.log(np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))[np.arange(3), y].mean()
    assert get_loss("ce").value(z, y) == pytest.approx(naive, rel=1e-9)


@pytest.mark.parametrize("name", sorted(LOSSES))
@settings(max_examples=25, deadline=None)  # 60 losses an example: kept small for the core loop
@given(z=arrays(np.float64, (3, 5), elements=st.floats(-8, 8)), y=arrays(np.int64, 3, elements=st.integers(0, 4)))
def test_delta_is_the_gradient_of_the_value(name, z, y):
    """``delta(z, y)`` is dL/dz of ``value(z, y)``: the loss's own backward, checked alone.

    Five-point differences, and logits within +-8: at +-20 mse's sigmoids saturate and leave
    gradients of 1e-6, which a difference of the loss measures no better than to 5e-7."""
    loss = get_loss(name)
    numeric = numerical_gradient(lambda moved: loss.value(moved, y), z, ACCURATE_STEP, order=4)
    assert relative_error(numeric, loss.delta(z, y), noise_floor(ACCURATE_STEP)) < TOLERANCE


def test_cross_entropy_is_finite_for_confidently_wrong_logits():
    z = np.array([[1e4, -1e4]], dtype=np.float32)
    assert get_loss("ce").value(z, np.array([1])) == pytest.approx(2e4, rel=1e-6)


def test_mse_value_is_half_the_squared_distance():
    z = np.zeros((2, 3))  # sigmoid(0) = 0.5 everywhere
    # each row: (0.5 - 1)^2 + 2 * 0.5^2 = 0.75, halved = 0.375
    assert get_loss("mse").value(z, np.array([0, 2])) == pytest.approx(0.375)


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_predict_rows_are_probabilities(loss_name):
    params = init([6, 5, 4], act="sigmoid", loss=loss_name, rng=0)
    p = predict(params, np.random.default_rng(0).random((7, 6), dtype=np.float32))
    assert p.shape == (7, 4) and (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)


def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match="relu"):
        get_activation("swish")
    with pytest.raises(ValueError, match="ce"):
        get_loss("hinge")
    with pytest.raises(ValueError, match="choose one of"):
        init([4, 2], act="relu", init="orthogonal", rng=0)


def test_mse_probabilities_keep_their_precision_where_every_sigmoid_is_near_zero():
    """A row of saturated outputs (a network trained with mse says "none of these" to an odd
    image): float32 must give the float64 ratios, not 0.5 + 0.5 tanh's steps of 3e-8 divided
    by their tiny sum. The naive float32 division is off by 5e-3 here."""
    z = np.array([[-14.19354, -18.78505, -38.141544, -12.501395, -20.4538, -26.524946,
                   -17.589695, -13.45848, -78.75768, -64.25171], [-200, -300, -400, -500, -600, -700, -800, -900, -1000, -90]])
    exact = get_loss("mse").output(z.astype(np.float64))
    naive = 1 / (1 + np.exp(-z[:1]))
    assert np.allclose(exact[0], naive / naive.sum(), rtol=1e-12, atol=0)
    assert exact[1].argmax() == 9 and exact[1, 9] == pytest.approx(1.0)
    assert np.abs(get_loss("mse").output(z.astype(np.float32)) - exact).max() < 1e-6


# ----------------------------------------------------------------- label smoothing


@pytest.mark.parametrize("order", ["C", "F"])
def test_smoothed_cross_entropy_delta_is_softmax_minus_the_smoothed_target_over_n(order):
    z = np.asarray(np.random.default_rng(2).normal(size=(6, 4)), order=order)
    y = np.array([0, 3, 1, 1, 2, 0])
    target = 0.8 * np.eye(4)[y] + 0.2 / 4
    value, delta = loss_terms("ce", 0.2)
    np.testing.assert_allclose(delta(z, y), (softmax(z) - target) / 6, rtol=1e-12, atol=1e-15)
    assert value(z, y) == pytest.approx(-(target * np.log(softmax(z))).sum(axis=1).mean(), rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(z=arrays(np.float64, (3, 5), elements=st.floats(-8, 8)), y=arrays(np.int64, 3, elements=st.integers(0, 4)),
       smoothing=st.floats(0.01, 0.5))
def test_smoothed_delta_is_the_gradient_of_the_smoothed_value(z, y, smoothing):
    value, delta = loss_terms("ce", smoothing)
    numeric = numerical_gradient(lambda moved: value(moved, y), z, ACCURATE_STEP, order=4)
    assert relative_error(numeric, delta(z, y), noise_floor(ACCURATE_STEP)) < TOLERANCE


def test_no_smoothing_is_the_plain_loss_and_a_wrong_smoothing_is_refused():
    z, y = np.random.default_rng(3).normal(size=(5, 3)).astype(np.float32), np.array([0, 1, 2, 2, 1])
    value, delta = loss_terms("ce", 0.0)
    assert value(z, y) == get_loss("ce").value(z, y)
    assert delta(z, y).tobytes() == get_loss("ce").delta(z, y).tobytes()
    assert loss_terms("ce", 0.1)[1](z, y).dtype == np.float32
    with pytest.raises(ValueError, match="needs the ce loss, not mse"):
        loss_terms("mse", 0.1)
    for bad in (-0.1, 1.0, float("nan"), True, "0.1"):
        with pytest.raises(ValueError, match="label smoothing must be"):
            loss_terms("ce", bad)
