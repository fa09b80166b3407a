"""The frozen records that flow through purenet's pure functions.

State is a value: every record here is an ``@attrs.frozen`` class, and every
NumPy array a record holds is *read-only*, so an accidental write through a record
raises ``ValueError: assignment destination is read-only`` instead of quietly
changing a value that someone else still holds. A record never copies an array; it
takes each one in one of two ways (``readonly``):

- an ``np.ndarray`` that is already read-only is held as it is. The training step's
  own results come in this way: the function that makes an array marks it read-only
  (``fresh``), and the record holds that very array, with no view in between;
- any other array (a caller's writeable one, or anything ``np.asarray`` accepts) is
  held as a read-only *view*: the data is shared, and the caller's own array keeps
  its flags.

Read-only means that nothing can be written *through the record*. Whoever holds a
writeable array over the same data (the caller's own array, or the base of a
read-only view) can still change what the record sees; purenet's own functions never
write to an array once a record holds it.

    Arch      the static configuration: layer sizes, activation, loss
    Dense     one fully connected layer's weights ``w`` (fan_in, fan_out) and bias ``b`` (fan_out,)
    Params    an ``Arch`` and one ``Dense`` per layer
    Grads     the same type as ``Params`` (as in optax, gradients and updates have the params' structure)
    DenseCache  one layer's input and output (and dropout mask), kept by forward for backward
    Cache     what ``forward`` computed: one DenseCache per layer
"""

from __future__ import annotations

from typing import Callable, Iterator

import attrs
import numpy as np


def readonly(array: np.ndarray) -> np.ndarray:
    """``array`` itself if it is an ``np.ndarray`` that is already read-only, else a
    read-only view of ``np.asarray(array)`` (no copy of an array; the caller's flags
    are untouched).

    Returning a read-only array as it is spares the training step a view per array
    (see ``fresh``); nothing can be written through it either way.
    """
    if type(array) is np.ndarray and not array.flags.writeable:
        return array
    view = np.asarray(array).view()
    view.flags.writeable = False
    return view


def fresh(array: np.ndarray) -> np.ndarray:
    """Mark an array the calling function has just made, and nobody else holds, read-only.

    For results on the training step's hot path: the record then takes the array
    itself instead of a view of it. Never for an array a caller passed in: it would
    change the flags of the caller's array. Returns ``array``.
    """
    # setflags rather than assigning flags.writeable: the same effect at a lower cost per call
    # (docs/performance.md, "Small operations behind the code's choices")
    array.setflags(write=False)
    return array


def array_field():
    """An attrs field for an array: held read-only (``readonly``), compared with ``np.array_equal``."""
    return attrs.field(converter=readonly, eq=attrs.cmp_using(eq=np.array_equal), repr=_shape_repr)


def _shape_repr(array: np.ndarray) -> str:
    return f"array(shape={array.shape}, dtype={array.dtype})"


@attrs.frozen
class Arch:
    """The static part of a network: everything except the numbers it learns.

    ``sizes`` are the layer widths from input to output, e.g. ``(784, 200, 200, 10)``;
    ``act`` names the hidden activation (see ``purenet.activations``); ``loss``
    names the loss, which also fixes the output nonlinearity (``"ce"``: softmax,
    ``"mse"``: sigmoid; see ``purenet.losses``).
    """

    sizes: tuple[int, ...] = attrs.field(converter=lambda s: tuple(int(n) for n in s))
    act: str
    loss: str

    @sizes.validator
    def _check_sizes(self, _attribute, sizes) -> None:
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"layer sizes need at least two positive widths, got {sizes}")


@attrs.frozen
class Dense:
    """One fully connected layer: ``z = x @ w + b``.

    ``w`` has shape (fan_in, fan_out) so that a batch of row vectors ``x`` (N, fan_in)
    maps to ``z`` (N, fan_out) with one matrix product and no transposes.
    """

    w: np.ndarray = array_field()
    b: np.ndarray = array_field()


@attrs.frozen
class Params:
    """A whole network: its ``arch`` and one ``Dense`` record per layer.

    The same type holds gradients (``Grads``): ``backward`` returns a ``Params`` whose
    arrays are dL/dw and dL/db, so optimizers can zip params and grads layer by layer.
    """

    arch: Arch
    layers: tuple[Dense, ...] = attrs.field(converter=tuple)

    @property
    def dtype(self) -> np.dtype:
        return self.layers[0].w.dtype

    def arrays(self) -> Iterator[np.ndarray]:
        """Every array, in a fixed order: w0, b0, w1, b1, ..."""
        for layer in self.layers:
            yield layer.w
            yield layer.b

    @property
    def size(self) -> int:
        """The number of learned scalars."""
        return sum(a.size for a in self.arrays())


Grads = Params
"""Gradients have exactly the structure of the params they belong to."""


def tree_map(fn: Callable[..., np.ndarray], first: Params, *rest: Params) -> Params:
    """Apply ``fn`` array-wise across records of the same structure; keep ``first.arch``.

    >>> double = tree_map(lambda a: 2 * a, params)        # doctest: +SKIP
    >>> step = tree_map(lambda p, g: p - 0.1 * g, params, grads)   # doctest: +SKIP
    """
    layers = tuple(
        Dense(w=fn(*[layer.w for layer in group]), b=fn(*[layer.b for layer in group]))
        for group in zip(first.layers, *[r.layers for r in rest], strict=True)
    )
    return Params(arch=first.arch, layers=layers)


def _optional_readonly(array: np.ndarray | None) -> np.ndarray | None:
    return None if array is None else readonly(array)


@attrs.frozen
class DenseCache:
    """What one dense layer's forward keeps for its backward: its input and its output.

    The output is kept *after* the activation: every activation purenet offers has a
    derivative that can be written from its output alone (see ``purenet.activations``),
    so the pre-activation never needs to be stored. With dropout, ``keep`` is the
    scaled mask (0 or 1/(1-p)) that multiplied ``out`` on its way to the next layer.
    """

    x: np.ndarray = attrs.field(converter=readonly, eq=False, repr=_shape_repr)
    out: np.ndarray = attrs.field(converter=readonly, eq=False, repr=_shape_repr)
    keep: np.ndarray | None = attrs.field(default=None, converter=_optional_readonly, eq=False, repr=False)


@attrs.frozen
class Cache:
    """What ``forward`` computed: one ``DenseCache`` per layer, input layer first.

    ``inputs`` is the network input in the params' dtype (N, sizes[0]); ``logits`` is the
    output layer's pre-activation (N, sizes[-1]). The output nonlinearity (softmax or
    sigmoid) belongs to the loss, so the last layer's activation is the identity.
    """

    layers: tuple[DenseCache, ...] = attrs.field(converter=tuple)

    @property
    def inputs(self) -> np.ndarray:
        return self.layers[0].x

    @property
    def logits(self) -> np.ndarray:
        return self.layers[-1].out
