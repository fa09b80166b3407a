"""ONNX export: a purenet network as an ONNX model that any ONNX runtime can run.

    to_onnx(params) -> onnx.ModelProto   the network, from pixels to probabilities
    to_onnx_ensemble(members)            several networks in one graph, their probabilities averaged
    save_onnx(path, model, force=False)  write it atomically; replace only an ONNX model unless forced
    is_onnx_model(path)                  whether ``path`` is a file that parses as an ONNX model
    ExportError                          a network (or a layer of it) that cannot be exported

The graph takes ``pixels``, float32 (N, 784) in [0, 1] (N free: any batch size), and
gives ``probabilities``, float32 (N, 10), rows summing to 1: what ``purenet.core.network.predict``
computes, node for node (at inference: BatchNorm with its running averages). Each
layer kind has its exporter in ``EXPORTERS`` (a record type -> a function that appends
the layer's nodes), each hidden activation its nodes in ``ACTIVATION_NODES`` and each
loss its output function in ``OUTPUTS``; a layer kind, activation or loss missing from those tables is an ``ExportError`` that
names it, never a wrong graph.

The graph computes in float32 whatever the checkpoint's dtype: float32 is what ONNX
runtimes run fastest and everywhere, and the float64 difference is far below the
probabilities' meaningful digits (tests/test_export.py measures both).

The ``onnx`` package is an optional extra (purenet's ``onnx`` extra), imported
inside the functions that need it, so the library loads without it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from purenet.base.version import installed_version
from purenet.core.activations import ELU_ALPHA, LEAKY_SLOPE, Activation
from purenet.core.ensemble import check_members
from purenet.core.layers import AvgPool, BatchNorm, Conv2D, Dense, Dropout, Flatten, MaxPool, ToImage, plan_layers
from purenet.core.layers.conv import paddings
from purenet.core.network import layer_activations
from purenet.core.records import Params
from purenet.io.outputs import check_target
from purenet.io.reading import open_regular
from purenet.io.writing import atomic_write

OPSET = 17
"""The ONNX operator set the graph declares: every operator used here has had its
current form since opset 13 (Softmax over one axis, ReduceSum's axes as an input),
and onnxruntime has run opset 17 since version 1.11 (2022)."""

IR_VERSION = 8
"""The file format version that goes with opset 17; newer onnx packages would write a
later one by default, which older runtimes refuse to open."""

INPUT, OUTPUT = "pixels", "probabilities"
PREPROCESSING = (
    "float32 (N, 784) in [0, 1]: each row a 28x28 MNIST-style digit, white (1) ink on black (0), "
    "row-major, the digit fitted into the central 20x20 box by its centre of mass; "
    "purenet.photo.prepare.load_digit_image(path).reshape(1, -1) / 255 prepares a photo"
)
"""What the graph expects of its input, as a sentence stored in the file (metadata_props)."""


class ExportError(ValueError):
    """The network holds a layer, activation or loss that has no ONNX form here; the message says which."""


class _Graph:
    """The nodes and weights of the graph under construction, with fresh names for tensors."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def constant(self, hint: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], hint: str, **attributes) -> str:
        from onnx import helper

        out = self.name(hint)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attributes))
        return out


# --- the tables: layer kinds, activations, output functions -----------------------------------

def _operator(kind: str, **attributes) -> Callable[[_Graph, str], str]:
    return lambda graph, z: graph.node(kind, [z], kind.lower(), **attributes)


ACTIVATION_NODES: dict[str, Callable[[_Graph, str], str]] = {
    "identity": lambda graph, z: z,
    "sigmoid": _operator("Sigmoid"),
    "tanh": _operator("Tanh"),
    "relu": _operator("Relu"),
    "leaky_relu": _operator("LeakyRelu", alpha=LEAKY_SLOPE),
    "elu": _operator("Elu", alpha=ELU_ALPHA),
}
"""Activation name -> the function appending its nodes; the constants are
``purenet.core.activations``'s own, so a changed slope changes the export with it."""


