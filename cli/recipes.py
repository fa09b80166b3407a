"""From ``purenet train``'s options to a ``RunConfig``: names only, the library checks the values.

A run is fully described by its ``RunConfig`` (``purenet.runs.config``), and the named
recipes (``--preset``) and augmentations (``--augment``) are the library's
``PRESETS`` and ``AUGMENTATIONS``. This module only translates the options a user
typed into settings, and the library's ``ConfigError`` back into the option's name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Optional

import attrs

from purenet.data.augment import Augmenter
from purenet.runs.config import (
    AUGMENTATIONS,
    PRESET_ALIASES,
    PRESETS,
    ConfigError,
    RunConfig,
    augment_fields,
    preset,
    to_augmenter,
)
from purenet.runs.settings import SETTINGS

if TYPE_CHECKING:
    from purenet.cli.app import TrainRequest

PLAIN_OPTIONS = tuple(name for name in SETTINGS if name not in ("augment", "data"))
"""Options that are RunConfig fields of the same name and value (--augment names an augmentation
that the magnitude options change; --data is a path made absolute, and says where, not what)."""

AUGMENT_OPTIONS = ("shift", "rotation", "scale", "elastic_alpha")
"""Options that change one magnitude of the chosen augmentation."""

RUN_OPTIONS = (*PLAIN_OPTIONS, "augment", *AUGMENT_OPTIONS, "preset")
"""Every option that defines the run (the others say where to save it and what to show)."""


def option_name(field: str) -> str:
    """The command-line option for a RunConfig field: 'val_fraction' -> '--val-fraction'."""
    return "--" + field.replace("_", "-")


def config_error_message(error: ConfigError) -> str:
    """The library's ConfigError, in the words of the options the user typed."""
    return f"{error.before}{option_name(error.field)} {error.problem}"


def config_from_options(request: TrainRequest, explicit: frozenset[str]) -> RunConfig:
    """A new run's config: the --preset's recipe with the options the user typed on top."""
    name = PRESET_ALIASES.get(request.preset, request.preset)
    if name not in PRESETS:
        raise ConfigError("preset", f"{name!r} is not one of: {', '.join(PRESETS)}")
    changes = _typed(request, explicit)
    if explicit & {"augment", *AUGMENT_OPTIONS}:
        base = PRESETS[name].get("augment", RunConfig().augment)
        changes["augment"] = _augmenter(request, [n for n in AUGMENT_OPTIONS if n in explicit], base, "augment" in explicit)
    return preset(name, **changes)


def resumed_config(config: RunConfig, request: TrainRequest, explicit: frozenset[str]) -> tuple[RunConfig, list[str]]:
    """The saved ``config`` with the options the user typed applied, and those that change it.

    A resumed run keeps its settings, so every changed setting is a conflict the caller
    refuses; the same value typed again is no conflict. ``--preset`` counts as typing
    each of its settings. Returns (the config as the options would make it, conflicts).
    """
    given = set(explicit) & set(RUN_OPTIONS) - {"epochs"}
    changes: dict[str, Any] = {}
    if "preset" in given:
        name = PRESET_ALIASES.get(request.preset, request.preset)
        if name not in PRESETS:
            raise ConfigError("preset", f"{name!r} is not one of: {', '.join(PRESETS)}")
        changes = {k: v for k, v in PRESETS[name].items() if k != "epochs"}
    changes.update(_typed(request, frozenset(given)))
    if given & {"augment", *AUGMENT_OPTIONS}:
        base = changes.get("augment", config.augment)
        changes["augment"] = _augmenter(request, [n for n in AUGMENT_OPTIONS if n in given], base, "augment" in given)
    wanted = attrs.evolve(config, **changes)
    conflicts = [name for name in changes if getattr(wanted, name) != getattr(config, name)]
    return wanted, conflicts


def _typed(request: TrainRequest, explicit: frozenset[str]) -> dict[str, Any]:
    """The plain settings the user typed (a typed --lr of None means: the optimizer's default)."""
    typed = {name: getattr(request, name) for name in PLAIN_OPTIONS if name in explicit}
    return {name: value for name, value in typed.items() if value is not None}


def _augmenter(request: TrainRequest, magnitudes: Iterable[str], base: Optional[Augmenter], named: bool) -> Optional[Augmenter]:
    """The augmentation --augment names (or ``base``), with the magnitude options given applied."""
    if named:
        if request.augment not in AUGMENTATIONS:
            raise ConfigError("augment", f"{request.augment!r} is not one of: {', '.join(AUGMENTATIONS)}")
        base = AUGMENTATIONS[request.augment]
    overrides = {name: getattr(request, name) for name in magnitudes if getattr(request, name) is not None}
    if base is None:
        if overrides:
            raise ConfigError(next(iter(overrides)), "changes the augmentation, but --augment is none")
        return None
    return to_augmenter({**augment_fields(base), **overrides})


def show_presets(json_output: bool) -> None:
    """``purenet presets``: each recipe and the settings it changes from the defaults, one line
    each (with --json, every recipe's full ``RunConfig.to_json()``, aliases under their names)."""
    import json

    if json_output:
        print(json.dumps({name: preset(name).to_json() for name in PRESETS}))
        return
    defaults = RunConfig().to_json()
    width = max(map(len, PRESETS))
    for name in PRESETS:
        settings = preset(name).to_json()
        changed = [f"{key} {in_words(value)}" for key, value in settings.items() if value != defaults[key]]
        former = [alias for alias, target in PRESET_ALIASES.items() if target == name]
        also = f" (formerly {', '.join(former)})" if former else ""
        print(f"{name:<{width}}  {'; '.join(changed) or 'the defaults (purenet train --dry-run shows them)'}{also}")


def in_words(value: Any) -> str:
    """A setting of ``RunConfig.to_json()`` as the command line writes it: ``784,200,10``, ``none``."""
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return "(" + ", ".join(f"{key} {number:g}" for key, number in value.items()) + ")"
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)
