"""Losses, each with its output nonlinearity and its gradient side by side.

As in Nielsen's ``network2.py``, a loss is a value ``fn`` and a ``delta``: here
``delta(logits, y)`` is dL/dlogits, the error of the output layer's pre-activation,
averaged over the batch. The output nonlinearity lives with the loss because the
pair has a much simpler (and more stable) gradient than either part alone:

    name  output            value (mean over the batch)       delta = dL/dlogits
    ce    softmax(z)        -log softmax(z)[y]                (softmax(z) - onehot(y)) / N
    mse   sigmoid(z)        1/2 ||sigmoid(z) - onehot(y)||^2   (a - onehot(y)) a (1 - a) / N

Labels ``y`` are integer class indices, shape (N,), never one-hot.

Label smoothing (Szegedy et al. 2016, "Rethinking the Inception Architecture", section 7)
trains the cross-entropy against the target t = (1 - e) onehot(y) + e / K instead of the
one-hot row, K the number of classes: value -sum_k t_k log softmax(z)_k, delta
(softmax(z) - t) / N, still in closed form. ``ce`` takes ``smoothing=e`` in both (a loss
whose ``smooths`` is True does); e = 0 is the plain loss, bit for bit.
"""

from __future__ import annotations

from typing import Callable

import attrs
import numpy as np

from purenet.core.activations import sigmoid


@attrs.frozen
class Loss:
    """A named loss: ``output(z)``, ``value(z, y) -> float``, ``delta(z, y) -> dL/dz``; with
    ``smooths``, value and delta also take ``smoothing=e``, label smoothing's e (0: none)."""

    name: str
    output: Callable[[np.ndarray], np.ndarray]
    value: Callable[..., float]
    delta: Callable[..., np.ndarray]
    smooths: bool = False


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax along the last axis, shifted by the row maximum so exp never overflows."""
    return _along_last_axis(_log_softmax_classes_first, z)


def softmax(z: np.ndarray) -> np.ndarray:
    """softmax along the last axis (N, K) -> (N, K), rows sum to 1; stable for any z."""
    return _along_last_axis(_softmax_classes_first, z)


def _along_last_axis(classes_first: Callable[[np.ndarray], np.ndarray], z: np.ndarray) -> np.ndarray:
    """Apply a (N, K) -> (K, N) function to the rows of ``z`` of any shape; same shape back, C order."""
    rows = np.reshape(z, (-1, np.shape(z)[-1]))
    return np.ascontiguousarray(classes_first(rows).T).reshape(np.shape(z))


def _softmax_classes_first(z: np.ndarray) -> np.ndarray:
    """softmax of each row of ``z`` (N, K), returned as a new array laid out (K, N).

    NumPy reduces over a leading axis with vector instructions, row against row, but
    over a short trailing axis (K = 10 classes) one row at a time, so the row maximum
    and the row sum are faster in this layout (docs/performance.md, "Small operations
    behind the code's choices"). ``_ce_delta`` hands the result back transposed, as a
    view: BLAS takes either layout as it is.
    """
    e = _shifted_classes_first(z)
    np.exp(e, out=e)
    e /= e.sum(axis=0)
    return e


def _log_softmax_classes_first(z: np.ndarray) -> np.ndarray:
    """log softmax of each row of ``z`` (N, K), laid out (K, N) like the softmax above."""
    shifted = _shifted_classes_first(z)
    shifted -= np.log(np.exp(shifted).sum(axis=0))
    return shifted


def _shifted_classes_first(z: np.ndarray) -> np.ndarray:
    """``z`` (N, K) minus each row's maximum, as a new C-order array laid out (K, N)."""
    shifted = z.T.copy()  # a copy even when z.T is already C-contiguous: z is the caller's
    shifted -= shifted.max(axis=0)
    return shifted


def one_hot(y: np.ndarray, classes: int, dtype=np.float32) -> np.ndarray:
    """Integer labels (N,) -> a one-hot matrix (N, classes)."""
    target = np.zeros((len(y), classes), dtype=dtype)
    target[np.arange(len(y)), y] = 1
    return target


def _ce_value(z: np.ndarray, y: np.ndarray, smoothing: float = 0.0) -> float:
    log_p = _log_softmax_classes_first(z)  # (K, N)
    picked = log_p[y, np.arange(len(y))]
    if not smoothing:
        return float(-picked.mean())
    # -sum_k t_k log p_k with t = (1 - e) onehot + e / K
    return float(-((1 - smoothing) * picked + smoothing / len(log_p) * log_p.sum(axis=0)).mean())


def _ce_delta(z: np.ndarray, y: np.ndarray, smoothing: float = 0.0) -> np.ndarray:
    delta = _softmax_classes_first(z)  # (K, N): handed back as its transpose, no copy
    if smoothing:
        delta -= delta.dtype.type(smoothing / len(delta))  # softmax - t, t = (1 - e) onehot + e / K
    delta[y, np.arange(len(y))] -= 1 - smoothing if smoothing else 1
    delta *= 1 / len(y)
    return delta.T


def check_smoothing(smoothing: float) -> float:
    """``smoothing`` as a float in [0, 1), or a one-line ValueError."""
    if not (isinstance(smoothing, (int, float)) and not isinstance(smoothing, bool) and 0 <= smoothing < 1):
        raise ValueError(f"label smoothing must be a number from 0 up to (not including) 1, got {smoothing!r}")
    return float(smoothing)


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


def log_sigmoid(z: np.ndarray) -> np.ndarray:
    """log sigmoid(z) = -log(1 + exp(-z)), accurate and finite for any z (``logaddexp``)."""
    return -np.logaddexp(0, -z)


def _normalised_sigmoid(z: np.ndarray) -> np.ndarray:
    """Sigmoid outputs scaled so each row sums to 1, to read them as probabilities.

    Computed as softmax(log sigmoid(z)), which is the same ratio a_k / sum_j a_j but
    keeps its precision where every output of a row is near 0: there float32 sigmoids come
    in steps of about 3e-8, and dividing such values by their tiny sum put 0.4% errors
    into the probabilities (and can flip the argmax; tests/test_activations_losses.py).
    """
    return softmax(log_sigmoid(z))


LOSSES: dict[str, Loss] = {
    "ce": Loss("ce", softmax, _ce_value, _ce_delta, smooths=True),
    "mse": Loss("mse", _normalised_sigmoid, _mse_value, _mse_delta),
}
"""Every loss by name; the names the CLI's ``--loss`` accepts."""


def loss_terms(name: str, smoothing: float = 0.0) -> tuple[Callable[..., float], Callable[..., np.ndarray]]:
    """The loss ``name``'s value and delta as functions of (z, y), label smoothing ``smoothing``
    applied; a ValueError for smoothing with a loss that has none (``mse``)."""
    loss, smoothing = get_loss(name), check_smoothing(smoothing)
    if not smoothing:
        return loss.value, loss.delta
    if not loss.smooths:
        raise ValueError(f"label smoothing needs the ce loss, not {name}")
    return (lambda z, y: loss.value(z, y, smoothing=smoothing)), (lambda z, y: loss.delta(z, y, smoothing=smoothing))


def get_loss(name: str) -> Loss:
    """Look a loss up by name, with a clear error listing the choices."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}") from None
