"""Hidden-layer activations, each a function and its derivative side by side.

Every derivative here is written in terms of the activation's *output* ``a = f(z)``,
not its input ``z``: that is what lets a dense layer keep only its output for
backward (docs/math.md, "Activations"). Each ``fn`` takes an optional ``out`` like a
NumPy ufunc, so the dense layer can apply it in place on a temporary it owns.

    name        f(z)                          f'(z) from a = f(z)
    identity    z                             1
    sigmoid     1 / (1 + exp(-z))             a (1 - a)
    tanh        tanh z                        1 - a^2
    relu        max(z, 0)                     [a > 0]
    leaky_relu  z if z > 0 else 0.01 z        1 if a > 0 else 0.01
    elu         z if z > 0 else exp(z) - 1    1 if a > 0 else a + 1
"""

from __future__ import annotations

from typing import Callable

import attrs
import numpy as np

LEAKY_SLOPE = 0.01
ELU_ALPHA = 1.0


@attrs.frozen
class Activation:
    """A named activation: ``fn(z, out=None) -> a`` and ``grad(a) -> f'(z)``.

    ``grad`` returns an array that multiplies like f'(z): floats, or for ReLU a
    boolean mask (True is 1, False is 0).

    ``fn`` writes its result into ``out`` when given (``out`` may be ``z`` itself: the
    dense layer passes its own temporary); without ``out`` it returns a new array, like a
    ufunc, except the identity, which returns ``z`` itself.
    ``grad`` is None for the identity, whose derivative is 1: callers skip the multiply.
    """

    name: str
    fn: Callable[..., np.ndarray]
    grad: Callable[[np.ndarray], np.ndarray] | None


def sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Logistic sigmoid, computed as 0.5 + 0.5 tanh(z / 2).

    Equal to 1 / (1 + exp(-z)) but with no ``exp`` that can overflow, so it is
    warning-free for any |z| (saturating to exactly 0 or 1).
    """
    a = np.multiply(z, 0.5, out=out)
    np.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


def _sigmoid_grad(a: np.ndarray) -> np.ndarray:
    g = 1 - a
    g *= a
    return g


def _tanh(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.tanh(z, out=out)


def _tanh_grad(a: np.ndarray) -> np.ndarray:
    g = a * a
    return np.subtract(1, g, out=g)


def _relu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.maximum(z, _zero_row(z), out=out)


def _zero_row(z: np.ndarray) -> np.ndarray:
    """Zeros shaped like one row of ``z``, to compare against instead of the scalar 0.

    NumPy 2's ``maximum`` and ``minimum`` take their vectorised loop only when both
    operands are arrays; against the scalar 0 they take a slower loop, more than twice
    the time for the same result (docs/performance.md, "Small operations behind the
    code's choices").
    """
    z = np.asarray(z)
    return np.zeros(z.shape[-1:], z.dtype)


def _relu_grad(a: np.ndarray) -> np.ndarray:
    # a mask of booleans multiplies like 1.0 and 0.0, and is a quarter the size of a float32 mask
    return a > 0


def _leaky_relu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    # max(z, s z) is z for z > 0 and s z below, since 0 < s < 1
    return np.maximum(z, LEAKY_SLOPE * z, out=out)


def _leaky_relu_grad(a: np.ndarray) -> np.ndarray:
    return np.where(a > 0, 1, LEAKY_SLOPE).astype(a.dtype)


def _elu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    # max(z, 0) + alpha expm1(min(z, 0)): one branch is always 0, and expm1 of a
    # non-positive number can neither overflow nor lose precision near 0.
    zero = _zero_row(z)
    negative_part = np.minimum(z, zero)
    np.expm1(negative_part, out=negative_part)
    negative_part *= ELU_ALPHA
    a = np.maximum(z, zero, out=out)
    a += negative_part
    return a


def _elu_grad(a: np.ndarray) -> np.ndarray:
    return np.where(a > 0, 1, a + ELU_ALPHA).astype(a.dtype)


def _identity(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    if out is None or out is z:
        return z
    np.copyto(out, z)
    return out


ACTIVATIONS: dict[str, Activation] = {
    act.name: act
    for act in (
        Activation("identity", _identity, None),
        Activation("sigmoid", sigmoid, _sigmoid_grad),
        Activation("tanh", _tanh, _tanh_grad),
        Activation("relu", _relu, _relu_grad),
        Activation("leaky_relu", _leaky_relu, _leaky_relu_grad),
        Activation("elu", _elu, _elu_grad),
    )
}
"""Every activation by name; the names the CLI's ``--act`` accepts."""


def get_activation(name: str) -> Activation:
    """Look an activation up by name, with a clear error listing the choices."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}") from None
