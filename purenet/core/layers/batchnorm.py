"""Batch normalisation (Ioffe & Szegedy 2015): each channel scaled to zero mean and unit
variance, then by a learned ``gamma`` and shifted by a learned ``beta``.

    out = gamma * (x - mean) / sqrt(var + eps) + beta

per unit of a flat (N, D) input, per channel of an image (N, H, W, C), the statistics
taken over N (and H, W). In a training pass (``Context.training``) ``mean`` and ``var``
are the batch's (the biased variance), and the running averages move towards them,
``running = (1 - momentum) * running + momentum * batch``, with the *unbiased* batch
variance for the running variance: PyTorch's ``BatchNorm1d``/``BatchNorm2d`` rule and
defaults (momentum 0.1, eps 1e-5; docs/math.md cites its documentation).
At inference the running averages take the batch's place. The equations, backward too, are
in docs/math.md.

The running averages are the record's *state* (``purenet.core.arrays.state``): not learned,
but carried. ``backward`` returns them, updated, in the grads record, and every optimizer
takes them from there, so ``sgd(params, backward(params, forward(params, x, training=True), y), lr)``
returns params with the new running averages. In a layer list: ``bn``; it normalises what
the layer before it gives, after that layer's activation (``conv32k3,bn``).
"""

from __future__ import annotations

import attrs
import numpy as np

from purenet.core.arrays import fresh, learned, readonly, shape_repr, state
from purenet.core.layers.base import Context, LayerKind, Plan, Shape, register, state_arrays

MOMENTUM = 0.1
"""How far the running averages move towards each batch's statistics (PyTorch's default)."""

EPS = 1e-5
"""Added to the variance before its square root (PyTorch's default)."""


@attrs.frozen
class BatchNorm:
    """One batch normalisation over the last axis (units or channels), of width C.

    ``gamma`` (C,) scales and ``beta`` (C,) shifts; both are learned, neither decayed.
    ``mean`` and ``var`` (C,) are the running averages, state rather than learned.
    """

    gamma: np.ndarray = learned()
    beta: np.ndarray = learned()
    mean: np.ndarray = state(fill=0.0)
    var: np.ndarray = state(fill=1.0, low=0.0)
    momentum: float = attrs.field(default=MOMENTUM, converter=float)
    eps: float = attrs.field(default=EPS, converter=float)


@attrs.frozen
class BatchNormCache:
    """What forward keeps: in a training pass the normalised input ``xhat`` and the batch's
    1/sqrt(var + eps); at inference the input itself (``xhat`` is recomputed if backward is
    asked for: evaluation then keeps no copy). ``mean`` and ``var`` are the running averages
    after this pass, which backward hands on in the grads."""

    xhat: np.ndarray | None = attrs.field(eq=False, repr=False)
    x: np.ndarray | None = attrs.field(eq=False, repr=False)
    inv_std: np.ndarray = attrs.field(converter=readonly, eq=False, repr=shape_repr)
    mean: np.ndarray = attrs.field(converter=readonly, eq=False, repr=shape_repr)
    var: np.ndarray = attrs.field(converter=readonly, eq=False, repr=shape_repr)
    training: bool


@attrs.frozen
class BatchNormSpec:
    token = "bn"


def batchnorm_forward(layer: BatchNorm, x: np.ndarray, training: bool) -> tuple[np.ndarray, BatchNormCache]:
    """``out`` (the shape of ``x``) and the cache: batch statistics when ``training``, else
    the running averages."""
    width = layer.gamma.shape[0]
    if x.shape[-1] != width or x.ndim not in (2, 4):
        raise ValueError(f"BatchNorm of width {width} needs (N, {width}) or (N, H, W, {width}) input, got {x.shape}")
    rows = x.reshape(len(x), -1)  # one row per sample: (N, H*W*C), channels repeating along it
    places = rows.shape[1] // width
    m = len(rows) * places
    dtype = x.dtype.type
    if not training:
        inv_std = fresh(1 / np.sqrt(layer.var + dtype(layer.eps)))
        scale = layer.gamma * inv_std
        out = np.multiply(rows, _along(scale, places))
        out += _along(layer.beta - layer.mean * scale, places)
        return fresh(out.reshape(x.shape)), BatchNormCache(
            xhat=None, x=readonly(x), inv_std=inv_std, mean=layer.mean, var=layer.var, training=False)
    if m < 2:
        raise ValueError(f"BatchNorm needs more than one value per channel in a training pass, got input {x.shape}")
    mean = _channel_sums(rows, width) * dtype(1 / m)
    xhat = rows - _along(mean, places)
    out = np.square(xhat)
    var = _channel_sums(out, width) * dtype(1 / m)
    inv_std = fresh(1 / np.sqrt(var + dtype(layer.eps)))
    xhat *= _along(inv_std, places)
    np.multiply(xhat, _along(layer.gamma, places), out=out)
    out += _along(layer.beta, places)
    keep = dtype(1 - layer.momentum)
    running_mean = layer.mean * keep
    running_mean += dtype(layer.momentum) * mean
    running_var = layer.var * keep
    running_var += dtype(layer.momentum * m / (m - 1)) * var  # the unbiased batch variance, as PyTorch
    return fresh(out.reshape(x.shape)), BatchNormCache(
        xhat=fresh(xhat.reshape(x.shape)), x=None, inv_std=inv_std, mean=fresh(running_mean), var=fresh(running_var),
        training=True)


