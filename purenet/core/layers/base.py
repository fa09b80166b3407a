"""The layer protocol and its registry.

A kind of layer is a pure triple over one frozen record, plus the grammar that
names it in a layer list and the plan that sizes it:

    parse(token)                          -> spec, or None when the token is not this kind's
    plan(spec, in_shape)                  -> Plan (static fields, learned shapes, out_shape); no arrays
    init(spec, in_shape, rng, dtype, scheme) -> (record, out_shape)
    forward(record, x, ctx)               -> (out, cache)
    backward(record, cache, d_out, ctx)   -> (grads, dx)

Shapes are per sample: (D,) for a flat vector, (H, W, C) for an image (channels
last, NHWC for a batch). ``grads`` is a record of the same type, holding dL/d of each
learned field (a layer with no learned fields returns its own record); ``dx`` is
dL/dx for the layer below, or None when ``ctx.need_dx`` is False. ``backward`` may
write into ``d_out``: the network only passes arrays it made for that call.

``register`` adds a kind; ``kind_of(record)`` finds the kind of a record, and
``parse_token`` the kind and spec of a token. A new kind of layer is one module and
one ``register`` call (docs/api.md shows a layer defined in a script).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import attrs
import numpy as np

from purenet.core.activations import Activation
from purenet.core.arrays import decayed_names, learned_names, state_fill, state_names

Shape = tuple[int, ...]

INIT_SCHEMES = ("auto", "he", "xavier", "uniform")
"""Weight initialisations: He (normal), Xavier/Glorot (uniform), ``uniform``
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (the initialisation of the early "MNIST from
scratch" scripts purenet grew out of, which the ``per-sample-sigmoid`` preset reproduces), or
``auto``: He for the ReLU family, Xavier for sigmoid, tanh and identity. Biases
always start at zero."""

_RELU_FAMILY = ("relu", "leaky_relu", "elu")


@attrs.frozen
class Context:
    """What the network tells a layer besides its record and input.

    ``act`` is the activation of a layer that takes one (dense, convolution): the
    network's hidden activation, or the identity for the output layer. ``rng`` is the
    training generator: a layer that draws (dropout) draws from it, and without one
    (inference) it draws nothing. ``need_dx`` is False for the first layer, whose dL/dx
    nobody needs. ``training`` says whether this is a training pass: BatchNorm uses the
    batch's statistics (and updates its running averages) when it is, its running
    averages when it is not.
    """

    act: Activation | None = None
    rng: np.random.Generator | None = None
    need_dx: bool = True
    training: bool = False


@attrs.frozen
class Plan:
    """One layer sized for its input, with no arrays drawn.

    ``static`` holds the record's configuration fields, ``shapes`` each learned
    field's shape, ``out_shape`` the per-sample output shape, and, for the memory
    estimate, ``scratch`` the elements per sample the forward pass keeps or needs
    beyond its output (convolution's im2col columns and padded input) and
    ``backward_scratch`` those its backward pass needs beyond dL/d(out), the
    activation's derivative and dL/dx (convolution's columns of the padded delta);
    ``view`` says that the output is a view of the input, with no memory of its own.
    ``state`` holds each state field's shape (BatchNorm's running averages): arrays the
    record carries and checkpoints save, but no parameters.
    """

    static: Mapping[str, Any]
    shapes: Mapping[str, Shape]
    out_shape: Shape
    scratch: int = 0
    backward_scratch: int = 0
    view: bool = False
    state: Mapping[str, Shape] = attrs.field(factory=dict)


@attrs.frozen
class LayerKind:
    """A kind of layer: its name, record type, grammar, plan and pure triple.

    ``input`` says what the layer reads: "flat" (N, D), "image" (N, H, W, C) or
    "any"; the network inserts the reshape between them. ``activated`` layers apply
    ``ctx.act`` to their output. ``init`` defaults to ``init_from_plan``.
    """

    name: str
    record: type
    parse: Callable[[str], Any]
    plan: Callable[[Any, Shape], Plan]
    forward: Callable[..., tuple[np.ndarray, Any]]
    backward: Callable[..., tuple[Any, np.ndarray | None]]
    init: Callable[..., tuple[Any, Shape]] | None = None
    input: str = attrs.field(default="any", validator=attrs.validators.in_(("flat", "image", "any")))
    activated: bool = False

    def make(self, spec: Any, in_shape: Shape, rng: np.random.Generator, dtype, scheme: str) -> tuple[Any, Shape]:
        """A fresh record for ``spec`` reading ``in_shape``, and its output shape."""
        if self.init is not None:
            return self.init(spec, in_shape, rng, dtype, scheme)
        return init_from_plan(self, spec, in_shape, rng, dtype, scheme)


_BY_NAME: dict[str, LayerKind] = {}
_BY_RECORD: dict[type, LayerKind] = {}


def register(kind: LayerKind) -> LayerKind:
    """Make ``kind`` known to the network, the grammar and checkpoints; returns it.

    Registering a kind again under its name replaces it when its record is the same
    class or a redefinition of it (same module and name: a notebook cell run twice);
    another kind under a taken name or record type is an error.
    """
    def same_record(old: LayerKind) -> bool:
        return (old.record.__module__, old.record.__qualname__) == (kind.record.__module__, kind.record.__qualname__)

    old = _BY_NAME.get(kind.name)
    if old is not None and not same_record(old):
        raise ValueError(f"a layer kind named {kind.name!r} is already registered, for {old.record.__qualname__}")
    taken = _BY_RECORD.get(kind.record)
    if taken is not None and taken.name != kind.name:
        raise ValueError(f"{kind.record.__qualname__} is already registered as the layer kind {taken.name!r}")
    if old is not None:
        del _BY_RECORD[old.record]
    _BY_NAME[kind.name] = kind
    _BY_RECORD[kind.record] = kind
    return kind


def kinds() -> tuple[LayerKind, ...]:
    """Every registered kind, in the order registered."""
    return tuple(_BY_NAME.values())


def kind_of(record: Any) -> LayerKind:
    """The kind of a layer record; ValueError for a type nobody registered."""
    try:
        return _BY_RECORD[type(record)]
    except KeyError:
        raise ValueError(f"{type(record).__name__} is not a registered layer kind (see purenet.core.layers.register)") from None


def parse_token(token: int | str) -> tuple[LayerKind, Any]:
    """The kind and spec a layer-list token names; ValueError when none does."""
    text = str(token).strip().lower()
    for kind in _BY_NAME.values():
        spec = kind.parse(text)
        if spec is not None:
            return kind, spec
    raise ValueError(f"{str(token)!r} is not a layer")


def resolve_scheme(scheme: str, act: str) -> str:
    """Turn ``auto`` into the scheme that suits ``act``; reject unknown names."""
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init {scheme!r}; choose one of {', '.join(INIT_SCHEMES)}")
    if scheme == "auto":
        return "he" if act in _RELU_FAMILY else "xavier"
    return scheme


def draw_weights(shape: Shape, scheme: str, rng: np.random.Generator, dtype) -> np.ndarray:
    """Weights of ``shape`` drawn by ``scheme``: the last axis is the fan-out, the others the fan-in.

    He: N(0, 2/fan_in); Xavier: U(-l, l) with l = sqrt(6/(fan_in + fan_out)); uniform:
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)). For a convolution (K, K, C, F) the fan-in is
    K*K*C and the fan-out F.
    """
    dtype = np.dtype(dtype).type
    fan_in, fan_out = math.prod(shape[:-1]), shape[-1]
    if scheme == "he":
        return rng.standard_normal(shape, dtype=dtype) * dtype(math.sqrt(2.0 / fan_in))
    if scheme == "xavier":
        return _uniform(rng, shape, math.sqrt(6.0 / (fan_in + fan_out)), dtype)
    if scheme == "uniform":
        return _uniform(rng, shape, 1.0 / math.sqrt(fan_in), dtype)
    raise ValueError(f"unknown init scheme {scheme!r}")


def _uniform(rng: np.random.Generator, shape: Shape, limit: float, dtype) -> np.ndarray:
    """U(-limit, limit) in ``dtype``."""
    w = rng.random(shape, dtype=dtype)
    w *= dtype(2 * limit)
    w -= dtype(limit)
    return w


def init_from_plan(kind: LayerKind, spec: Any, in_shape: Shape, rng: np.random.Generator, dtype, scheme: str):
    """The default ``init``: decayed fields (weights) drawn by ``scheme``, the others zero,
    in the record's field order; state fields hold their ``fill`` (``state_arrays``)."""
    plan = kind.plan(spec, in_shape)
    decayed = decayed_names(kind.record)
    arrays = {
        name: draw_weights(plan.shapes[name], scheme, rng, dtype) if name in decayed
        else np.zeros(plan.shapes[name], dtype=dtype)
        for name in learned_names(kind.record)
    }
    return kind.record(**plan.static, **arrays, **state_arrays(kind, plan, dtype)), plan.out_shape


