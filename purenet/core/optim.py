"""Optimizers: plain ``sgd`` and pure ``(init, update)`` pairs, as in optax.

    sgd(params, grads, lr)                     -> Params   # p - lr g, a new record
    opt.init(params)                           -> OptState
    opt.update(params, grads, state)           -> (Params, OptState)

Each optimizer is a frozen record of its hyperparameters with two pure methods;
its state (``OptState``) holds the step count and zero or more records shaped
like the params (momentum's velocity, Adam's two moments). Nothing is updated in
place: every update returns new records and leaves its inputs untouched.

The two methods are written once, in ``PerArrayRule``: the frame every optimizer
shares, as jax's ``@optimizer`` decorator writes it once for jax's. An optimizer
states only its slots and its rule for one array. A new optimizer goes here, as one more
subclass, with its name in ``OPTIMIZERS`` and its default rates in
``purenet.core.lr_defaults``.

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

import itertools
from typing import Callable, ClassVar, Iterator, Protocol, Union

import attrs
import numpy as np

from purenet.core.arrays import decayed_names, learned_names
from purenet.core.lr_defaults import DEFAULT_LR
from purenet.core.records import Grads, Params, fresh, same_structure, tree_map, with_state

Schedule = Callable[[int], float]
LearningRate = Union[float, Schedule]
Arrays = tuple[np.ndarray, ...]


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
    """One step of gradient descent, ``p - lr * g`` for every array: a new record. State
    fields (BatchNorm's running averages) come from ``grads``, where ``backward`` put the new ones.

    >>> params = sgd(params, backward(params, forward(params, x), y), lr=0.1)  # doctest: +SKIP
    """
    _check_same_structure(params, grads)
    step = -float(lr)  # a Python float keeps float32 arrays float32
    return with_state(tree_map(lambda p, g: _scaled_add(p, step, g), params, grads), grads)


def learning_rate(lr: LearningRate, step: int) -> float:
    """The learning rate at ``step``: ``lr`` itself, or ``lr(step)`` for a schedule."""
    return float(lr(step)) if callable(lr) else float(lr)


# --- the frame: written once for every optimizer ---------------------------------------------


class PerArrayRule:
    """The frame of an optimizer whose rule works on one array at a time.

    A subclass (a frozen attrs record with ``lr`` and ``weight_decay`` among its fields)
    states what is its own and nothing else:

    - ``SLOTS``: the names of the params-shaped records it keeps (``init`` makes them zeros);
    - ``direction(g, slots, t)``: for one array's gradient ``g`` and its slot arrays, the
      direction to step in and the new slot arrays, at update ``t`` (1, 2, ...);
    - ``step_size(lr, t)``, if the step is not simply the learning rate (Adam's bias correction);
    - ``FUSED = True`` and ``fused(...)``, for an element-wise rule, to run it block by block.

    An element-wise rule made of whole-array operations makes a new array for almost every
    operation, about ten for Adam. ``fused`` makes the same operations, in the same order,
    into the new arrays and one scratch array, and on an array longer than ``BLOCK`` one
    block at a time, so that each block stays in cache while every operation runs on it:
    the same numbers, bit for bit (tests/test_optim.py compares the two).

    ``update`` does the rest, once per step: checks that the grads match the params, takes
    the learning rate at the step, and for each array adds the weight decay to a weight's
    gradient, asks the rule for a direction, and moves ``p <- p - step_size * direction``.
    """

    __slots__ = ()  # the subclasses are attrs records with slots; no instance dict from here

    SLOTS: ClassVar[tuple[str, ...]] = ()
    FUSED: ClassVar[bool] = False
    lr: LearningRate
    weight_decay: float

    def direction(self, g: np.ndarray, slots: Arrays, t: int) -> tuple[np.ndarray, Arrays]:
        """The rule: (the direction to step in, the new slot arrays), for one array at update ``t``."""
        raise NotImplementedError

    def step_size(self, lr: float, t: int) -> float:
        """How far to move along the direction at update ``t``, given the learning rate ``lr`` then."""
        return lr

    def fused(self, t: int, scale: float, dtype: np.dtype) -> Callable[..., None]:
        """With ``FUSED``: the rule at update ``t`` as a function of one block,
        ``block(p, g, slots, out, out_slots, tmp)``, that writes ``p + scale * direction`` into
        ``out`` and the new slots into ``out_slots``, through ``tmp``, a scratch block. It makes
        each operation ``direction`` makes, in its order, so the numbers are the same bit for bit;
        its constants are numbers of ``dtype``, as a Python float meeting an array becomes one.
        """
        raise NotImplementedError

    def init(self, params: Params) -> OptState:
        return OptState(step=0, slots=tuple(_zeros_like(params) for _ in self.SLOTS))

    def update(self, params: Params, grads: Grads, state: OptState) -> tuple[Params, OptState]:
        _check_same_structure(params, grads)
        if len(state.slots) != len(self.SLOTS):
            raise ValueError(f"{type(self).__name__} keeps {len(self.SLOTS)} slot records, "
                             f"the state has {len(state.slots)}")
        t = state.step + 1
        # minus the step size, a Python float: it keeps float32 arrays float32
        scale = -float(self.step_size(learning_rate(self.lr, state.step), t))
        moved: list[np.ndarray] = []
        kept: list[list[np.ndarray]] = [[] for _ in self.SLOTS]
        blocks: dict[np.dtype, Callable[..., None]] = {}
        for p, g, decays, slots in zip(params.arrays(), grads.arrays(), _decay_flags(params), _by_array(state.slots)):
            wd = self.weight_decay if decays else 0.0
            if self.FUSED and _fusable(p, g, slots):
                if p.dtype not in blocks:  # the rule's constants, made once per dtype and step
                    blocks[p.dtype] = self.fused(t, scale, p.dtype)
                p, slots = _blocked(blocks[p.dtype], p, g, slots, p.dtype.type(wd))
            else:
                if wd != 0:
                    g = _scaled_add(g, wd, p)  # the L2 term's gradient, wd * w
                direction, slots = self.direction(g, slots, t)
                p = _scaled_add(p, scale, direction)
            moved.append(p)
            for arrays, slot in zip(kept, slots, strict=True):
                arrays.append(slot)
        new_state = OptState(step=t, slots=tuple(_filled(params, arrays) for arrays in kept))
        return with_state(_filled(params, moved), grads), new_state


def _check_same_structure(params: Params, grads: Grads) -> None:
    if not same_structure(params, grads):
        raise ValueError(f"grads do not match params: {grads.arch} vs {params.arch}")


def _scaled_add(p: np.ndarray, scale: float, g: np.ndarray) -> np.ndarray:
    """``p + scale * g`` with a single new array."""
    out = np.multiply(g, scale)
    out += p
    return fresh(out)


BLOCK = 1 << 18
"""Elements per block of a fused update (1 MiB of float32). On a 2-core AVX2 machine smaller
blocks, down to ones that stay in the L1/L2 cache, made the update slower, not faster: each
block costs a dozen NumPy calls and the whole-array passes were not slowed by memory. So
the default network's arrays (the largest 156,800 elements) are done whole, and a larger
array goes block by block (benchmarks/optimizer_update.py; docs/performance.md, "The whole
default run")."""


def _fusable(p: np.ndarray, g: np.ndarray, slots: Arrays) -> bool:
    """Whether the fused path gives what the array-at-a-time one does: one float dtype throughout."""
    return p.dtype.kind == "f" and g.dtype == p.dtype and all(s.dtype == p.dtype for s in slots)


def _blocked(block: Callable[..., None], p: np.ndarray, g: np.ndarray, slots: Arrays, wd: float) -> tuple[np.ndarray, Arrays]:
    """One array's update, a rule's ``fused`` ``block`` on every block of it: (new p, new slots), new arrays."""
    out, out_slots = np.empty_like(p), tuple(np.empty_like(s) for s in slots)
    n = p.size
    if n <= BLOCK:  # one block: the arrays as they are
        tmp = np.empty_like(p)
        if wd != 0:  # the L2 term's gradient, g + wd * w, as _scaled_add(g, wd, p)
            decayed = np.multiply(p, wd)
            g = np.add(decayed, g, out=decayed)
        block(p, g, slots, out, out_slots, tmp)
        return fresh(out), tuple(fresh(o) for o in out_slots)
    pf, gf, of = p.reshape(-1), g.reshape(-1), out.reshape(-1)
    sf, osf = [s.reshape(-1) for s in slots], [o.reshape(-1) for o in out_slots]
    tmp, decayed = np.empty(BLOCK, p.dtype), np.empty(BLOCK, p.dtype)
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        gb, pb, size = gf[start:stop], pf[start:stop], stop - start
        if wd != 0:
            gb = np.add(np.multiply(pb, wd, out=decayed[:size]), gb, out=decayed[:size])
        block(pb, gb, [s[start:stop] for s in sf], of[start:stop], [o[start:stop] for o in osf], tmp[:size])
    return fresh(out), tuple(fresh(o) for o in out_slots)


def _zeros_like(params: Params) -> Params:
    return tree_map(np.zeros_like, params)


def _decay_flags(params: Params) -> Iterator[bool]:
    """For each array of ``params.arrays()``, whether weight decay applies to it: the fields
    each layer declares decayed (``learned(decay=True)``: weights, not biases)."""
    for layer in params.layers:
        decayed = decayed_names(type(layer))
        for name in learned_names(type(layer)):
            yield name in decayed


def _by_array(slots: tuple[Params, ...]) -> Iterator[Arrays]:
    """For each learned array, its arrays in every slot record."""
    if not slots:
        return itertools.repeat(())  # no slots: an empty tuple for every array
    return zip(*(slot.arrays() for slot in slots), strict=True)


def _filled(like: Params, arrays: list[np.ndarray]) -> Params:
    """A record shaped like ``like`` holding ``arrays``, in the order of ``like.arrays()``."""
    remaining = iter(arrays)
    return tree_map(lambda _: next(remaining), like)


# --- the optimizers: their slots and their rule for one array ---------------------------------


@attrs.frozen
class SGD(PerArrayRule):
    """Plain stochastic gradient descent: ``p <- p - lr g``."""

    lr: LearningRate = DEFAULT_LR["sgd"].constant
    weight_decay: float = 0.0

    # not FUSED: p + scale * g on whole arrays is already one multiplication and one addition,
    # and the fused frame's bookkeeping measured 1.2x slower for it (benchmarks/optimizer_update.py)

    def direction(self, g, slots, t):
        return g, ()


@attrs.frozen
class Momentum(PerArrayRule):
    """Heavy-ball momentum: ``v <- beta v + g``, ``p <- p - lr v``.

    With ``nesterov=True`` the step looks ahead: ``p <- p - lr (g + beta v)``
    (the form PyTorch uses, Sutskever et al. 2013).
    """

    SLOTS = ("velocity",)
    lr: LearningRate = DEFAULT_LR["momentum"].constant
    beta: float = 0.9
    weight_decay: float = 0.0
    nesterov: bool = False

    FUSED = True

    def direction(self, g, slots, t):
        (velocity,) = slots
        velocity = _scaled_add(g, self.beta, velocity)
        return (_scaled_add(g, self.beta, velocity) if self.nesterov else velocity), (velocity,)

    def fused(self, t, scale, dtype):
        beta, scale, nesterov = dtype.type(self.beta), dtype.type(scale), self.nesterov

        def block(p, g, slots, out, out_slots, tmp):
            (velocity,), (new_velocity,) = slots, out_slots
            np.multiply(velocity, beta, out=new_velocity)
            new_velocity += g
            direction = new_velocity
            if nesterov:
                direction = np.multiply(new_velocity, beta, out=tmp)
                direction += g
            np.multiply(direction, scale, out=out)
            out += p

        return block


@attrs.frozen
class Nesterov(Momentum):
    """Nesterov momentum: ``Momentum`` with ``nesterov=True`` (its default rates are momentum's)."""

    nesterov: bool = True


@attrs.frozen
class Adam(PerArrayRule):
    """Adam (Kingma & Ba 2015): bias-corrected first and second moments of the gradient.

    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
    ``p <- p - lr m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - b1^t)``,
    ``v_hat = v / (1 - b2^t)`` at step t = 1, 2, ... (``m_hat``'s correction is folded
    into the step size, a scalar, rather than applied to every element).
    """

    SLOTS = ("m", "v")  # the first and second moments
    lr: LearningRate = DEFAULT_LR["adam"].constant
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0

    FUSED = True

    def direction(self, g, slots, t):
        m, v = slots
        m = _scaled_add(m * self.b1, 1 - self.b1, g)
        v = _scaled_add(v * self.b2, 1 - self.b2, g * g)
        return m / (np.sqrt(v * (1 / (1 - self.b2**t))) + self.eps), (m, v)

    def fused(self, t, scale, dtype):
        b1, c1, b2, c2 = (dtype.type(c) for c in (self.b1, 1 - self.b1, self.b2, 1 - self.b2))
        unbias, eps, scale = dtype.type(1 / (1 - self.b2**t)), dtype.type(self.eps), dtype.type(scale)

        def block(p, g, slots, out, out_slots, tmp):
            (m, v), (new_m, new_v) = slots, out_slots
            np.multiply(m, b1, out=new_m)
            new_m += np.multiply(g, c1, out=tmp)
            np.multiply(v, b2, out=new_v)
            np.multiply(g, g, out=tmp)
            tmp *= c2
            new_v += tmp
            np.multiply(new_v, unbias, out=tmp)
            np.sqrt(tmp, out=tmp)
            tmp += eps
            np.divide(new_m, tmp, out=tmp)
            tmp *= scale
            np.add(tmp, p, out=out)

        return block

    def step_size(self, lr, t):
        return lr / (1 - self.b1**t)


OPTIMIZERS: dict[str, type[PerArrayRule]] = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adam": Adam}
"""Every optimizer by name; the names the CLI's ``--optimizer`` accepts (and ``DEFAULT_LR``'s)."""


def make_optimizer(name: str, lr: LearningRate, weight_decay: float = 0.0) -> Optimizer:
    """The optimizer called ``name`` with learning rate ``lr`` and L2 ``weight_decay``."""
    try:
        kind = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}") from None
    return kind(lr=lr, weight_decay=weight_decay)  # type: ignore[call-arg]  # every kind has both fields
