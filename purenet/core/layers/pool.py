"""Max and average pooling over channels-last images: K x K windows, stride K.

    MaxPool(size) / AvgPool(size)   records with no learned arrays
    max_pool_forward / max_pool_backward, avg_pool_forward / avg_pool_backward

An image of H rows gives H // K rows; rows and columns beyond the last whole window
are dropped (their gradient is zero). Max pooling sends each output's gradient to the
one input that was the window's maximum; when several inputs tie, to the first of
them in row-major order inside the window, so every run routes it the same way.
Average pooling spreads it evenly over the K*K inputs (docs/math.md, "Pooling").
In a layer list: ``pool2`` or ``maxpool2``, ``avgpool3``.
"""

from __future__ import annotations

import math
import re

import attrs
import numpy as np

from purenet.core.arrays import fresh, optional_readonly
from purenet.core.layers.base import MAX_WINDOW, Context, LayerKind, Plan, Shape, bounded, register


@attrs.frozen
class MaxPool:
    size: int = attrs.field(default=2, validator=[attrs.validators.ge(1), attrs.validators.le(MAX_WINDOW)])


@attrs.frozen
class AvgPool:
    size: int = attrs.field(default=2, validator=[attrs.validators.ge(1), attrs.validators.le(MAX_WINDOW)])


@attrs.frozen
class PoolCache:
    """The input's shape and, for max pooling, the input and output (backward finds
    each window's winner from them, so inference never pays for it)."""

    x_shape: tuple[int, ...]
    x: np.ndarray | None = attrs.field(default=None, converter=optional_readonly, eq=False, repr=False)
    out: np.ndarray | None = attrs.field(default=None, converter=optional_readonly, eq=False, repr=False)


@attrs.frozen
class PoolSpec:
    kind: str
    size: int

    @property
    def token(self) -> str:
        return f"{self.kind}pool{self.size}"


def _windows(x: np.ndarray, size: int) -> np.ndarray:
    """(N, OH, K, OW, K, C) view of the whole windows of ``x`` (N, H, W, C): window
    (oh, ow)'s element at row i, column j is ``[:, oh, i, ow, j]``."""
    n, h, w, c = x.shape
    oh, ow = h // size, w // size
    if oh == 0 or ow == 0:
        raise ValueError(f"a {size}x{size} pool needs images of at least {size}x{size}, got {h}x{w}")
    return x[:, : oh * size, : ow * size, :].reshape(n, oh, size, ow, size, c)


def _uncrop(grads: np.ndarray, x_shape: Shape) -> np.ndarray:
    """Pad the gradient of the cropped input with zeros back to ``x_shape``."""
    if grads.shape == tuple(x_shape):
        return grads
    full = np.zeros(x_shape, dtype=grads.dtype)
    full[:, : grads.shape[1], : grads.shape[2], :] = grads
    return full


def max_pool_forward(layer: MaxPool, x: np.ndarray) -> tuple[np.ndarray, PoolCache]:
    """Each window's maximum: the maximum of its K rows first (each a long run of
    memory), then of the K columns of what is left; no copy of the input."""
    windows = _windows(x, layer.size)
    rows = windows[:, :, 0]
    for i in range(1, layer.size):
        rows = np.maximum(rows, windows[:, :, i])
    out = rows[:, :, :, 0]
    for j in range(1, layer.size):
        out = np.maximum(out, rows[:, :, :, j])
    out = np.array(out, copy=layer.size == 1)  # a view of x only for K = 1
    return fresh(out), PoolCache(x_shape=x.shape, x=x, out=out)