def _activation(graph: _Graph, act: Activation | None, z: str, where: str) -> str:
    """The nodes of ``act`` applied to ``z`` (None, a layer that takes no activation: none)."""
    if act is None:
        return z
    if act.name not in ACTIVATION_NODES:
        raise ExportError(f"{where}: the activation {act.name!r} has no ONNX form in purenet.apps.export")
    return ACTIVATION_NODES[act.name](graph, z)


def _dense(graph: _Graph, index: int, layer: Dense, act: Activation, x: str, in_shape: tuple[int, ...]) -> str:
    """``act(x @ w + b)``: MatMul, Add, then the activation's operator."""
    w = graph.constant(f"layer{index}.w", np.asarray(layer.w, np.float32))
    b = graph.constant(f"layer{index}.b", np.asarray(layer.b, np.float32))
    z = graph.node("Add", [graph.node("MatMul", [x, w], f"layer{index}.matmul"), b], f"layer{index}.z")
    return _activation(graph, act, z, f"layer {index} (Dense)")


# --- image layers: the graph keeps images as ONNX's NCHW; purenet's are NHWC ------------------


def _to_image(graph: _Graph, index: int, layer: ToImage, act, x: str, in_shape) -> str:
    """(N, side*side) rows -> (N, 1, side, side): with one channel, NCHW and NHWC hold the same order."""
    shape = graph.constant(f"layer{index}.shape", np.array([-1, 1, layer.side, layer.side], np.int64))
    return graph.node("Reshape", [x, shape], f"layer{index}.image")


def _conv(graph: _Graph, index: int, layer: Conv2D, act: Activation, x: str, in_shape) -> str:
    """ONNX Conv (a correlation, as purenet's) with the kernel as (F, C, K, K) and purenet's
    padding written out: "same" may put its odd row at the bottom, which ONNX's auto_pad
    would not say the same way for every size."""
    kernel = layer.w.shape[0]
    (top, bottom), (left, right) = (paddings(n, kernel, layer.stride, layer.padding) for n in in_shape[:2])
    w = graph.constant(f"layer{index}.w", np.asarray(layer.w, np.float32).transpose(3, 2, 0, 1))
    b = graph.constant(f"layer{index}.b", np.asarray(layer.b, np.float32))
    z = graph.node("Conv", [x, w, b], f"layer{index}.conv", kernel_shape=[kernel, kernel],
                   strides=[layer.stride, layer.stride], pads=[top, left, bottom, right])
    return _activation(graph, act, z, f"layer {index} (Conv2D)")


def _pool(op: str):
    def export(graph: _Graph, index: int, layer, act, x: str, in_shape) -> str:
        size = layer.size
        return graph.node(op, [x], f"layer{index}.{op.lower()}", kernel_shape=[size, size], strides=[size, size])
    return export


def _flatten(graph: _Graph, index: int, layer: Flatten, act, x: str, in_shape) -> str:
    """Back to channels-last before flattening, so the features come in purenet's order."""
    if len(in_shape) == 1:  # already a vector: nothing to do
        return x
    nhwc = graph.node("Transpose", [x], f"layer{index}.nhwc", perm=[0, 2, 3, 1])
    return graph.node("Flatten", [nhwc], f"layer{index}.flatten", axis=1)


def _dropout(graph: _Graph, index: int, layer: Dropout, act, x: str, in_shape) -> str:
    """At inference a dropout layer passes its input through: no node at all."""
    return x


def _batchnorm(graph: _Graph, index: int, layer: BatchNorm, act, x: str, in_shape) -> str:
    """ONNX BatchNormalization in inference mode, with the running averages: channels on
    axis 1, which both an NCHW image and an (N, D) vector have."""
    arrays = [graph.constant(f"layer{index}.{name}", np.asarray(getattr(layer, name), np.float32))
              for name in ("gamma", "beta", "mean", "var")]
    return graph.node("BatchNormalization", [x, *arrays], f"layer{index}.batchnorm", epsilon=layer.eps)


