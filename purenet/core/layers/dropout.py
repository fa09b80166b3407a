"""Dropout, the one way purenet drops units: zero each input with probability ``rate`` while training.

Inverted dropout: the survivors are scaled by 1/(1 - rate), so nothing changes at
inference. The mask is drawn from the training generator (``Context.rng``); without
one (``predict``, ``evaluate``) the layer passes its input through untouched. In a
layer list: ``dropout0.5``.

``place_dropout(layers, rate)`` is the shorthand ``RunConfig.dropout`` (``purenet train
--dropout``) stands for: a Dropout layer after every hidden dense layer.
"""

from __future__ import annotations

import re
from typing import Sequence

import attrs
import numpy as np

from purenet.core.arrays import fresh
from purenet.core.layers.base import Context, LayerKind, Plan, Shape, register
from purenet.core.layers.dense import DENSE


def _check_rate(rate: float) -> None:
    if not 0 <= rate < 1:
        raise ValueError(f"dropout must lie in [0, 1), got {rate}")


def _rate(_instance, _attribute, rate: float) -> None:
    _check_rate(rate)


@attrs.frozen
class Dropout:
    rate: float = attrs.field(converter=float, validator=_rate)


@attrs.frozen
class DropoutCache:
    keep: np.ndarray | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class DropoutSpec:
    rate: float

    @property
    def token(self) -> str:
        # positional, never 1e-05: the grammar reads back what it writes
        return f"dropout{np.format_float_positional(self.rate, trim='-')}"


def dropout_mask(rng: np.random.Generator, shape: tuple[int, ...], rate: float, dtype) -> np.ndarray:
    """A mask of 0 (probability ``rate``) and 1/(1-rate): its expected value is 1."""
    _check_rate(rate)
    keep = rng.random(shape, dtype=dtype) >= rate
    return keep * np.dtype(dtype).type(1 / (1 - rate))


def place_dropout(layers: Sequence[int | str], rate: float) -> tuple[int | str, ...]:
    """The canonical layer list ``layers`` (input width first) with a ``dropout<rate>`` token after
    each hidden dense layer: every dense layer but the output. Rate 0 places none.

    This is where ``RunConfig.dropout`` puts its layers, and where the network applied
    ``--dropout`` before it was a layer: on each hidden dense layer's output (after its
    activation), before any layer the list itself puts there, drawing its mask first.

    >>> place_dropout((784, "conv8k5", 100, "dropout0.5", 10), 0.3)
    (784, 'conv8k5', 100, 'dropout0.3', 'dropout0.5', 10)
    """
    _check_rate(rate)
    if not rate:
        return tuple(layers)
    token = DropoutSpec(float(rate)).token
    last = len(layers) - 1
    placed: list[int | str] = [layers[0]]
    for i, item in enumerate(layers[1:], start=1):
        placed.append(item)
        if i < last and DENSE.parse(str(item)) is not None:
            placed.append(token)
    return tuple(placed)


_TOKEN = re.compile(r"(?:dropout|drop)(\d*\.?\d+)")


def _parse(token: str) -> DropoutSpec | None:
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    rate = float(match[1])
    if not 0 <= rate < 1:
        raise ValueError(f"{token!r}: the dropout rate must lie in [0, 1)")
    return DropoutSpec(rate)


def _plan(spec: DropoutSpec, in_shape: Shape) -> Plan:
    return Plan(static={"rate": spec.rate}, shapes={}, out_shape=in_shape)


def _forward(layer: Dropout, x: np.ndarray, ctx: Context):
    if ctx.rng is None or layer.rate == 0:
        return x, DropoutCache()
    keep = fresh(dropout_mask(ctx.rng, x.shape, layer.rate, x.dtype))
    return fresh(x * keep), DropoutCache(keep=keep)


def _backward(layer: Dropout, cache: DropoutCache, d_out: np.ndarray, ctx: Context):
    if not ctx.need_dx:
        return layer, None
    return layer, d_out if cache.keep is None else np.multiply(d_out, cache.keep, out=d_out)


DROPOUT = register(LayerKind(name="dropout", record=Dropout, parse=_parse, plan=_plan, forward=_forward, backward=_backward))
