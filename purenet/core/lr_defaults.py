"""Each optimizer's default learning rate: one table, read by the optimizer classes and by runs.

    DEFAULT_LR["adam"].constant   1e-3   Adam() without lr: a constant rate
    DEFAULT_LR["adam"].run        3e-3   RunConfig(lr=None), what ``purenet train`` starts from

The two columns answer two questions. A class built without ``lr`` steps at that
rate for ever, so it takes the rate the update rule is known to work with (Adam:
Kingma & Ba's 1e-3). A run's rate is the first of its schedule, which by default
multiplies it by 0.85 after every epoch, so over 20 epochs the run steps at about a
third of it on average: 3e-3 there averages 0.96e-3, Adam's constant 1e-3 again.
docs/results.md ("The default recipe, and why") gives the runs behind each value.

This module imports nothing (no numpy), so that the command line can show the table
in its help without loading the library.
"""

from __future__ import annotations

from typing import NamedTuple


class DefaultLR(NamedTuple):
    """An optimizer's default learning rate: as a constant, and as a run's starting rate."""

    constant: float
    run: float


_MOMENTUM = DefaultLR(constant=0.1, run=0.05)  # Nesterov momentum is momentum with a look-ahead: the same rates

DEFAULT_LR: dict[str, DefaultLR] = {
    "sgd": DefaultLR(constant=0.1, run=0.1),
    "momentum": _MOMENTUM,
    "nesterov": _MOMENTUM,
    "adam": DefaultLR(constant=1e-3, run=3e-3),
}
"""The default learning rates by optimizer name (the names ``purenet.core.optim.OPTIMIZERS`` uses)."""
