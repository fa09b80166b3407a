"""The network: each layer's pure triple folded over the layer list.

    init(layers, act, rng=...)   -> Params
    forward(params, x)           -> Cache     # everything backward needs (training=True, rng= for a training pass)
    backward(params, cache, y)   -> Grads     # mean over the batch; same type as Params
    predict(params, x)           -> (N, K) probabilities, rows sum to 1
    loss(params, x or cache, y)  -> float     # mean over the batch
    accuracy(params, x, y)       -> float

Depth and kinds are never hard-coded: forward and backward fold over
``params.layers``, a tuple of layer records of any registered kind (like
stax.serial), each dispatched to its kind's forward and backward
(``purenet.core.layers``); the fold names no kind. Dropout is a layer like any
other: ``with_dropout(params, p)`` places one after every hidden dense layer, as
``purenet train --dropout p`` does. Dense and convolution layers use ``params.arch.act``; the
output layer is linear and its nonlinearity (softmax or sigmoid) belongs to the
loss (``purenet.core.losses``).
The same calls serve a batch of 1, a mini-batch or the whole data set.

>>> import numpy as np
>>> params = init([784, 200, 200, 10], act="sigmoid", rng=np.random.default_rng(0))
>>> x = np.zeros((5, 784), np.float32); y = np.arange(5)
>>> grads = backward(params, forward(params, x), y)
>>> predict(params, x).shape
(5, 10)
"""

from __future__ import annotations

import warnings
from typing import Sequence

import attrs
import numpy as np

from purenet.core.activations import ACTIVATIONS, Activation, get_activation
from purenet.core.arrays import learned_names, state_names
from purenet.core.layers import Context, kind_of, place_dropout, plan_layers, resolve_scheme, with_input_width
from purenet.core.losses import get_loss, loss_terms
from purenet.core.records import Arch, Cache, Grads, Params

_FLOAT_DTYPES = (np.float32, np.float64)


def init(
    layers: Sequence[int | str],
    act: str = "relu",
    *,
    rng: np.random.Generator | int,
    init: str = "auto",
    dtype=np.float32,
    loss: str = "ce",
) -> Params:
    """New params for a network with layer list ``layers`` (input first), e.g. [784, 200, 10]
    or [784, "conv32k5", "pool2", 256, 10] (``purenet.core.layers`` lists the tokens). A list
    that starts with a layer reads 28x28x1 images, as ``--layers`` does: ["conv32k5", "pool2", 10].

    ``rng`` is a ``numpy.random.Generator`` (an int is taken as its seed); ``init`` one of
    ``purenet.core.layers.INIT_SCHEMES``; ``dtype`` float32 (default) or float64; ``loss``
    "ce" (softmax + cross-entropy) or "mse" (sigmoid + squared error). Weights are drawn
    layer by layer, in order.
    """
    arch = Arch(layers=with_input_width(layers)[0], act=act, loss=loss)
    get_activation(act), get_loss(loss)  # fail early, with the list of choices
    if np.dtype(dtype).type not in _FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    if isinstance(rng, (int, np.integer)):
        rng = np.random.default_rng(rng)
    scheme = resolve_scheme(init, act)
    records = tuple(
        planned.kind.make(planned.spec, planned.in_shape, rng, dtype, scheme)[0] for planned in plan_layers(arch.layers)
    )
    return Params(arch=arch, layers=records)


def layer_activations(params: Params) -> tuple[Activation | None, ...]:
    """The activation of each layer: the hidden one for dense and convolution layers,
    the identity for the last layer, None for layers that take none."""
    hidden = get_activation(params.arch.act)
    last = len(params.layers) - 1
    return tuple(
        (ACTIVATIONS["identity"] if i == last else hidden) if kind_of(layer).activated else None
        for i, layer in enumerate(params.layers)
    )


