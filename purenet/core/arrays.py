"""Read-only arrays in frozen records, and the field that declares an array *learned*.

Every NumPy array a record holds is read-only, so an accidental write through a
record raises ``ValueError: assignment destination is read-only`` instead of quietly
changing a value that someone else still holds. A record never copies an array; it
takes each one in one of two ways (``readonly``, which lives in ``purenet.base.readonly``):

- an ``np.ndarray`` that is already read-only is held as it is. The training step's
  own results come in this way: the function that makes an array marks it read-only
  (``fresh``), and the record holds that very array, with no view in between;
- any other array (a caller's writeable one, or anything ``np.asarray`` accepts) is
  held as a read-only *view*: the data is shared, and the caller's own array keeps
  its flags.

A layer record declares which of its fields are learned arrays with ``learned()``
(attrs field metadata, as equinox marks static fields); every other field is static
configuration. Tree operations (``purenet.core.records.tree_map``, the optimizers' checks,
weight decay, checkpoints) walk that declaration and nothing else.

A few layers also carry *state* (``state()``): arrays that are not learned by gradient
descent but updated by the training pass itself, such as BatchNorm's running averages.
``backward`` returns the new state in the grads record's state fields, and every optimizer
takes it from there when it builds the new params; checkpoints save it beside the learned
arrays.
"""

from __future__ import annotations

import functools

import attrs
import numpy as np

from purenet.base.readonly import readonly  # on the bottom floor: the data records hold their arrays through it too

LEARNED = "purenet.learned"
DECAYED = "purenet.decayed"
STATE = "purenet.state"


def optional_readonly(array: np.ndarray | None) -> np.ndarray | None:
    """``readonly(array)``, or None for None (a cache's optional arrays: a dropout mask, ...)."""
    return None if array is None else readonly(array)


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


def shape_repr(array: np.ndarray) -> str:
    return f"array(shape={array.shape}, dtype={array.dtype})"


def array_field():
    """An attrs field for an array: held read-only (``readonly``), compared with ``np.array_equal``."""
    return attrs.field(converter=readonly, eq=attrs.cmp_using(eq=np.array_equal), repr=shape_repr)


def learned(*, decay: bool = False):
    """An attrs field for a *learned* array: what gradients, optimizer slots and checkpoints hold.

    ``decay=True`` marks a weight that L2 weight decay applies to (weights, not biases:
    the mask optax's ``add_decayed_weights`` takes). A weight's last axis is its fan-out
    and the product of the others its fan-in, which is how ``purenet.core.layers`` draws it.
    """
    return attrs.field(
        converter=readonly, eq=attrs.cmp_using(eq=np.array_equal), repr=shape_repr,
        metadata={LEARNED: True, DECAYED: decay},
    )


def state(*, fill: float, low: float | None = None):
    """An attrs field for a *state* array: carried by the training pass, not learned (running averages).

    ``fill`` is its value in a fresh layer; ``low``, if given, the least value it may hold (a
    running variance is never negative), which a checkpoint's arrays are checked against.
    """
    return attrs.field(
        converter=readonly, eq=attrs.cmp_using(eq=np.array_equal), repr=shape_repr,
        metadata={STATE: {"fill": fill, "low": low}},
    )


@functools.cache
def learned_names(record_type: type) -> tuple[str, ...]:
    """The learned fields of a layer record type, in declaration order (cached per type)."""
    return tuple(f.name for f in attrs.fields(record_type) if f.metadata.get(LEARNED))


@functools.cache
def decayed_names(record_type: type) -> tuple[str, ...]:
    """The learned fields weight decay applies to."""
    return tuple(f.name for f in attrs.fields(record_type) if f.metadata.get(DECAYED))


@functools.cache
def state_names(record_type: type) -> tuple[str, ...]:
    """The state fields of a layer record type (``state()``), in declaration order."""
    return tuple(f.name for f in attrs.fields(record_type) if STATE in f.metadata)


def state_fill(record_type: type, name: str) -> float:
    """The value state field ``name`` holds in a fresh layer."""
    return attrs.fields_dict(record_type)[name].metadata[STATE]["fill"]


def state_low(record_type: type, name: str) -> float | None:
    """The least value state field ``name`` may hold, or None."""
    return attrs.fields_dict(record_type)[name].metadata[STATE]["low"]


@functools.cache
def static_names(record_type: type) -> tuple[str, ...]:
    """The fields that are configuration: neither learned nor state."""
    return tuple(f.name for f in attrs.fields(record_type) if not f.metadata.get(LEARNED) and STATE not in f.metadata)
