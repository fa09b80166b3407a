"""The frozen records that flow through purenet's pure functions.

State is a value: every record here is an ``@attrs.frozen`` class, and every
NumPy array a record holds is *read-only* (``purenet.core.arrays``: an accidental write
raises instead of quietly changing a value someone else still holds; a record never
copies an array).

    Arch      the static configuration: the layer list, activation, loss
    Params    an ``Arch`` and one layer record per layer (``Dense``, ``Conv2D``, ``MaxPool``, ...)
    Grads     the same type as ``Params`` (as in optax, gradients and updates have the params' structure)
    Cache     what ``forward`` computed: one cache per layer, kept for backward
    Best      the epoch with the best validation accuracy so far, and its params (training and checkpoints)

Each layer record declares which of its fields are learned arrays
(``purenet.core.arrays.learned``); ``tree_map`` and everything built on it walk that
declaration, so a new kind of layer needs no change here.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Iterator, Sequence

import attrs
import numpy as np

from purenet.base.checks import cut
from purenet.core.arrays import array_field, fresh, learned_names, optional_readonly, readonly, state_names, static_names
from purenet.core.layers import LayerListError, canonical_layers, plan_layers
from purenet.core.layers.dense import Dense, DenseCache

__all__ = ["Arch", "Params", "Grads", "Best", "Cache", "Dense", "DenseCache", "tree_map", "with_state", "readonly", "fresh",
           "array_field"]


def _layer_list(layers) -> tuple[int | str, ...]:
    try:
        return canonical_layers(layers)
    except LayerListError as error:
        raise ValueError(f"layer list {_shown(layers)}: {error}") from None


def _shown(layers) -> str:
    """A layer list for a message, cut short: a tampered file may hold thousands of tokens."""
    return cut(str(list(layers)), 80)


@attrs.frozen(init=False)
class Arch:
    """The static part of a network: everything except the numbers it learns.

    ``layers`` is the layer list from input to output: the input's width, then one
    token per layer, the last being the number of classes. For a fully connected
    network these are its widths, ``(784, 200, 200, 10)``; other layers are named by
    a short token, ``(784, "conv32k5", "maxpool2", 256, 10)`` (``purenet.core.layers``; each
    token is kept in its one canonical spelling). It is the list ``RunConfig.layers``
    holds; ``Params.layers`` holds the records built from it. ``act`` names the hidden
    activation (``purenet.core.activations``), applied after every dense and convolution
    layer but the last; ``loss`` names the loss, which also fixes the output nonlinearity
    (``"ce"``: softmax, ``"mse"``: sigmoid; ``purenet.core.losses``).
    """

    layers: tuple[int | str, ...] = attrs.field(converter=_layer_list)
    act: str
    loss: str

    def __init__(self, layers: Sequence[int | str] | None = None, act: str | None = None, loss: str | None = None,
                 *, sizes: Sequence[int | str] | None = None) -> None:
        if sizes is not None:  # the 0.1 name of ``layers``
            warnings.warn("Arch(sizes=...) is now Arch(layers=...); the old name goes in the next release",
                          DeprecationWarning, stacklevel=2)
            if layers is not None:
                raise TypeError("Arch takes layers or its old name sizes, not both")
            layers = sizes
        if layers is None or act is None or loss is None:
            raise TypeError("Arch needs layers, act and loss")
        self.__attrs_init__(layers, act, loss)

    @layers.validator
    def _check_layers(self, _attribute, layers) -> None:
        try:
            plan_layers(layers)
        except LayerListError as error:
            raise ValueError(f"layer list {_shown(layers)}: {error}") from None

    @property
    def inputs(self) -> int:
        """The width of an input row (pixels)."""
        return self.layers[0]

    @property
    def classes(self) -> int:
        """The number of outputs."""
        return self.layers[-1]

    @property
    def sizes(self) -> tuple[int | str, ...]:
        """The 0.1 name of ``layers`` (deprecated: it held layer tokens, not only sizes)."""
        warnings.warn("Arch.sizes is now Arch.layers; the old name goes in the next release", DeprecationWarning, stacklevel=2)
        return self.layers


@attrs.frozen
class Params:
    """A whole network: its ``arch`` and one layer record per layer.

    The same type holds gradients (``Grads``): ``backward`` returns a ``Params`` whose
    learned arrays are the gradients, so optimizers can zip params and grads layer by
    layer. A fully connected network's layers are its ``Dense`` records; other layer
    lists also hold the layers the network inserts (``ToImage``, ``Flatten``).
    """

    arch: Arch
    layers: tuple[Any, ...] = attrs.field(converter=tuple)

    @property
    def dtype(self) -> np.dtype:
        return next(self.arrays()).dtype

    def arrays(self) -> Iterator[np.ndarray]:
        """Every learned array, in a fixed order: layer by layer, each in its record's field
        order (w0, b0, w1, b1, ... for a dense network)."""
        for layer in self.layers:
            for name in learned_names(type(layer)):
                yield getattr(layer, name)

    @property
    def size(self) -> int:
        """The number of learned scalars."""
        return sum(a.size for a in self.arrays())


Grads = Params
"""Gradients have exactly the structure of the params they belong to."""


@attrs.frozen
class Best:
    """The epoch with the highest validation accuracy so far, and its params.

    Here rather than beside the training loop that makes it: a checkpoint holds one,
    and loading a checkpoint must not load the training loop.
    """

    epoch: int
    val_acc: float
    params: Params


def tree_map(fn: Callable[..., np.ndarray], first: Params, *rest: Params) -> Params:
    """Apply ``fn`` to each learned array across records of the same structure; keep
    ``first.arch`` and each layer's static and state fields (a layer with no learned arrays
    is passed on as it is; ``with_state`` takes the state from another record).

    >>> double = tree_map(lambda a: 2 * a, params)        # doctest: +SKIP
    >>> step = tree_map(lambda p, g: p - 0.1 * g, params, grads)   # doctest: +SKIP
    """
    layers = []
    for group in zip(first.layers, *[r.layers for r in rest], strict=True):
        layer = group[0]
        kind = type(layer)
        names = learned_names(kind)
        if not names:
            layers.append(layer)
            continue
        fields = {name: fn(*[getattr(each, name) for each in group]) for name in names}
        for name in static_names(kind) + state_names(kind):
            fields[name] = getattr(layer, name)
        layers.append(kind(**fields))
    return Params(arch=first.arch, layers=layers)


def with_state(params: Params, source: Params) -> Params:
    """``params`` with every layer's state fields (BatchNorm's running averages) taken from
    ``source``, a record of the same structure: how an optimizer carries the new running
    averages ``backward`` puts in the grads into the new params. ``params`` itself when no
    layer has state."""
    if not any(state_names(type(layer)) for layer in params.layers):
        return params
    layers = [
        attrs.evolve(layer, **{name: getattr(other, name) for name in state_names(type(layer))})
        if state_names(type(layer)) else layer
        for layer, other in zip(params.layers, source.layers, strict=True)
    ]
    return Params(arch=params.arch, layers=layers)


def same_structure(first: Params, second: Params) -> bool:
    """Whether two records have the same arch, layer types, and learned and state shapes."""
    if first.arch != second.arch or len(first.layers) != len(second.layers):
        return False
    for a, b in zip(first.layers, second.layers):
        if type(a) is not type(b):
            return False
        if any(getattr(a, name).shape != getattr(b, name).shape for name in learned_names(type(a)) + state_names(type(a))):
            return False
    return True


@attrs.frozen
class Cache:
    """What ``forward`` computed: one cache per layer, input layer first.

    ``inputs`` is the network input in the params' dtype (N, arch.layers[0]); ``logits`` is
    the output layer's pre-activation (N, classes). The output nonlinearity (softmax or
    sigmoid) belongs to the loss, so the last layer's activation is the identity.
    """

    layers: tuple[Any, ...] = attrs.field(converter=tuple)
    inputs: np.ndarray | None = attrs.field(
        default=None, kw_only=True, converter=optional_readonly, eq=False, repr=False)

    @property
    def logits(self) -> np.ndarray:
        return self.layers[-1].out