EXPORTERS: dict[type, Callable[..., str]] = {
    Dense: _dense,
    ToImage: _to_image,
    Conv2D: _conv,
    MaxPool: _pool("MaxPool"),
    AvgPool: _pool("AveragePool"),
    Flatten: _flatten,
    Dropout: _dropout,
    BatchNorm: _batchnorm,
}
"""Layer record type -> ``exporter(graph, index, layer, act, x, in_shape) -> out``: appends
the layer's nodes reading tensor ``x`` (whose per-sample shape in purenet is ``in_shape``)
and returns the name of the tensor it produces. Between image layers the graph holds
images as ONNX's (N, C, H, W); ``Flatten`` turns them back to purenet's channels-last
order before flattening, so a dense layer after it reads its features as purenet does. ``act`` is the
layer's activation as ``purenet.core.network.layer_activations`` gives it (None: it takes none)."""


def _softmax(graph: _Graph, z: str) -> str:
    return graph.node("Softmax", [z], "softmax", axis=-1)


def _normalised_sigmoid(graph: _Graph, z: str) -> str:
    """softmax(log sigmoid(z)): the sigmoids scaled to sum to 1, computed as ``purenet.core.losses`` does.

    log sigmoid(z) = min(z, 0) - log(1 + exp(-|z|)), where exp never overflows; dividing
    the sigmoids by their sum instead loses the float32 precision of rows whose outputs are
    all near 0 (docs/math.md).
    """
    zero = graph.constant("zero", np.array(0, np.float32))
    one = graph.constant("one", np.array(1, np.float32))
    tail = graph.node("Exp", [graph.node("Neg", [graph.node("Abs", [z], "abs_z")], "minus_abs_z")], "exp_minus_abs_z")
    softplus = graph.node("Log", [graph.node("Add", [tail, one], "one_plus_exp")], "log_one_plus_exp")
    log_sigmoid = graph.node("Sub", [graph.node("Min", [z, zero], "negative_part"), softplus], "log_sigmoid")
    return graph.node("Softmax", [log_sigmoid], "normalised", axis=-1)


OUTPUTS: dict[str, Callable[[_Graph, str], str]] = {
    "ce": _softmax,
    "mse": _normalised_sigmoid,
}
"""Loss name -> the nodes of its output function (``purenet.core.losses.LOSSES[name].output``)."""


# --- the model ---------------------------------------------------------------------------------


def to_onnx(params: Params, *, classes: Sequence[str] | None = None,
            data_name: str | None = None) -> "onnx.ModelProto":  # noqa: F821 - onnx is imported lazily
    """The network ``params`` as an ONNX model: ``pixels`` (N, 784) float32 -> ``probabilities``.

    Raises ``ExportError`` naming the first layer (index and kind), activation or loss
    that cannot be exported, and ``ImportError`` when the onnx package is missing.
    """
    from onnx import helper

    graph = _Graph()
    out = _network(graph, params)
    graph.nodes.append(helper.make_node("Identity", [out], [OUTPUT], name=OUTPUT))
    model = _model(graph, params.arch.inputs, params.arch.classes, f"A purenet network: {INPUT} {PREPROCESSING} -> {OUTPUT}")
    helper.set_model_props(model, metadata(params, classes, data_name))
    return model


def to_onnx_ensemble(members: Sequence[Params], *, classes: Sequence[str] | None = None,
                     data_name: str | None = None) -> "onnx.ModelProto":  # noqa: F821 - onnx is imported lazily
    """An ensemble as one ONNX model: every member's nodes reading ``pixels``, and ``probabilities``
    the mean of their outputs (ONNX ``Mean``), as ``purenet.core.ensemble.ensemble_predict`` averages them;
    ``classes`` and ``data_name`` as in ``to_onnx`` (the members read the same classes).

    Raises ``ValueError`` when the members do not fit together (``check_members``), ``ExportError``
    naming the member (from 1), then its layer, that cannot be exported.
    """
    from onnx import helper

    members = check_members(members)
    graph = _Graph()
    outputs = []
    for number, member in enumerate(members, start=1):
        try:
            outputs.append(_network(graph, member))
        except ExportError as error:
            raise ExportError(f"member {number} of the ensemble: {error}") from None
    graph.nodes.append(helper.make_node("Mean", outputs, [OUTPUT], name=OUTPUT))
    first = members[0].arch
    model = _model(graph, first.inputs, first.classes,
                   f"A purenet ensemble of {len(members)} networks: {INPUT} {PREPROCESSING} -> {OUTPUT}, their mean")
    described = metadata(members[0], classes, data_name)
    described["architecture"] = json.dumps({"ensemble": [json.loads(metadata(m)["architecture"]) for m in members]})
    helper.set_model_props(model, described)
    return model


