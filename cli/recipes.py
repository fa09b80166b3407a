"""From ``purenet train``'s options to a ``RunConfig``, and from a config to library objects.

A run is fully described by its ``RunConfig`` (``purenet.config``), saved in every
checkpoint, so ``--resume`` rebuilds exactly the same optimizer, schedule and
augmentation. A *preset* is a named set of option values; options given on the
command line win over the preset's. The library checks every value; this module
only translates option names to settings and the library's ``ConfigError`` to
the option the user typed.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

import attrs

from purenet.augment import Augmenter
from purenet.config import MILD, ConfigError, RunConfig, augment_fields, to_augmenter
from purenet.optim import Optimizer, make_optimizer
from purenet.schedules import make_schedule

AUGMENTS: dict[str, Optional[Augmenter]] = {
    "none": None,
    "mild": MILD,
    "affine": Augmenter(shift=2.0, rotation=10.0, scale=0.1, elastic_alpha=0.0),
    "elastic": Augmenter(shift=2.0, rotation=10.0, scale=0.1, elastic_alpha=34.0, elastic_sigma=4.0),
}
"""The --augment choices (docs/results.md says where the magnitudes come from)."""

AUGMENT_OPTIONS = ("shift", "rotation", "scale", "elastic_alpha")
"""Options that change one magnitude of the chosen augmentation."""

PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "best": {  # >= 99.2%: a wide net, elastic distortions and dropout against overfitting, cosine annealing
        "layers": "784,1024,1024,10", "act": "relu", "epochs": 50, "optimizer": "adam", "lr": 1e-3,
        "schedule": "cosine", "warmup": 1.0, "dropout": 0.1, "augment": "elastic",
    },
    "seed-92.7": {  # the 92.7% script: 784-200-200-10 sigmoid, squared error, per-sample SGD, one pass over 50,000
        "layers": "784,200,200,10", "act": "sigmoid", "loss": "mse", "init": "uniform", "epochs": 1,
        "batch_size": 1, "optimizer": "sgd", "lr": 0.2, "schedule": "constant", "val_fraction": 1 / 6, "augment": "none",
    },
    "softmax-regression": {  # the softmax-regression script: 784-10, per-sample SGD, lr 0.01
        "layers": "784,10", "act": "identity", "epochs": 1, "batch_size": 1, "optimizer": "sgd", "lr": 0.01,
        "schedule": "constant", "augment": "none",
    },
}
"""Named recipes; docs/results.md gives each one's command, time and accuracy."""

PLAIN_OPTIONS = (
    "layers", "act", "loss", "init", "epochs", "batch_size", "optimizer", "lr", "weight_decay", "schedule",
    "warmup", "decay_every", "gamma", "dropout", "val_fraction", "patience", "seed",
)
"""Options that are RunConfig fields of the same name."""

RUN_OPTIONS = (*PLAIN_OPTIONS, "augment", *AUGMENT_OPTIONS, "preset")
"""Every option that defines the run (the others say where to save it and what to show)."""


def option_name(field: str) -> str:
    """The command-line option for a RunConfig field: 'val_fraction' -> '--val-fraction'."""
    return "--" + field.replace("_", "-")


def config_error_message(error: ConfigError) -> str:
    """The library's ConfigError, in the words of the options the user typed."""
    return f"{option_name(error.field)} {error.problem}"


def apply_preset(options: dict[str, Any], preset: str, explicit: frozenset[str]) -> dict[str, Any]:
    """``options`` with the preset's values, except where the user gave the option."""
    if preset not in PRESETS:
        raise ConfigError("preset", f"{preset!r} is not one of: {', '.join(PRESETS)}")
    return {**options, **{k: v for k, v in PRESETS[preset].items() if k not in explicit}}


def config_from_options(options: dict[str, Any], explicit: frozenset[str]) -> RunConfig:
    """A new run's config: the preset applied, then every option translated; ConfigError if bad."""
    recipe = apply_preset(options, options["preset"], explicit)
    fields = {name: recipe[name] for name in PLAIN_OPTIONS}
    fields["augment"] = _augmenter(recipe, AUGMENT_OPTIONS, base=None)
    return RunConfig(**fields)


def resumed_config(config: RunConfig, options: dict[str, Any], explicit: frozenset[str]) -> tuple[RunConfig, list[str]]:
    """The saved ``config`` with the options the user typed applied, and those that change it.

    A resumed run keeps its settings, so every changed setting is a conflict the caller
    refuses; the same value typed again is no conflict. ``--preset`` counts as typing
    each of its options. Returns (the config as the options would make it, conflicts).
    """
    given = set(explicit) & set(RUN_OPTIONS) - {"epochs"}
    if "preset" in given:
        options = apply_preset(options, options["preset"], frozenset(explicit))
        given |= set(PRESETS[options["preset"]]) - {"epochs"}
    changes: dict[str, Any] = {name: options[name] for name in PLAIN_OPTIONS if name in given}
    if "lr" in changes and changes["lr"] is None:
        del changes["lr"]
    if given & {"augment", *AUGMENT_OPTIONS}:
        changes["augment"] = _augmenter(options, [n for n in AUGMENT_OPTIONS if n in given], base=config.augment,
                                        named="augment" in given)
    wanted = attrs.evolve(config, **changes)
    conflicts = [name for name in changes if getattr(wanted, name) != getattr(config, name)]
    return wanted, conflicts


def _augmenter(options: dict[str, Any], magnitudes: Iterable[str], base: Optional[Augmenter], named: bool = True) -> Optional[Augmenter]:
    """The augmentation --augment names (or ``base``), with the magnitude options given applied."""
    choice = options["augment"]
    if named and choice not in AUGMENTS:
        raise ConfigError("augment", f"{choice!r} is not one of: {', '.join(AUGMENTS)}")
    augmenter = AUGMENTS[choice] if named else base
    overrides = {name: options[name] for name in magnitudes if options.get(name) is not None}
    if augmenter is None:
        if overrides:
            raise ConfigError(next(iter(overrides)), "changes the augmentation, but --augment is none")
        return None
    return to_augmenter({**augment_fields(augmenter), **overrides})


def make_augmenter(config: RunConfig, image_shape: tuple[int, int]) -> Optional[Augmenter]:
    """The run's augmentation for images of ``image_shape`` (rows, columns), or None."""
    return None if config.augment is None else attrs.evolve(config.augment, shape=image_shape)


def make_run_optimizer(config: RunConfig, steps_per_epoch: int) -> Optimizer:
    """The optimizer of the run, its learning rate following the run's schedule.

    The schedule spans the epochs the run was started with (``config.epochs``), so a
    resumed run continues the same schedule; past its end the rate stays at its last value.
    """
    schedule = make_schedule(
        config.schedule, config.lr, total_steps=config.epochs * steps_per_epoch,
        steps_per_epoch=steps_per_epoch, warmup_epochs=config.warmup,
        decay_every_epochs=config.decay_every, gamma=config.gamma,
    )
    return make_optimizer(config.optimizer, schedule, config.weight_decay)
