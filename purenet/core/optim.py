"""Optimizers: plain ``sgd`` and pure ``(init, update)`` pairs, as in optax.

    sgd(params, grads, lr)                     -> Params   # p - lr g, a new record
    opt.init(params)                           -> OptState
    opt.update(params, grads, state)           -> (Params, OptState)

Each optimizer is a frozen record of its hyperparameters with two pure methods;
its state (``OptState``) holds the step count and zero or more records shaped
like the params (momentum's velocity, Adam's two moments). Nothing is updated in
place: every update returns new records and leaves its inputs untouched.

``lr`` is a number or a schedule, a function from the step number (0, 1, ...) to
a learning rate. ``weight_decay`` adds the L2 term ``wd * w`` to every weight
gradient; which arrays are weights each layer record declares (``learned(decay=True)``
in ``purenet.core.arrays``: weights, not biases, the mask optax takes). The update rules
are in docs/math.md.

>>> opt = Adam(lr=1e-3)                                  # doctest: +SKIP
>>> state = opt.init(params)                             # doctest: +SKIP
>>> params, state = opt.update(params, grads, state)     # doctest: +SKIP
"""

from __future__ import annotations

from typing import Callable, Protocol, Union

import attrs
import numpy as np

from purenet.core.arrays import decayed_names
from purenet.core.records import Grads, Params, fresh, same_structure, tree_map

Schedule = Callable[[int], float]
LearningRate = Union[float, Schedule]


@attrs.frozen
class OptState:
    """An optimizer's state: how many updates it has made, and its slot records."""

    step: int
    slots: tuple[Params, ...] = attrs.field(converter=tuple, default=())


class Optimizer(Protocol):
    """What every optimizer offers: two pure functions over params-shaped records."""

    def init(self, params: Params) -> OptState: ...

    def update(self, params: Params, grads: Grads, state: OptState) -> tuple[Params, OptState]: ...


def sgd(params: Params, grads: Grads, lr: float) -> Params:
    """One step of gradient descent, ``p - lr * g`` for every array: a new record.

    >>> params = sgd(params, backward(params, forward(params, x), y), lr=0.1)  # doctest: +SKIP
    """
    _check_same_structure(params, grads)
    step = -float(lr)  # a Python float keeps float32 arrays float32
    return tree_map(lambda p, g: _scaled_add(p, step, g), params, grads)


def _scaled_add(p: np.ndarray, scale: float, g: np.ndarray) -> np.ndarray:
    """``p + scale * g`` with a single new array."""
    out = np.multiply(g, scale)
    out += p
    return fresh(out)


def _check_same_structure(params: Params, grads: Grads) -> None:
    if not same_structure(params, grads):
        raise ValueError(f"grads do not match params: {grads.arch} vs {params.arch}")


def learning_rate(lr: LearningRate, step: int) -> float:
    """The learning rate at ``step``: ``lr`` itself, or ``lr(step)`` for a schedule."""
    return float(lr(step)) if callable(lr) else float(lr)


def with_weight_decay(grads: Grads, params: Params, weight_decay: float) -> Grads:
    """Add the L2 gradient ``weight_decay * w`` to each weight gradient: the fields each
    layer declares decayed (biases and layers without weights untouched)."""
    if weight_decay == 0:
        return grads
    return Params(arch=grads.arch, layers=[_decayed(g, p, weight_decay) for g, p in zip(grads.layers, params.layers)])


def _decayed(grads, params, weight_decay: float):
    kind = type(grads)
    names = decayed_names(kind)
    if not names:
        return grads
    fields = {name: getattr(grads, name) for name in attrs.fields_dict(kind)}
    fields.update({name: _scaled_add(getattr(grads, name), weight_decay, getattr(params, name)) for name in names})
    return kind(**fields)


def _zeros_like(params: Params) -> Params:
    return tree_map(np.zeros_like, params)


@attrs.frozen
class SGD:
    """Plain stochastic gradient descent: ``p <- p - lr g``."""

    lr: LearningRate = 0.1
    weight_decay: float = 0.0

    def init(self, params: Params) -> OptState:
        return OptState(step=0)

    def update(self, params: Params, grads: Grads, state: OptState) -> tuple[Params, OptState]:
        grads = with_weight_decay(grads, params, self.weight_decay)
        params = sgd(params, grads, learning_rate(self.lr, state.step))
        return params, OptState(step=state.step + 1)


@attrs.frozen
class Momentum:
    """Heavy-ball momentum: ``v <- beta v + g``, ``p <- p - lr v``.

    With ``nesterov=True`` the step looks ahead: ``p <- p - lr (g + beta v)``
    (the form PyTorch uses, Sutskever et al. 2013).
    """

    lr: LearningRate = 0.1
    beta: float = 0.9
    weight_decay: float = 0.0
    nesterov: bool = False

    def init(self, params: Params) -> OptState:
        return OptState(step=0, slots=(_zeros_like(params),))

    def update(self, params: Params, grads: Grads, state: OptState) -> tuple[Params, OptState]:
        _check_same_structure(params, grads)
        grads = with_weight_decay(grads, params, self.weight_decay)
        (velocity,) = state.slots
        velocity = tree_map(lambda v, g: _scaled_add(g, self.beta, v), velocity, grads)
        direction = tree_map(lambda v, g: _scaled_add(g, self.beta, v), velocity, grads) if self.nesterov else velocity
        params = sgd(params, direction, learning_rate(self.lr, state.step))
        return params, OptState(step=state.step + 1, slots=(velocity,))


@attrs.frozen
class Nesterov(Momentum):
    """Nesterov momentum: ``Momentum`` with ``nesterov=True``."""

    nesterov: bool = True


@attrs.frozen
class Adam:
    """Adam (Kingma & Ba 2015): bias-corrected first and second moments of the gradient.

    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
    ``p <- p - lr m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - b1^t)``,
    ``v_hat = v / (1 - b2^t)`` at step t = 1, 2, ...
    """

    lr: LearningRate = 1e-3
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0

    def init(self, params: Params) -> OptState:
        return OptState(step=0, slots=(_zeros_like(params), _zeros_like(params)))

    def update(self, params: Params, grads: Grads, state: OptState) -> tuple[Params, OptState]:
        _check_same_structure(params, grads)
        grads = with_weight_decay(grads, params, self.weight_decay)
        m, v = state.slots
        t = state.step + 1
        m = tree_map(lambda m_, g: _scaled_add(m_ * self.b1, 1 - self.b1, g), m, grads)
        v = tree_map(lambda v_, g: _scaled_add(v_ * self.b2, 1 - self.b2, g * g), v, grads)
        m_scale = learning_rate(self.lr, state.step) / (1 - self.b1**t)
        v_scale = 1 / (1 - self.b2**t)
        direction = tree_map(lambda m_, v_: m_ / (np.sqrt(v_ * v_scale) + self.eps), m, v)
        params = sgd(params, direction, m_scale)
        return params, OptState(step=t, slots=(m, v))


OPTIMIZERS: dict[str, type] = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adam": Adam}
"""Every optimizer by name; the names the CLI's ``--optimizer`` accepts."""


def make_optimizer(name: str, lr: LearningRate, weight_decay: float = 0.0) -> Optimizer:
    """The optimizer called ``name`` with learning rate ``lr`` and L2 ``weight_decay``."""
    try:
        kind = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}") from None
    return kind(lr=lr, weight_decay=weight_decay)