def forward(
    params: Params, x: np.ndarray, *, rng: np.random.Generator | None = None, training: bool | None = None,
    dropout: float = 0.0,
) -> Cache:
    """Run a batch ``x`` (N, inputs), floating point, through every layer.

    ``x`` is converted to the params' dtype (no copy when it already matches). ``training``
    says whether this is a training pass: BatchNorm layers then normalise by the batch's
    statistics and the cache carries their new running averages (``backward`` hands them
    to the optimizer in the grads), and layers that draw (``Dropout``: its mask) draw from
    ``rng``; at inference (``training=False``) BatchNorm uses its running averages and
    nothing draws. ``training=None`` means a training pass when ``rng`` is given; a network
    with BatchNorm layers refuses it (say which you mean). Without ``rng`` nothing draws (a
    Dropout layer passes its input through).

    ``dropout=p`` is deprecated: it runs ``with_dropout(params, p)`` instead of ``params``
    (Dropout layers after the hidden dense layers), and its cache goes to ``backward``
    with ``params`` as before. Put the Dropout layers in the network instead.
    """
    if dropout:
        return _forward_with_dropout(params, x, dropout, rng, training)
    training = _training_pass(params, rng, training)
    out = _check_inputs(params, x)
    inputs = out
    caches = []
    draws = rng if training else None
    for layer, act in zip(params.layers, layer_activations(params)):
        out, cache = kind_of(layer).forward(layer, out, Context(act=act, rng=draws, training=training))
        caches.append(cache)
    return Cache(layers=caches, inputs=inputs)


def _training_pass(params: Params, rng: np.random.Generator | None, training: bool | None) -> bool:
    """Whether ``forward`` runs a training pass: ``training``, or for None whether ``rng`` is given,
    which a network carrying state (BatchNorm's running averages) does not guess."""
    if training is not None:
        if not isinstance(training, (bool, np.bool_)):
            raise ValueError(f"training must be True or False, got {training!r}")
        return bool(training)
    if any(state_names(type(layer)) for layer in params.layers):
        raise ValueError("this network has BatchNorm layers: pass forward(..., training=True) for a training pass "
                         "(batch statistics) or training=False for inference (running averages)")
    return rng is not None


def backward(params: Params, cache: Cache, y: np.ndarray, *, label_smoothing: float = 0.0) -> Grads:
    """Gradients of the mean loss over the batch, as a record shaped like ``params``.

    ``y`` holds integer labels (N,). The output error comes from the loss in closed
    form (BP1); each layer then turns dL/d(out) into its grads and dL/dx (BP2-BP4).
    ``label_smoothing`` e trains against (1 - e) onehot(y) + e / K (``purenet.core.losses``).
    """
    if isinstance(cache, _DropoutShorthandCache):
        return _backward_with_dropout(params, cache, y, label_smoothing)
    y = _check_labels(params, y, len(cache.logits))
    d_out = loss_terms(params.arch.loss, label_smoothing)[1](cache.logits, y)
    acts = layer_activations(params)
    grads = list(params.layers)  # layers below the first learned one keep their record: nothing to learn there
    first = _first_learned(params)
    for i in reversed(range(first, len(params.layers))):
        layer = params.layers[i]
        # d_out is always an array made here (the loss's delta, or the layer above's dx),
        # so a layer may write into it; below the first learned layer nobody needs dx
        context = Context(act=acts[i], need_dx=i > first)
        grads[i], d_out = kind_of(layer).backward(layer, cache.layers[i], d_out, context)
    return Params(arch=params.arch, layers=grads)


def _first_learned(params: Params) -> int:
    """The index of the first layer with learned arrays (a ``ToImage`` may come before it)."""
    for i, layer in enumerate(params.layers):
        if learned_names(type(layer)):
            return i
    return len(params.layers)


def with_layers(params: Params, layers: Sequence[int | str]) -> Params:
    """``params`` (or grads) as the network of the layer list ``layers``, a list that differs
    from ``params.arch.layers`` only by layers without learned arrays, added or left out.

    Each layer with learned arrays keeps its record, in order; every other layer is made
    from the list (its record is its static fields, such as ``Dropout(rate)``). ValueError
    when the learned layers of the two lists differ.
    """
    arch = Arch(layers=layers, act=params.arch.act, loss=params.arch.loss)
    learned = iter([layer for layer in params.layers if learned_names(type(layer))])
    records = []
    for planned in plan_layers(arch.layers):
        if not planned.plan.shapes:
            records.append(planned.kind.record(**planned.plan.static))
            continue
        layer = next(learned, None)
        if not _is_planned(layer, planned):
            raise ValueError(f"{list(arch.layers)} has other learned layers than {list(params.arch.layers)}")
        records.append(layer)
    if next(learned, None) is not None:
        raise ValueError(f"{list(arch.layers)} has fewer learned layers than {list(params.arch.layers)}")
    return Params(arch=arch, layers=records)


