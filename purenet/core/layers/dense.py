"""The dense (fully connected) layer: a pure triple over one frozen ``Dense`` record.

    dense_init(fan_in, fan_out, scheme, rng, dtype)    -> Dense
    dense_forward(layer, x, act)                       -> (out, DenseCache)
    dense_backward(layer, cache, d_out, act, need_dx)  -> (Dense of grads, dx or None)

Forward computes ``out = act(x @ w + b)``; backward receives ``d_out = dL/d out`` and
returns dL/dw, dL/db (as a ``Dense``) and ``dx = dL/dx`` for the layer below
(docs/math.md, equations BP2-BP4). In a layer list a dense layer is its width: ``200``.
"""

from __future__ import annotations

import attrs
import numpy as np

from purenet.core.activations import Activation
from purenet.core.arrays import fresh, learned, readonly, shape_repr
from purenet.core.layers.base import MAX_WIDTH, Context, LayerKind, Plan, Shape, bounded, draw_weights, register, whole


@attrs.frozen
class Dense:
    """One fully connected layer: ``z = x @ w + b``.

    ``w`` has shape (fan_in, fan_out) so that a batch of row vectors ``x`` (N, fan_in)
    maps to ``z`` (N, fan_out) with one matrix product and no transposes.
    """

    w: np.ndarray = learned(decay=True)
    b: np.ndarray = learned()


@attrs.frozen
class DenseCache:
    """What one dense layer's forward keeps for its backward: its input and its output.

    The output is kept *after* the activation: every activation purenet offers has a
    derivative that can be written from its output alone (see ``purenet.core.activations``),
    so the pre-activation never needs to be stored.
    """

    x: np.ndarray = attrs.field(converter=readonly, eq=False, repr=shape_repr)
    out: np.ndarray = attrs.field(converter=readonly, eq=False, repr=shape_repr)


@attrs.frozen
class DenseSpec:
    """A dense layer in a layer list: its width."""

    width: int

    @property
    def token(self) -> int:
        return self.width


def dense_init(fan_in: int, fan_out: int, scheme: str, rng: np.random.Generator, dtype=np.float32) -> Dense:
    """A fresh layer: weights (fan_in, fan_out) drawn from ``rng`` by ``scheme``, zero bias.

    >>> layer = dense_init(784, 200, "he", np.random.default_rng(0))
    >>> layer.w.shape, layer.b.shape, layer.w.dtype
    ((784, 200), (200,), dtype('float32'))
    """
    w = draw_weights((fan_in, fan_out), scheme, rng, dtype)
    return Dense(w=w, b=np.zeros(fan_out, dtype=np.dtype(dtype).type))


def dense_forward(layer: Dense, x: np.ndarray, act: Activation) -> tuple[np.ndarray, DenseCache]:
    """``out = act(x @ w + b)`` for a batch ``x`` (N, fan_in) -> (N, fan_out).

    The activation is applied in place on ``z``, a temporary this call owns.
    """
    z = x @ layer.w
    z += layer.b
    out = fresh(act.fn(z, out=z))
    return out, DenseCache(x=x, out=out)


def dense_backward(
    layer: Dense, cache: DenseCache, d_out: np.ndarray, act: Activation, need_dx: bool = True,
    *, consume_d_out: bool = False,
) -> tuple[Dense, np.ndarray | None]:
    """Gradients of one layer from ``d_out``, the gradient of its output (N, fan_out).

    ``dz = d_out * act'(z)`` (act' written from the cached output), then ``dL/dw = x^T dz``,
    ``dL/db = sum over the batch of dz``, ``dx = dz w^T``. ``need_dx=False`` (the first
    layer) skips the product nobody needs. ``consume_d_out=True`` lets the layer write
    ``dz`` into ``d_out`` instead of into a new array: the network passes arrays only it
    holds; without it a caller's array is never touched.
    """
    dz = d_out
    if act.grad is not None:
        dz = np.multiply(dz, act.grad(cache.out), out=dz if consume_d_out else None)
    grads = Dense(w=fresh(weight_grad(cache.x, dz)), b=fresh(bias_grad(dz)))
    dx = dz @ layer.w.T if need_dx else None
    return grads, dx


def weight_grad(x: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """``x^T dz`` (fan_in, fan_out). For one sample it is an outer product, computed as
    a broadcast multiply: BLAS does a matrix product with an inner dimension of 1
    poorly, several times slower (docs/performance.md, "Small operations behind the
    code's choices")."""
    if len(x) == 1:
        return np.multiply(x.T, dz)
    return x.T @ dz


def bias_grad(dz: np.ndarray) -> np.ndarray:
    """The sum of ``dz`` over the batch, as a product with a vector of ones: BLAS does
    it faster than ``dz.sum(axis=0)``, which adds row after row (docs/performance.md,
    "Small operations behind the code's choices"). The last bits of the sum can differ
    from ``dz.sum(axis=0)``'s: the additions come in another order."""
    return np.ones(len(dz), dz.dtype) @ dz


# --- the protocol ---------------------------------------------------------------------------


def _parse(token: str) -> DenseSpec | None:
    digits = whole(token)
    return None if digits is None else DenseSpec(bounded(token, "width", digits, MAX_WIDTH))


def _plan(spec: DenseSpec, in_shape: Shape) -> Plan:
    (fan_in,) = in_shape
    return Plan(static={}, shapes={"w": (fan_in, spec.width), "b": (spec.width,)}, out_shape=(spec.width,))


def _init(spec: DenseSpec, in_shape: Shape, rng, dtype, scheme: str) -> tuple[Dense, Shape]:
    return dense_init(in_shape[0], spec.width, scheme, rng, dtype), (spec.width,)


def _forward(layer: Dense, x: np.ndarray, ctx: Context) -> tuple[np.ndarray, DenseCache]:
    return dense_forward(layer, x, ctx.act)


def _backward(layer: Dense, cache: DenseCache, d_out: np.ndarray, ctx: Context) -> tuple[Dense, np.ndarray | None]:
    return dense_backward(layer, cache, d_out, ctx.act, ctx.need_dx, consume_d_out=True)


DENSE = register(LayerKind(
    name="dense", record=Dense, parse=_parse, plan=_plan, init=_init, forward=_forward, backward=_backward,
    input="flat", activated=True,
))
