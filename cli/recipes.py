"""From ``purenet train``'s options to a run's settings, and from settings to library objects.

A run is fully described by its *settings*, a JSON-able dict saved in every
checkpoint, so ``--resume`` rebuilds exactly the same optimizer, schedule and
augmentation. A *preset* is a named set of option values; options given on the
command line win over the preset's.
"""

from __future__ import annotations

from typing import Any, Optional

from purenet.augment import Augmenter
from purenet.optim import Optimizer, make_optimizer
from purenet.schedules import SCHEDULES, make_schedule

DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adam": 3e-3}

# the options that define a run; --resume takes them from the checkpoint
RUN_SETTINGS = (
    "layers", "act", "loss", "init", "epochs", "batch_size", "lr", "optimizer", "weight_decay", "seed",
    "val_fraction", "schedule", "warmup", "decay_every", "gamma", "dropout", "patience", "augment",
)

AUGMENTS = {
    "none": None,
    "mild": {"shift": 1.0, "rotation": 8.0, "scale": 0.08, "elastic_alpha": 0.0},
    "affine": {"shift": 2.0, "rotation": 10.0, "scale": 0.1, "elastic_alpha": 0.0},
    "elastic": {"shift": 2.0, "rotation": 10.0, "scale": 0.1, "elastic_alpha": 34.0, "elastic_sigma": 4.0},
}
"""The --augment choices, as Augmenter fields (docs/results.md says where the magnitudes come from)."""

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


def apply_preset(options: dict[str, Any], preset: str, explicit: frozenset[str]) -> dict[str, Any]:
    """``options`` with the preset's values, except where the user gave the option."""
    if preset not in PRESETS:
        raise ValueError(f"--preset {preset!r} is not one of: {', '.join(PRESETS)}")
    return {**options, **{k: v for k, v in PRESETS[preset].items() if k not in explicit}}


def settings_from(options: dict[str, Any]) -> dict[str, Any]:
    """The run's settings from its options: checked names, parsed layers, the lr filled in."""
    settings = {name: options[name] for name in RUN_SETTINGS}
    if settings["lr"] is None:
        settings["lr"] = DEFAULT_LR[settings["optimizer"]]
    if settings["schedule"] not in SCHEDULES:
        raise ValueError(f"--schedule {settings['schedule']!r} is not one of: {', '.join(SCHEDULES)}")
    settings["augment"] = augment_settings(options)
    if settings["patience"] and not settings["val_fraction"]:
        raise ValueError("--patience needs a validation split: add --val-fraction (e.g. 0.1)")
    return settings


def augment_settings(options: dict[str, Any]) -> Optional[dict[str, float]]:
    """The Augmenter fields for --augment and its magnitude options, or None for no augmentation."""
    if options["augment"] not in AUGMENTS:
        raise ValueError(f"--augment {options['augment']!r} is not one of: {', '.join(AUGMENTS)}")
    fields = AUGMENTS[options["augment"]]
    if fields is None:
        return None
    overrides = {name: options[name] for name in ("shift", "rotation", "scale", "elastic_alpha") if options.get(name) is not None}
    return {**fields, **overrides}


def make_augmenter(settings: dict[str, Any]) -> Optional[Augmenter]:
    return None if settings["augment"] is None else Augmenter(**settings["augment"])


def make_run_optimizer(settings: dict[str, Any], steps_per_epoch: int) -> Optimizer:
    """The optimizer of the run, its learning rate following the run's schedule.

    The schedule spans the epochs the run was started with (``settings["epochs"]``), so
    a resumed run continues the same schedule; past its end the rate stays at its last value.
    """
    schedule = make_schedule(
        settings["schedule"], settings["lr"], total_steps=settings["epochs"] * steps_per_epoch,
        steps_per_epoch=steps_per_epoch, warmup_epochs=settings["warmup"],
        decay_every_epochs=settings["decay_every"], gamma=settings["gamma"],
    )
    return make_optimizer(settings["optimizer"], schedule, settings["weight_decay"])