def _is_planned(layer, planned) -> bool:
    """Whether ``layer`` is a record of the planned layer: its kind, static fields and shapes."""
    return (type(layer) is planned.kind.record
            and all(getattr(layer, name) == value for name, value in planned.plan.static.items())
            and all(getattr(layer, name).shape == shape for name, shape in planned.plan.shapes.items()))


def with_dropout(params: Params, rate: float) -> Params:
    """``params`` with a ``Dropout(rate)`` layer after every hidden dense layer, where
    ``purenet train --dropout`` (``RunConfig.dropout``) places them (``place_dropout``);
    the same params when ``rate`` is 0."""
    if not rate:
        return params
    return with_layers(params, place_dropout(params.arch.layers, rate))


def predict(params: Params, x: np.ndarray) -> np.ndarray:
    """Class probabilities (N, K) for a batch ``x``; each row sums to 1.

    With the "mse" loss the sigmoid outputs are scaled to sum to 1 per row.
    """
    return get_loss(params.arch.loss).output(forward(params, x, training=False).logits)


def loss(params: Params, x: np.ndarray | Cache, y: np.ndarray) -> float:
    """The mean loss over a batch; ``x`` may be inputs (an inference pass) or a ``Cache`` already computed."""
    cache = x if isinstance(x, Cache) else forward(params, x, training=False)
    y = _check_labels(params, y, len(cache.logits))
    return get_loss(params.arch.loss).value(cache.logits, y)


def accuracy(params: Params, x: np.ndarray, y: np.ndarray) -> float:
    """The fraction of rows of ``x`` whose most probable class is the label in ``y``."""
    y = _check_labels(params, y, len(x))
    return float(np.mean(forward(params, x, training=False).logits.argmax(axis=1) == y))


def _check_inputs(params: Params, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    width = params.arch.inputs
    if x.ndim != 2 or x.shape[1] != width or len(x) == 0:
        raise ValueError(f"inputs must have shape (N, {width}) with N >= 1, got {x.shape}")
    if x.dtype.kind != "f":
        raise ValueError(f"inputs must be floating point (scale uint8 pixels to [0, 1] first), got {x.dtype}")
    return x.astype(params.dtype, copy=False)


def _check_labels(params: Params, y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y)
    classes = params.arch.classes
    if y.shape != (n,) or y.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers of shape ({n},), got {y.dtype} {y.shape}")
    # one pass for both bounds: seen as unsigned, a negative label is a huge one
    if n and y.astype(np.int64, copy=False).view(np.uint64).max() >= classes:
        raise ValueError(f"labels must lie in 0..{classes - 1}, got {y.min()}..{y.max()}")
    return y


# --- deprecated: forward(params, x, dropout=p), from before dropout was only a layer -------------


@attrs.frozen
class _DropoutShorthandCache(Cache):
    """The cache of ``forward(params, x, dropout=rate)``: the pass ran ``with_dropout(params, rate)``,
    and ``backward`` takes it with ``params``, as it did when the dense layers kept the masks."""

    rate: float = attrs.field(kw_only=True)


def _forward_with_dropout(params: Params, x: np.ndarray, rate: float, rng: np.random.Generator | None,
                          training: bool | None) -> Cache:
    warnings.warn("forward(dropout=p) (and train(dropout=p), train_step(dropout=p)) goes in the next release: "
                  "put Dropout layers in the network, with with_dropout(params, p) or dropoutP in its layer list",
                  DeprecationWarning, stacklevel=3)
    if rng is None:
        raise ValueError("dropout needs an explicit rng (a numpy.random.Generator)")
    cache = forward(with_dropout(params, rate), x, rng=rng, training=training)
    return _DropoutShorthandCache(layers=cache.layers, inputs=cache.inputs, rate=rate)


def _backward_with_dropout(params: Params, cache: _DropoutShorthandCache, y: np.ndarray, label_smoothing: float) -> Grads:
    grads = backward(with_dropout(params, cache.rate), Cache(layers=cache.layers, inputs=cache.inputs), y,
                     label_smoothing=label_smoothing)
    return with_layers(grads, params.arch.layers)
