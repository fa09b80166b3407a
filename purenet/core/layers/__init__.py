"""Layers: the protocol every kind follows, the kinds purenet ships, and the layer list.

Kinds (each in its own module, registered on import):

    dense      200             purenet.core.layers.dense     Dense(w, b)
    conv2d     conv32k5        purenet.core.layers.conv      Conv2D(w, b, stride, padding)
    maxpool    pool2, maxpool2 purenet.core.layers.pool      MaxPool(size)
    avgpool    avgpool2        purenet.core.layers.pool      AvgPool(size)
    flatten    flatten         purenet.core.layers.shape     Flatten()
    dropout    dropout0.5      purenet.core.layers.dropout   Dropout(rate)
    batchnorm  bn              purenet.core.layers.batchnorm BatchNorm(gamma, beta; mean, var)
    to_image   (inserted)      purenet.core.layers.shape     ToImage(side)

A layer list starts with the input's width (pixels) and ends with the number of
classes: ``(784, "conv32k5", "pool2", 256, 10)``. ``plan_layers`` sizes it, inserting
``ToImage`` before the first image layer and ``Flatten`` before a dense layer that
follows image layers. The protocol itself is described in ``purenet.core.layers.base``.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import attrs

from purenet.base.checks import cut
from purenet.base.mnist import PIXELS
from purenet.core.layers.base import (
    INIT_SCHEMES,
    MAX_ELEMENTS_PER_SAMPLE,
    MAX_FILTERS,
    MAX_PARAMETERS,
    MAX_WIDTH,
    MAX_WINDOW,
    Context,
    LayerKind,
    Plan,
    Shape,
    draw_weights,
    init_from_plan,
    kind_of,
    kinds,
    parse_token,
    register,
    resolve_scheme,
    state_arrays,
)
from purenet.core.layers.batchnorm import BatchNorm, BatchNormCache
from purenet.core.layers.conv import Conv2D, col2im, im2col

# importing each kind's module registers it (its register() call runs at import)
from purenet.core.layers.dense import Dense, DenseCache, dense_backward, dense_forward, dense_init
from purenet.core.layers.dropout import Dropout, dropout_mask, place_dropout
from purenet.core.layers.pool import AvgPool, MaxPool
from purenet.core.layers.shape import FLATTEN, TO_IMAGE, Flatten, FlattenSpec, ToImage, ToImageSpec, square_side

__all__ = [
    "INIT_SCHEMES", "MAX_WIDTH", "MAX_FILTERS", "MAX_WINDOW", "MAX_PARAMETERS", "MAX_ELEMENTS_PER_SAMPLE",
    "Context", "LayerKind", "Plan", "Planned", "register", "kind_of", "kinds", "parse_token",
    "plan_layers", "canonical_layers", "elements_per_sample", "training_elements_per_sample", "resolve_scheme",
    "draw_weights", "init_from_plan",
    "Dense", "DenseCache", "dense_init", "dense_forward", "dense_backward",
    "Conv2D", "im2col", "col2im", "MaxPool", "AvgPool", "Flatten", "ToImage", "Dropout", "dropout_mask",
    "place_dropout", "BatchNorm", "BatchNormCache", "state_arrays",
]


class LayerListError(ValueError):
    """A layer list names no layer, or layers that do not fit together; ``position`` is 1-based."""

    def __init__(self, position: int, token: Any, problem: str) -> None:
        super().__init__(f"item {position} ({token}): {problem}")
        self.position, self.token, self.problem = position, token, problem


@attrs.frozen
class Planned:
    """One layer of a planned list: its kind and spec, the shape it reads, its plan, and
    the 1-based position of its token in the list (0 for a layer the network inserted)."""

    kind: LayerKind
    spec: Any
    in_shape: Shape
    plan: Plan
    position: int


MNIST_PIXELS = PIXELS
"""The input width of a layer list that starts with a layer rather than a width: MNIST's 28x28x1 images."""


def is_width(token: Any) -> bool:
    """Whether a layer-list item is a width (a whole number, as written or as an int) rather than a layer name."""
    return isinstance(token, int) or str(token).lstrip("-").isdigit()


def with_input_width(layers: Sequence[int | str]) -> tuple[list[int | str], int]:
    """``layers`` with the input's width first: a list that starts with a layer rather than
    a width reads MNIST's 28x28x1 images, so ``MNIST_PIXELS`` goes in front
    (``["conv32k5", "pool2", 10]`` is ``[784, "conv32k5", "pool2", 10]``). Also returns
    how many items were added (0 or 1), so that a message can number items as written."""
    items = list(layers)
    if items and not is_width(items[0]):
        return [MNIST_PIXELS, *items], 1
    return items, 0


__all__ += ["MNIST_PIXELS", "is_width", "with_input_width"]


def canonical_layers(layers: Sequence[int | str]) -> tuple[int | str, ...]:
    """Each token in its one spelling (``"pool2"`` -> ``"maxpool2"``, ``"200"`` -> 200);
    ``LayerListError`` names the first token that is no layer."""
    tokens = []
    for position, token in enumerate(layers, start=1):
        if isinstance(token, bool):
            raise LayerListError(position, token, "is not a layer")
        try:
            _, spec = parse_token(token)
        except ValueError as error:
            raise LayerListError(position, cut(str(token), 24), _problem(error, token)) from None
        tokens.append(spec.token)
    return tuple(tokens)


