"""A network at a glance: its layers, their output shapes, parameter counts and memory.

    summary(params)                          -> Summary   # a network, in its own dtype
    summary(["conv32k5", "pool2", 256, 10])  -> Summary   # a layer list: nothing drawn, float32

What Keras' ``model.summary()`` prints, as a record: one ``LayerRow`` per
layer the network runs (the ones it inserts, ``ToImage`` and ``Flatten``, included)
and the totals. Everything comes from the layer list's plan (``purenet.core.layers.plan_layers``),
so a network of any size is described without allocating it. Nothing is printed:
``purenet summary`` renders the record, and ``to_json`` is what its ``--json`` prints.

>>> s = summary([784, 200, 10])
>>> [(row.kind, row.output_shape, row.parameters) for row in s.rows]
[('dense', (200,), 157000), ('dense', (10,), 2010)]
>>> s.parameters, s.parameter_bytes
(159010, 636040)
"""

from __future__ import annotations

import math
import sys
import types
from typing import Any, Sequence

import attrs
import numpy as np

from purenet.core.layers import LayerListError, Planned, canonical_layers, elements_per_sample, plan_layers, with_input_width
from purenet.core.records import Params


@attrs.frozen
class LayerRow:
    """One layer: ``kind``, its registered name (dense, conv2d, maxpool, flatten, ...);
    ``token``, its item in the layer list (200, "conv32k5"; None for a layer the network inserted);
    ``output_shape`` for one sample, (D,) or (H, W, C); ``parameters``, its learned scalars;
    ``output_bytes``, the memory one sample's output takes."""

    kind: str
    token: int | str | None
    output_shape: tuple[int, ...]
    parameters: int
    output_bytes: int


@attrs.frozen
class Summary:
    """A network's layers and totals.

    ``layers`` is the layer list (canonical spellings, input width first); ``input_shape``
    what one sample is, (784,) for MNIST; ``dtype`` the numbers' type ("float32").
    ``parameters`` counts the learned scalars and ``parameter_bytes`` their memory.
    ``activation_bytes`` is the memory of one sample's forward pass: every layer's
    output (kept for backward) and the layers' scratch (convolution's im2col columns);
    a batch of N takes N times that.
    """

    layers: tuple[int | str, ...]
    input_shape: tuple[int, ...]
    dtype: str
    rows: tuple[LayerRow, ...]
    parameters: int
    parameter_bytes: int
    activation_bytes: int

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types: the totals and one object per row."""
        return {
            "layers": list(self.layers), "input_shape": list(self.input_shape), "dtype": self.dtype,
            "parameters": self.parameters, "parameter_bytes": self.parameter_bytes,
            "activation_bytes_per_sample": self.activation_bytes,
            "rows": [{"kind": row.kind, "token": row.token, "output_shape": list(row.output_shape),
                      "parameters": row.parameters, "output_bytes": row.output_bytes} for row in self.rows],
        }


def summary(model: Params | Sequence[int | str], *, dtype: Any = np.float32) -> Summary:
    """The summary of ``model``: a network (its own dtype) or a layer list as ``init`` takes
    it (a list that starts with a layer reads 28x28x1 images), sized for ``dtype``.

    ``ValueError`` names the item of a layer list that is no layer or does not fit.
    """
    if isinstance(model, Params):
        layers, dtype = model.arch.layers, model.dtype
    else:
        layers = _checked_layers(model)
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    itemsize = np.dtype(dtype).itemsize
    rows = tuple(_row(planned, itemsize) for planned in plan_layers(layers))
    parameters = sum(row.parameters for row in rows)
    return Summary(
        layers=layers, input_shape=(int(layers[0]),), dtype=np.dtype(dtype).name, rows=rows,
        parameters=parameters, parameter_bytes=parameters * itemsize,
        activation_bytes=elements_per_sample(layers) * itemsize,
    )


def _row(planned: Planned, itemsize: int) -> LayerRow:
    token = None if planned.position == 0 else planned.spec.token  # position 0: inserted by the network
    parameters = sum(math.prod(shape) for shape in planned.plan.shapes.values())
    out_shape = planned.plan.out_shape
    return LayerRow(planned.kind.name, token, out_shape, parameters, math.prod(out_shape) * itemsize)


def _checked_layers(layers: Sequence[int | str]) -> tuple[int | str, ...]:
    """The canonical layer list, planned once to be sure its layers fit; ValueError otherwise."""
    written = with_input_width(layers)[0]
    try:
        tokens = canonical_layers(written)
        plan_layers(tokens)
    except LayerListError as error:
        raise ValueError(f"layer list {written}: {error}") from None
    return tokens


class _CallableModule(types.ModuleType):
    """``purenet.core.summary`` names both this module and its function: importing the module
    (``from purenet.core.summary import Summary``) makes the module the package's attribute, so
    calling the module calls the function, and ``purenet.summary(params)`` works either way."""

    def __call__(self, model: Params | Sequence[int | str], *, dtype: Any = np.float32) -> Summary:
        return summary(model, dtype=dtype)


sys.modules[__name__].__class__ = _CallableModule