def state_arrays(kind: LayerKind, plan: Plan, dtype) -> dict[str, np.ndarray]:
    """A fresh layer's state fields (running averages), each full of its ``fill``."""
    return {name: np.full(plan.state[name], state_fill(kind.record, name), dtype=dtype) for name in state_names(kind.record)}


# --- bounds of every layer field -------------------------------------------------------------
# The one validation of a layer list: the grammar (``--layers``) and a checkpoint's layer list
# both go through each kind's ``parse`` and ``plan`` and through ``plan_layers``, which check
# these. They are generous for MNIST-sized work, and keep every size far from the int64 and
# memory overflows a typo or a tampered file would otherwise reach inside NumPy.

MAX_WIDTH = 1 << 20
"""Widest dense layer, and the most pixels an input may have (a 1024x1024 image)."""

MAX_FILTERS = 4096
"""Most filters (output channels) of a convolution."""

MAX_WINDOW = 1024
"""Largest kernel size, stride and pool size (the side of the largest image)."""

MAX_PARAMETERS = 10**9
"""Most learned numbers a network may have (4 GB in float32, before the optimizer's copies)."""

MAX_ELEMENTS_PER_SAMPLE = 10**8
"""Most numbers one sample's forward pass may keep (every layer's output and scratch): 400 MB
in float32 for one image, so a batch of one still fits."""


def bounded(token: str, field: str, digits: str, high: int) -> int:
    """``digits`` (decimal digits read from ``token``) as a whole number from 1 to ``high``;
    ``ValueError`` naming ``field`` otherwise (the digits are never parsed past the bound)."""
    significant = digits.lstrip("0")
    if not significant or len(significant) > len(str(high)) or int(significant) > high:
        shown = digits if len(digits) <= 12 else f"{digits[:12]}... ({len(digits)} digits)"
        raise ValueError(f"{token!r}: the {field} must be at least 1 and at most {high}, got {shown}")
    return int(significant)


def whole(text: str) -> str | None:
    """``text`` if it is a run of ASCII digits (a whole number, not yet bounded), else None."""
    return text if text.isascii() and text.isdigit() else None