def _network(graph: _Graph, params: Params) -> str:
    """Append the nodes of ``params`` reading ``pixels``; the name of its probabilities' tensor."""
    out = INPUT
    shapes = [planned.in_shape for planned in plan_layers(params.arch.layers)]
    if len(shapes) != len(params.layers):
        raise ExportError(f"the params hold {len(params.layers)} layers, "
                          f"but their architecture {list(params.arch.layers)} has {len(shapes)}")
    for index, (layer, act) in enumerate(zip(params.layers, layer_activations(params))):
        exporter = EXPORTERS.get(type(layer))
        if exporter is None:
            raise ExportError(f"layer {index} ({type(layer).__name__}): purenet cannot export this kind of layer to ONNX yet")
        out = exporter(graph, index, layer, act, out, shapes[index])
    loss = params.arch.loss
    if loss not in OUTPUTS:
        raise ExportError(f"the loss {loss!r} has no ONNX output function in purenet.apps.export")
    return OUTPUTS[loss](graph, out)


def _model(graph: _Graph, inputs: int, classes: int, what: str) -> "onnx.ModelProto":  # noqa: F821
    """The graph's nodes as a model: ``pixels`` (N, inputs) in, ``probabilities`` (N, classes) out."""
    from onnx import TensorProto, helper

    onnx_graph = helper.make_graph(
        graph.nodes,
        "purenet",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", inputs])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", classes])],
        graph.initializers,
    )
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="purenet", producer_version=installed_version(),
                              doc_string=f"{what}, rows summing to 1.")
    model.ir_version = IR_VERSION
    return model


def metadata(params: Params, classes: Sequence[str] | None = None, data_name: str | None = None) -> dict[str, str]:
    """What a user of the file needs to know, as the model's metadata_props (strings): with
    ``classes`` (a checkpoint's ``class_names``) their names as a JSON list, output k named by item k."""
    arch = params.arch
    named = {} if classes is None else {"classes": json.dumps(list(classes))}
    if data_name is not None:
        named["data_name"] = data_name
    return {
        **named,
        "purenet_version": installed_version(),
        "architecture": json.dumps({"sizes": list(arch.layers), "act": arch.act, "loss": arch.loss,
                                    "layers": [type(layer).__name__ for layer in params.layers],
                                    "trained_dtype": str(params.dtype)}),
        "preprocessing": PREPROCESSING,
        "input": INPUT,
        "output": OUTPUT,
    }


# --- the file ----------------------------------------------------------------------------------


def is_onnx_model(path: str | os.PathLike) -> bool:
    """Whether ``path`` parses as an ONNX model (a file format version and a graph with nodes).

    Protobuf parses many byte strings (an empty file is an empty message), so a file only
    counts as a model when it declares what every real model declares.
    """
    import onnx

    try:  # open_regular: a FIFO or device is never opened, so this never blocks
        with open_regular(path, OSError) as handle:
            model = onnx.load(handle, load_external_data=False)
    except Exception:  # protobuf's DecodeError, OSError, anything else a foreign file provokes
        return False
    return model.ir_version > 0 and len(model.opset_import) > 0 and len(model.graph.node) > 0


def check_output(path: str | os.PathLike, *, force: bool = False) -> Path:
    """Refuse, before any work, to write ``path`` over a file that is not an ONNX model (unless ``force``)."""
    return check_target(path, is_onnx_model, what="an ONNX model", force=force)


def save_onnx(path: str | os.PathLike, model, *, force: bool = False) -> Path:
    """Write ``model`` to ``path`` atomically (``purenet.io.writing.atomic_write``), after ``check_output``."""
    check_output(path, force=force)
    data = model.SerializeToString()
    return atomic_write(path, lambda handle: handle.write(data))
