"""Learning-rate schedules: pure functions of the step number.

A schedule is a frozen record you call with the optimizer's step (0, 1, 2, ...)
to get that step's learning rate; any optimizer takes one as its ``lr``:

    >>> sched = Warmup(Cosine(lr=1e-3, total_steps=9380), steps=469)
    >>> round(sched(0), 8), sched(469) == Cosine(1e-3, 9380)(469)
    (2.13e-06, True)
    >>> opt = Adam(lr=sched)                       # doctest: +SKIP

    Constant(lr)                       lr
    StepDecay(lr, every, gamma)        lr * gamma ** (t // every)
    Cosine(lr, total_steps, final)     final + (lr - final) (1 + cos(pi min(t, T) / T)) / 2
    Warmup(inner, steps)               inner(t) * (t + 1) / steps for t < steps, then inner(t)
    OneCycle(lr, total_steps, ...)     cosine up from lr / 25 to lr over 30% of the steps, then
                                       cosine down to lr / 25 / 1e4 at the last step

Being frozen records, schedules print and compare as plain values. A checkpoint
does not store the schedule itself but the run's settings (``purenet.runs.config.RunConfig``:
its name, rate, warm-up, decay), from which ``make_schedule`` builds it again.
"""

from __future__ import annotations

import math
from typing import Callable

import attrs


@attrs.frozen
class Constant:
    """The same learning rate at every step."""

    lr: float

    def __call__(self, step: int) -> float:
        return self.lr


@attrs.frozen
class StepDecay:
    """Multiply the rate by ``gamma`` every ``every`` steps (e.g. 0.5 each epoch)."""

    lr: float
    every: int
    gamma: float = 0.5

    def __call__(self, step: int) -> float:
        return self.lr * self.gamma ** (step // self.every)


@attrs.frozen
class Cosine:
    """Cosine annealing from ``lr`` at step 0 to ``final`` at ``total_steps`` (and after)."""

    lr: float
    total_steps: int
    final: float = 0.0

    def __call__(self, step: int) -> float:
        progress = min(step, self.total_steps) / max(self.total_steps, 1)
        return self.final + (self.lr - self.final) * 0.5 * (1 + math.cos(math.pi * progress))


@attrs.frozen
class Warmup:
    """Ramp linearly up to ``inner`` over the first ``steps`` steps, then follow it."""

    inner: Callable[[int], float]
    steps: int

    def __call__(self, step: int) -> float:
        scale = (step + 1) / self.steps if step < self.steps else 1.0
        return scale * self.inner(step)


@attrs.frozen
class OneCycle:
    """The one-cycle policy (Smith & Topin 2018, "Super-Convergence"), as PyTorch's ``OneCycleLR``
    with its defaults and two phases: a cosine rise from ``lr / div`` to ``lr`` over the first
    ``rise`` of the steps, then a cosine fall to ``lr / div / final_div`` at step ``total_steps - 1``
    (and after). PyTorch also cycles the momentum inversely; purenet's optimizers keep theirs fixed.
    """

    lr: float
    total_steps: int
    rise: float = attrs.field(default=0.3, validator=[attrs.validators.gt(0.0), attrs.validators.lt(1.0)])
    div: float = 25.0
    final_div: float = 1e4

    def __call__(self, step: int) -> float:
        start, low = self.lr / self.div, self.lr / self.div / self.final_div
        peak = float(self.rise * self.total_steps) - 1  # the step at the peak, as OneCycleLR counts
        last = self.total_steps - 1
        if step <= peak:
            return _cosine_between(start, self.lr, step / peak if peak > 0 else 1.0)
        return _cosine_between(self.lr, low, min(step - peak, last - peak) / max(last - peak, 1e-12))


def _cosine_between(begin: float, end: float, progress: float) -> float:
    """From ``begin`` (progress 0) to ``end`` (progress 1) along half a cosine."""
    return end + (begin - end) * 0.5 * (1 + math.cos(math.pi * progress))


def make_schedule(name: str, lr: float, *, total_steps: int, steps_per_epoch: int, warmup_epochs: float = 0.0,
                  decay_every_epochs: float = 1.0, gamma: float = 0.5) -> Callable[[int], float]:
    """The schedule called ``name`` ("constant", "step", "cosine", "onecycle"), with an optional warm-up
    (``onecycle`` has its own rise, so a warm-up on top of it is rarely wanted)."""
    inner: Callable[[int], float]
    if name == "constant":
        inner = Constant(lr)
    elif name == "step":
        inner = StepDecay(lr, every=max(1, round(decay_every_epochs * steps_per_epoch)), gamma=gamma)
    elif name == "cosine":
        inner = Cosine(lr, total_steps=total_steps)
    elif name == "onecycle":
        inner = OneCycle(lr, total_steps=total_steps)
    else:
        raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    warmup_steps = round(warmup_epochs * steps_per_epoch)
    return Warmup(inner, warmup_steps) if warmup_steps > 0 else inner


SCHEDULES = ("constant", "step", "cosine", "onecycle")
"""The names the CLI's ``--schedule`` accepts."""
