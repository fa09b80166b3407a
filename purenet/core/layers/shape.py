"""Layers that only change the shape of what passes: ``Flatten`` and ``ToImage``.

``Flatten`` turns (N, H, W, C) into (N, H*W*C) in channels-last order; a dense layer
after image layers gets one inserted for it, and ``flatten`` in a layer list writes
it out. ``ToImage`` turns the loaders' (N, H*W) rows into (N, H, W, 1) images; the
network inserts it before the first image layer (the input must be a square number
of pixels). Both are views of their input: no copy forward or backward.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from purenet.core.layers.base import Context, LayerKind, Plan, Shape, register


@attrs.frozen
class Flatten:
    pass


@attrs.frozen
class ToImage:
    """Rows of ``side * side`` pixels as (side, side, 1) images."""

    side: int = attrs.field(validator=attrs.validators.ge(1))


@attrs.frozen
class ShapeCache:
    x_shape: tuple[int, ...]


@attrs.frozen
class FlattenSpec:
    token = "flatten"


@attrs.frozen
class ToImageSpec:
    side: int
    token = None  # never written in a layer list: the network inserts it


def _flatten_parse(token: str) -> FlattenSpec | None:
    return FlattenSpec() if token == "flatten" else None


def _flatten_plan(spec: FlattenSpec, in_shape: Shape) -> Plan:
    return Plan(static={}, shapes={}, out_shape=(math.prod(in_shape),), view=True)


def _flatten_forward(layer: Flatten, x: np.ndarray, ctx: Context):
    return x.reshape(len(x), -1), ShapeCache(x.shape)


def _reshape_backward(layer, cache: ShapeCache, d_out: np.ndarray, ctx: Context):
    return layer, d_out.reshape(cache.x_shape) if ctx.need_dx else None


def _to_image_plan(spec: ToImageSpec, in_shape: Shape) -> Plan:
    if in_shape != (spec.side * spec.side,):
        raise ValueError(f"{in_shape} is not a {spec.side}x{spec.side} image")
    return Plan(static={"side": spec.side}, shapes={}, out_shape=(spec.side, spec.side, 1), view=True)


def _to_image_forward(layer: ToImage, x: np.ndarray, ctx: Context):
    if x.ndim != 2 or x.shape[1] != layer.side * layer.side:
        raise ValueError(f"images of {layer.side}x{layer.side} pixels need (N, {layer.side * layer.side}) input, got {x.shape}")
    return x.reshape(len(x), layer.side, layer.side, 1), ShapeCache(x.shape)


def square_side(pixels: int) -> int | None:
    """The side of a square image of ``pixels`` pixels, or None when it is no square."""
    side = math.isqrt(pixels)
    return side if side * side == pixels else None


FLATTEN = register(LayerKind(
    name="flatten", record=Flatten, parse=_flatten_parse, plan=_flatten_plan, forward=_flatten_forward,
    backward=_reshape_backward,
))
TO_IMAGE = register(LayerKind(
    name="to_image", record=ToImage, parse=lambda token: None, plan=_to_image_plan, forward=_to_image_forward,
    backward=_reshape_backward, input="flat",
))
