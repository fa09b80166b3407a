"""The one gradient checker of the test suite: central differences in float64, compared
with a backward pass by one relative error against one tolerance.

    numerical_gradient(f, x)      dL/dx of a scalar function of one array, entry by entry
    numerical_grads(loss_of, p)   the same for every learned array of a network, in
                                  ``p.arrays()`` order (w0, b0, w1, ... for a dense network)
    slope(fn, z)                  the derivative of an elementwise function, all entries at once
    relative_error(numeric, analytic)
                                  ||numeric - analytic|| / max(||numeric|| + ||analytic||, floor)

A test computes the analytic gradient with the code under test, the numeric one here, and
asserts ``relative_error(...) < TOLERANCE`` per array. tests/test_gradcheck.py shows that
the check fails on wrong gradients, and checks a BatchNorm network in a training pass and
at inference: its state fields (the running averages) are no learned arrays, so
``numerical_grads`` never moves them and ``with_array`` keeps them as they are.
"""

from __future__ import annotations

from typing import Callable

import attrs
import numpy as np

from purenet import Params
from purenet.core.arrays import learned_names

TOLERANCE = 1e-6
"""The largest relative error a correct float64 gradient may show: far above the differences'
truncation and rounding errors at the steps below, far below any real mistake (a gradient
off by 1% shows an error of about 5e-3)."""

STEP = 1e-6
"""The two-point step: its truncation error (~step^2 = 1e-12) and rounding noise (~1e-16 / step
= 1e-10) sit far below TOLERANCE for the order-1 functions the tests build."""

ACCURATE_STEP = 1e-3
"""The step of the five-point (``order=4``) differences of smooth functions: truncation
~step^4 = 1e-12, and a thousandfold less rounding noise than at the two-point step."""

TINY = 1e-300
"""The default floor of ``relative_error``: only keeps 0 / 0 away (two zero gradients agree)."""

KINKED = ("relu", "leaky_relu", "elu")
"""Activations whose derivative (or, for ELU, its derivative) jumps at z = 0: a difference
across the kink measures no derivative, so their tests keep every pre-activation away from 0."""


def numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, step: float = STEP, order: int = 2,
) -> np.ndarray:
    """dL/dx of the scalar ``L = f(x)``, one entry at a time, ``x`` left as it is.

    ``f`` gets an array of its own at each call (the code under test may keep or write it).
    ``order`` 2 is the two-point difference (error ~step^2); 4 the five-point stencil (error
    ~step^4), for a larger step and less rounding noise in deep or saturated networks.
    """
    x = _float64(x)
    grad = np.empty_like(x)
    for i in range(x.size):
        def f_at(offset: float, i: int = i) -> float:
            moved = x.copy()
            moved.flat[i] += offset
            return float(f(moved))

        grad.flat[i] = _central(f_at, step, order)
    return grad


def numerical_grads(
    loss_of: Callable[[Params], float], params: Params, step: float = STEP, order: int = 2,
) -> list[np.ndarray]:
    """``numerical_gradient`` of ``loss_of`` for every learned array of ``params``, in
    ``params.arrays()`` order: the order of ``list(backward(...).arrays())``."""
    grads = []
    for index, array in enumerate(params.arrays()):
        def loss_at(moved: np.ndarray, index: int = index) -> float:
            return loss_of(with_array(params, index, moved))

        grads.append(numerical_gradient(loss_at, array, step, order))
    return grads


def with_array(params: Params, index: int, array: np.ndarray) -> Params:
    """``params`` with its ``index``-th learned array (``params.arrays()`` order) replaced;
    any layer kind, registered ones too."""
    layers, seen = [], 0
    for layer in params.layers:
        names = learned_names(type(layer))
        if seen <= index < seen + len(names):
            layer = attrs.evolve(layer, **{names[index - seen]: array})
        seen += len(names)
        layers.append(layer)
    return Params(arch=params.arch, layers=layers)


def slope(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, step: float = STEP, order: int = 2) -> np.ndarray:
    """The derivative of an elementwise ``f`` (an activation) at every entry of ``x``: the
    central difference with every entry moved at once, as each output depends on its own
    input alone."""
    x = _float64(x)
    return np.asarray(_central(lambda offset: np.asarray(f(x + offset), dtype=np.float64), step, order))


def relative_error(numeric: np.ndarray, analytic: np.ndarray, floor: float = TINY) -> float:
    """||numeric - analytic|| / max(||numeric|| + ||analytic||, floor), over the whole array.

    0 when they agree, 1 when one is zero or they point opposite ways. ``floor`` is the
    gradient size below which the differences' own noise dominates (``noise_floor``):
    smaller gradients are compared on that absolute scale instead.
    """
    numeric, analytic = np.asarray(numeric), np.asarray(analytic)
    if numeric.shape != analytic.shape:
        raise ValueError(f"numeric gradient {numeric.shape} against analytic {analytic.shape}")
    scale = max(float(np.linalg.norm(numeric) + np.linalg.norm(analytic)), floor)
    return float(np.linalg.norm(numeric - analytic)) / scale


def relative_errors(numeric: list[np.ndarray], analytic: list[np.ndarray], floor: float = TINY) -> list[float]:
    """``relative_error`` array by array (a network's gradients against ``numerical_grads``)."""
    if len(numeric) != len(analytic):
        raise ValueError(f"{len(numeric)} numeric gradients against {len(analytic)} analytic ones")
    return [relative_error(n, a, floor) for n, a in zip(numeric, analytic)]


def noise_floor(step: float) -> float:
    """The gradient size below which rounding noise dominates a central difference.

    A loss of size ~1 is computed to ~10 ulp, so a difference at ``step`` carries ~10 eps /
    step of noise per entry; a gradient whose norm is below noise / TOLERANCE (deep, narrow
    or saturated networks) is compared on that absolute scale.
    """
    return 10 * np.finfo(np.float64).eps / step / TOLERANCE


def _central(f_at: Callable[[float], float | np.ndarray], step: float, order: int) -> float | np.ndarray:
    """The central difference of ``f_at(offset)`` at offset 0."""
    if order == 2:
        return (f_at(step) - f_at(-step)) / (2 * step)
    if order == 4:
        return (8 * (f_at(step) - f_at(-step)) - (f_at(2 * step) - f_at(-2 * step))) / (12 * step)
    raise ValueError(f"order must be 2 or 4, got {order!r}")


def _float64(x: np.ndarray) -> np.ndarray:
    """``x`` as a float64 array; anything narrower would drown a 1e-6 check in rounding."""
    x = np.asarray(x)
    if x.dtype != np.float64:
        raise TypeError(f"gradients are checked in float64, got {x.dtype}")
    return x
