"""Losses, each with its output nonlinearity and its gradient side by side.

As in Nielsen's ``network2.py``, a loss is a value ``fn`` and a ``delta``: here
``delta(logits, y)`` is dL/dlogits, the error of the output layer's pre-activation,
averaged over the batch. The output nonlinearity lives with the loss because the
pair has a much simpler (and more stable) gradient than either part alone:

    name  output            value (mean over the batch)       delta = dL/dlogits
    ce    softmax(z)        -log softmax(z)[y]                (softmax(z) - onehot(y)) / N
    mse   sigmoid(z)        1/2 ||sigmoid(z) - onehot(y)||^2   (a - onehot(y)) a (1 - a) / N

Labels ``y`` are integer class indices, shape (N,), never one-hot.
"""

from __future__ import annotations

from typing import Callable

import attrs
import numpy as np

from purenet.activations import sigmoid


@attrs.frozen
class Loss:
    """A named loss: ``output(z)``, ``value(z, y) -> float``, ``delta(z, y) -> dL/dz``."""

    name: str
    output: Callable[[np.ndarray], np.ndarray]
    value: Callable[[np.ndarray, np.ndarray], float]
    delta: Callable[[np.ndarray, np.ndarray], np.ndarray]


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax along the last axis, shifted by the row maximum so exp never overflows."""
    shifted = z - z.max(axis=-1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return shifted


def softmax(z: np.ndarray) -> np.ndarray:
    """softmax along the last axis (N, K) -> (N, K), rows sum to 1; stable for any z."""
    rows = np.reshape(z, (-1, np.shape(z)[-1]))
    return np.ascontiguousarray(_softmax_classes_first(rows).T).reshape(np.shape(z))


def _softmax_classes_first(z: np.ndarray) -> np.ndarray:
    """softmax of each row of ``z`` (N, K), returned as a new array laid out (K, N).

    NumPy reduces over a leading axis with vector instructions, row against row, but
    over a short trailing axis (K = 10) one row at a time: in this layout the max and
    the sum of a batch cost about a fifth as much.
    """
    e = z.T.copy()  # a copy in C order, even when z.T already is one
    e -= e.max(axis=0)
    np.exp(e, out=e)
    e /= e.sum(axis=0)
    return e


def one_hot(y: np.ndarray, classes: int, dtype=np.float32) -> np.ndarray:
    """Integer labels (N,) -> a one-hot matrix (N, classes)."""
    target = np.zeros((len(y), classes), dtype=dtype)
    target[np.arange(len(y)), y] = 1
    return target


def _ce_value(z: np.ndarray, y: np.ndarray) -> float:
    return float(-log_softmax(z)[np.arange(len(y)), y].mean())


def _ce_delta(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    delta = _softmax_classes_first(z)  # (K, N): handed back as its transpose, no copy
    delta[y, np.arange(len(y))] -= 1
    delta *= 1 / len(y)
    return delta.T


def _mse_value(z: np.ndarray, y: np.ndarray) -> float:
    error = sigmoid(z) - one_hot(y, z.shape[1], z.dtype)
    return float(0.5 * np.einsum("nk,nk->", error, error) / len(y))


def _mse_delta(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    a = sigmoid(z)
    delta = a - one_hot(y, z.shape[1], z.dtype)
    delta *= a
    delta *= 1 - a
    delta *= 1 / len(y)
    return delta


def _normalised_sigmoid(z: np.ndarray) -> np.ndarray:
    """Sigmoid outputs scaled so each row sums to 1, to read them as probabilities."""
    a = sigmoid(z)
    a /= np.maximum(a.sum(axis=-1, keepdims=True), np.finfo(a.dtype).tiny)
    return a


LOSSES: dict[str, Loss] = {
    "ce": Loss("ce", softmax, _ce_value, _ce_delta),
    "mse": Loss("mse", _normalised_sigmoid, _mse_value, _mse_delta),
}
"""Every loss by name; the names the CLI's ``--loss`` accepts."""


def get_loss(name: str) -> Loss:
    """Look a loss up by name, with a clear error listing the choices."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}") from None