def max_pool_backward(layer: MaxPool, cache: PoolCache, d_out: np.ndarray) -> np.ndarray:
    """Each output's gradient at the first position of its window, in row-major order,
    that holds the window's maximum; zero elsewhere.

    One comparison of the whole input with the maxima gives a mask laid out like the
    input; a walk over the K*K positions then clears each hit that an earlier
    position of the same window already had (the mask's bytes are cheap to walk), and
    one multiplication of the mask by the gradients, broadcast over each window, writes
    every input's gradient in a single contiguous pass (a multiplication by True or
    False: exact). This writes the result once instead of position by position, a
    third faster (docs/performance.md, "Convolutional networks").
    """
    k = layer.size
    hits = _windows(cache.x, k) == cache.out[:, :, None, :, None, :]
    earlier = hits[:, :, 0, :, 0].copy()  # some position before this one was a hit
    for position in range(1, k * k):
        hit = hits[:, :, position // k, :, position % k]
        later = np.logical_or(earlier, hit) if position < k * k - 1 else None
        np.greater(hit, earlier, out=hit)  # a hit, and the first of its window
        earlier = later
    grads = np.empty(cache.x_shape, dtype=d_out.dtype)
    if cache.x_shape[1] % k or cache.x_shape[2] % k:
        grads.fill(0)  # rows or columns past the last whole window receive nothing
    np.multiply(hits, d_out[:, :, None, :, None, :], out=_windows(grads, k))
    grads += 0  # a negative gradient times False is -0.0: make every zero +0.0, as in a zero-filled array
    return grads


def avg_pool_forward(layer: AvgPool, x: np.ndarray) -> tuple[np.ndarray, PoolCache]:
    out = _windows(x, layer.size).mean(axis=(2, 4))
    return fresh(out.astype(x.dtype, copy=False)), PoolCache(x_shape=x.shape)


def avg_pool_backward(layer: AvgPool, cache: PoolCache, d_out: np.ndarray) -> np.ndarray:
    k = layer.size
    n, oh, ow, c = d_out.shape
    share = d_out * d_out.dtype.type(1 / (k * k))
    spread = np.broadcast_to(share[:, :, None, :, None, :], (n, oh, k, ow, k, c))
    # a new array of its own: the layer below may write into the gradient it receives
    return _uncrop(np.array(spread.reshape(n, oh * k, ow * k, c)), cache.x_shape)


# --- the protocol ---------------------------------------------------------------------------

_TOKEN = re.compile(r"(max|avg)?pool([0-9]+)")


def _parse(kind: str):
    def parse(token: str) -> PoolSpec | None:
        match = _TOKEN.fullmatch(token)
        if match is None or (match[1] or "max") != kind:
            return None
        return PoolSpec(kind, bounded(token, "pool size", match[2], MAX_WINDOW))
    return parse


def _plan(spec: PoolSpec, in_shape: Shape) -> Plan:
    h, w, c = in_shape
    if min(h, w) < spec.size:
        raise ValueError(f"{spec.token}: a {spec.size}x{spec.size} pool does not fit a {h}x{w} image")
    out_shape = (h // spec.size, w // spec.size, c)
    # max pooling's backward: a mask of one byte per input number (a quarter of a float32
    # number) and two of one byte per output number
    scratch = -(-math.prod(in_shape) // 4) + -(-math.prod(out_shape) // 2)
    return Plan(static={"size": spec.size}, shapes={}, out_shape=out_shape, backward_scratch=scratch)


def _check(x: np.ndarray) -> None:
    if x.ndim != 4:
        raise ValueError(f"pooling needs (N, H, W, C) input, got {x.shape}")


def _max_forward(layer: MaxPool, x: np.ndarray, ctx: Context):
    _check(x)
    return max_pool_forward(layer, x)


def _avg_forward(layer: AvgPool, x: np.ndarray, ctx: Context):
    _check(x)
    return avg_pool_forward(layer, x)


def _max_backward(layer: MaxPool, cache: PoolCache, d_out: np.ndarray, ctx: Context):
    return layer, max_pool_backward(layer, cache, d_out) if ctx.need_dx else None


def _avg_backward(layer: AvgPool, cache: PoolCache, d_out: np.ndarray, ctx: Context):
    return layer, avg_pool_backward(layer, cache, d_out) if ctx.need_dx else None


MAX_POOL = register(LayerKind(
    name="maxpool", record=MaxPool, parse=_parse("max"), plan=_plan, forward=_max_forward,
    backward=_max_backward, input="image",
))
AVG_POOL = register(LayerKind(
    name="avgpool", record=AvgPool, parse=_parse("avg"), plan=_plan, forward=_avg_forward,
    backward=_avg_backward, input="image",
))