def _problem(error: ValueError, token: Any) -> str:
    message = str(error)
    if message.endswith("is not a layer"):
        return ("not a layer; write a width (200), conv<filters>k<size>[s<stride>][valid] (conv32k5), "
                "pool<size> or avgpool<size> (pool2), flatten, dropout<rate> (dropout0.5) or bn")
    return message.split(": ", 1)[-1]


@functools.lru_cache(maxsize=64)
def plan_layers(layers: tuple[int | str, ...]) -> tuple[Planned, ...]:
    """Size every layer of a canonical layer list (input width first), inserting the
    reshapes between flat and image layers; ``LayerListError`` when they do not fit."""
    if len(layers) < 2:
        raise LayerListError(len(layers), layers[0] if layers else "", "a layer list needs an input width and at least one layer")
    first, last = layers[0], layers[-1]
    if not isinstance(first, int):
        raise LayerListError(1, first, "the list starts with the input's width in pixels, e.g. 784")
    if not isinstance(last, int):
        raise LayerListError(len(layers), last, "the list ends with a dense layer: the number of classes, e.g. 10")
    if not 1 <= first <= MAX_WIDTH:
        raise LayerListError(1, first, f"the input's width must be from 1 to {MAX_WIDTH} pixels")
    shape: Shape = (first,)
    planned: list[Planned] = []
    totals = {"parameters": 0, "elements": 0}

    def add(kind: LayerKind, spec: Any, position: int) -> None:
        """Plan one layer; ``position`` 0 for a layer the network inserts (its token's is ``listed``)."""
        nonlocal shape
        try:
            plan = kind.plan(spec, shape)
        except ValueError as error:
            raise LayerListError(position, spec.token, str(error).split(": ", 1)[-1]) from None
        _check_totals(totals, plan, listed[0], listed[1])
        planned.append(Planned(kind, spec, shape, plan, position))
        shape = plan.out_shape

    for position, token in enumerate(layers[1:], start=2):
        listed = (position, token)
        kind, spec = parse_token(token)
        if kind.input == "image" and len(shape) == 1:
            side = square_side(shape[0])
            if position != 2 or side is None:
                reason = (f"{shape[0]} pixels are not a square image" if position == 2
                          else "it needs an image, and the layer before it gives a flat vector")
                raise LayerListError(position, token, reason)
            add(TO_IMAGE, ToImageSpec(side), 0)
        elif kind.input == "flat" and len(shape) != 1:
            add(FLATTEN, FlattenSpec(), 0)
        add(kind, spec, position)
    return tuple(planned)


def _check_totals(totals: dict[str, int], plan: Plan, position: int, token: Any) -> None:
    """Add ``plan``'s parameters and per-sample numbers to ``totals``; ``LayerListError``, naming
    the layer that passes it, when the network outgrows MAX_PARAMETERS or MAX_ELEMENTS_PER_SAMPLE."""
    totals["parameters"] += sum(math.prod(shape) for shape in plan.shapes.values())
    totals["elements"] += math.prod(plan.out_shape) + plan.scratch
    if totals["parameters"] > MAX_PARAMETERS:
        raise LayerListError(position, token, f"the network reaches {totals['parameters']:,} learned parameters "
                                              f"here; at most {MAX_PARAMETERS:,}")
    if totals["elements"] > MAX_ELEMENTS_PER_SAMPLE:
        raise LayerListError(position, token, f"one image's activations reach {totals['elements']:,} numbers here; "
                                              f"at most {MAX_ELEMENTS_PER_SAMPLE:,}")


def elements_per_sample(layers: tuple[int | str, ...]) -> int:
    """Numbers one sample's forward pass keeps (every layer's output, but for reshapes,
    which are views) plus the layers' scratch (im2col columns): what a batch costs in
    memory, per sample."""
    return sum(0 if planned.plan.view else math.prod(planned.plan.out_shape) + planned.plan.scratch
               for planned in plan_layers(layers))


def training_elements_per_sample(layers: tuple[int | str, ...]) -> int:
    """Numbers one sample of a training step holds at its peak: the input, everything the
    forward pass keeps for backward, and the largest layer's backward work on top of it:
    dL/d(out) and the activation's derivative, then dL/dx and the layer's own scratch,
    which the first learned layer does not compute (nobody needs its dL/dx)."""
    planned = plan_layers(layers)
    first = next((i for i, p in enumerate(planned) if p.plan.shapes), len(planned))

    def backward(i: int) -> int:
        p = planned[i]
        if p.plan.view or i < first:
            return 0
        own = 2 * math.prod(p.plan.out_shape)
        return own if i == first else own + math.prod(p.in_shape) + p.plan.backward_scratch

    return int(layers[0]) + elements_per_sample(layers) + max((backward(i) for i in range(len(planned))), default=0)