def batchnorm_backward(layer: BatchNorm, cache: BatchNormCache, d_out: np.ndarray,
                       need_dx: bool = True) -> tuple[BatchNorm, np.ndarray | None]:
    """dL/dgamma, dL/dbeta (and the running averages after the pass) as a ``BatchNorm``,
    and dL/dx. ``d_out`` is written into (the network passes arrays it made)."""
    width = layer.gamma.shape[0]
    shape = d_out.shape
    rows = d_out.reshape(len(d_out), -1)
    places = rows.shape[1] // width
    m = len(rows) * places
    if cache.xhat is not None:  # a training pass
        xhat = cache.xhat.reshape(rows.shape)
    else:
        assert cache.x is not None  # an inference pass keeps its input instead
        xhat = np.subtract(cache.x.reshape(rows.shape), _along(cache.mean, places))
        xhat *= _along(cache.inv_std, places)
    d_beta = _channel_sums(rows, width)
    product = rows * xhat
    d_gamma = _channel_sums(product, width)
    grads = BatchNorm(gamma=fresh(d_gamma), beta=fresh(d_beta), mean=cache.mean, var=cache.var,
                      momentum=layer.momentum, eps=layer.eps)
    if not need_dx:
        return grads, None
    scale = _along(layer.gamma * cache.inv_std, places)
    if not cache.training:  # the statistics are constants: dx = gamma / sqrt(var + eps) * d_out
        return grads, np.multiply(rows, scale, out=rows).reshape(shape)
    # dx = gamma / sqrt(var + eps) * (d_out - mean(d_out) - xhat * mean(d_out * xhat)), means over the batch
    dtype = d_out.dtype.type
    np.multiply(xhat, _along(d_gamma * dtype(1 / m), places), out=product)
    rows -= _along(d_beta * dtype(1 / m), places)
    rows -= product
    rows *= scale
    return grads, rows.reshape(shape)


def _channel_sums(rows: np.ndarray, width: int) -> np.ndarray:
    """The sum of each channel over the batch (and the image): the rows summed by a product
    with a vector of ones (BLAS; faster than ``.sum(axis=0)``), then the places of each row."""
    per_place = np.ones(len(rows), rows.dtype) @ rows
    return per_place if len(per_place) == width else per_place.reshape(-1, width).sum(axis=0)


def _along(values: np.ndarray, places: int) -> np.ndarray:
    """A per-channel vector repeated along a whole row (H*W places of C channels): broadcast
    over (N, H*W*C), NumPy's inner loop runs along whole rows instead of C numbers at a time,
    several times faster for few channels."""
    return values if places == 1 else np.tile(values, places)


def normalises_vectors(planned) -> bool:
    """Whether a planned layer list (``plan_layers``) holds a BatchNorm that reads vectors: its
    statistics then run over the rows alone, and a training batch of one row has none."""
    return any(layer.kind.record is BatchNorm and len(layer.in_shape) == 1 for layer in planned)


# --- the protocol ---------------------------------------------------------------------------


def _parse(token: str) -> BatchNormSpec | None:
    return BatchNormSpec() if token in ("bn", "batchnorm") else None


def _plan(spec: BatchNormSpec, in_shape: Shape) -> Plan:
    width = in_shape[-1]
    size = int(np.prod(in_shape))
    # forward keeps xhat (the size of the input) for backward; backward one product of that size
    return Plan(static={"momentum": MOMENTUM, "eps": EPS}, shapes={"gamma": (width,), "beta": (width,)},
                out_shape=in_shape, scratch=size, backward_scratch=size, state={"mean": (width,), "var": (width,)})


def _init(spec: BatchNormSpec, in_shape: Shape, rng, dtype, scheme: str) -> tuple[BatchNorm, Shape]:
    plan = _plan(spec, in_shape)
    width = in_shape[-1]
    record = BatchNorm(gamma=np.ones(width, dtype), beta=np.zeros(width, dtype), **state_arrays(BATCHNORM, plan, dtype),
                       **plan.static)
    return record, plan.out_shape


def _forward(layer: BatchNorm, x: np.ndarray, ctx: Context) -> tuple[np.ndarray, BatchNormCache]:
    return batchnorm_forward(layer, x, ctx.training)


def _backward(layer: BatchNorm, cache: BatchNormCache, d_out: np.ndarray, ctx: Context):
    return batchnorm_backward(layer, cache, d_out, ctx.need_dx)


BATCHNORM = register(LayerKind(
    name="batchnorm", record=BatchNorm, parse=_parse, plan=_plan, init=_init, forward=_forward, backward=_backward,
))
