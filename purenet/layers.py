"""The dense layer as a pure triple over one frozen ``Dense`` record.

    dense_init(fan_in, fan_out, scheme, rng, dtype)    -> Dense
    dense_forward(layer, x, act, keep=None)            -> (out, DenseCache)
    dense_backward(layer, cache, d_out, act, need_dx)  -> (Dense of grads, dx or None)

Forward computes ``out = act(x @ w + b)``; backward receives ``d_out = dL/d out`` and
returns dL/dw, dL/db (as a ``Dense``) and ``dx = dL/dx`` for the layer below
(docs/math.md, equations BP2-BP4). The network folds these over its layers.
"""

from __future__ import annotations

import math

import numpy as np

from purenet.activations import Activation
from purenet.records import Dense, DenseCache, fresh

INIT_SCHEMES = ("auto", "he", "xavier", "uniform")
"""Weight initialisations: He (normal), Xavier/Glorot (uniform), ``uniform``
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (the initialisation of the early "MNIST from
scratch" scripts purenet grew out of, which the ``seed-92.7`` preset reproduces), or
``auto``: He for the ReLU family, Xavier for sigmoid, tanh and identity. Biases
always start at zero."""

_RELU_FAMILY = ("relu", "leaky_relu", "elu")


def resolve_scheme(scheme: str, act: str) -> str:
    """Turn ``auto`` into the scheme that suits ``act``; reject unknown names."""
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init {scheme!r}; choose one of {', '.join(INIT_SCHEMES)}")
    if scheme == "auto":
        return "he" if act in _RELU_FAMILY else "xavier"
    return scheme


def dense_init(fan_in: int, fan_out: int, scheme: str, rng: np.random.Generator, dtype=np.float32) -> Dense:
    """A fresh layer: weights (fan_in, fan_out) drawn from ``rng`` by ``scheme``, zero bias.

    >>> layer = dense_init(784, 200, "he", np.random.default_rng(0))
    >>> layer.w.shape, layer.b.shape, layer.w.dtype
    ((784, 200), (200,), dtype('float32'))
    """
    shape = (fan_in, fan_out)
    dtype = np.dtype(dtype).type
    if scheme == "he":
        w = rng.standard_normal(shape, dtype=dtype) * dtype(math.sqrt(2.0 / fan_in))
    elif scheme == "xavier":
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        w = _uniform(rng, shape, limit, dtype)
    elif scheme == "uniform":
        w = _uniform(rng, shape, 1.0 / math.sqrt(fan_in), dtype)
    else:
        raise ValueError(f"unknown init scheme {scheme!r}")
    return Dense(w=w, b=np.zeros(fan_out, dtype=dtype))


def _uniform(rng: np.random.Generator, shape: tuple[int, int], limit: float, dtype) -> np.ndarray:
    """U(-limit, limit) in ``dtype``."""
    w = rng.random(shape, dtype=dtype)
    w *= dtype(2 * limit)
    w -= dtype(limit)
    return w


def dense_forward(
    layer: Dense, x: np.ndarray, act: Activation, keep: np.ndarray | None = None
) -> tuple[np.ndarray, DenseCache]:
    """``out = act(x @ w + b)`` for a batch ``x`` (N, fan_in) -> (N, fan_out).

    The activation is applied in place on ``z``, a temporary this call owns. With a
    dropout mask ``keep`` (N, fan_out) the layer passes on ``out * keep`` instead.
    """
    z = x @ layer.w
    z += layer.b
    out = fresh(act.fn(z, out=z))
    passed = out if keep is None else fresh(out * keep)
    return passed, DenseCache(x=x, out=out, keep=keep)


def dense_backward(
    layer: Dense, cache: DenseCache, d_out: np.ndarray, act: Activation, need_dx: bool = True,
    *, consume_d_out: bool = False,
) -> tuple[Dense, np.ndarray | None]:
    """Gradients of one layer from ``d_out``, the gradient of what it passed on (N, fan_out).

    ``dz = d_out * keep * act'(z)`` (act' written from the cached output; ``keep`` only
    with dropout), then ``dL/dw = x^T dz``, ``dL/db = sum over the batch of dz``,
    ``dx = dz w^T``. ``need_dx=False`` (the first layer) skips the product nobody needs.
    ``consume_d_out=True`` lets the layer write ``dz`` into ``d_out`` instead of into a
    new array: the network passes arrays only it holds; without it a caller's array is
    never touched.
    """
    dz = d_out if cache.keep is None else d_out * cache.keep
    owned = consume_d_out or cache.keep is not None
    if act.grad is not None:
        dz = np.multiply(dz, act.grad(cache.out), out=dz if owned else None)
    grads = Dense(w=fresh(_weight_grad(cache.x, dz)), b=fresh(_bias_grad(dz)))
    dx = dz @ layer.w.T if need_dx else None
    return grads, dx


def _weight_grad(x: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """``x^T dz`` (fan_in, fan_out). For one sample it is an outer product, computed as
    a broadcast multiply: BLAS does a matrix product with an inner dimension of 1
    poorly, several times slower (docs/performance.md, "Small operations behind the
    code's choices")."""
    if len(x) == 1:
        return np.multiply(x.T, dz)
    return x.T @ dz


def _bias_grad(dz: np.ndarray) -> np.ndarray:
    """The sum of ``dz`` over the batch, as a product with a vector of ones: BLAS does
    it faster than ``dz.sum(axis=0)``, which adds row after row (docs/performance.md,
    "Small operations behind the code's choices"). The last bits of the sum can differ
    from ``dz.sum(axis=0)``'s: the additions come in another order."""
    return np.ones(len(dz), dz.dtype) @ dz
