"""A training run as a value: ``RunConfig``, every setting of a run, checked on construction.

    RunConfig(layers=(784, 200, 10), act="sigmoid", lr=0.1, ...)   # ConfigError on a bad value
    preset("best", seed=3)                                          # a named recipe, some settings changed
    RunConfig.from_json(mapping) / config.to_json()                 # the form checkpoints store
    memory_needed(config) / available_memory()                      # refuse a run that cannot fit

Every field has the default ``purenet train`` uses. A value out of range raises
``ConfigError`` (a ``ValueError``) naming the setting, so a script and the command
line get the same one-line message: ``lr must be a finite number above 0, got nan``
(the command line prints it as ``--lr must be ...``). ``lr=None`` takes the
optimizer's default rate for a run (``purenet.core.lr_defaults.DEFAULT_LR``).
``to_json`` gives plain JSON types and ``from_json(config.to_json()) == config`` exactly.

>>> RunConfig(layers=(784, 10), optimizer="sgd").lr
0.1
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping, Sequence

import attrs

from purenet.base.checks import MAX_WHOLE, is_real, is_whole, shown
from purenet.base.memory import available_memory
from purenet.base.memory import shown_bytes as _bytes
from purenet.core.activations import ACTIVATIONS
from purenet.core.layers import (
    INIT_SCHEMES,
    LayerListError,
    canonical_layers,
    is_width,
    place_dropout,
    plan_layers,
    training_elements_per_sample,
    with_input_width,
)
from purenet.core.losses import LOSSES
from purenet.core.lr_defaults import DEFAULT_LR
from purenet.core.optim import OPTIMIZERS
from purenet.core.schedules import SCHEDULES
from purenet.data.augment import Augmenter, AugmentError
from purenet.data.named import DATASETS
from purenet.runs.settings import AUGMENTATION_MAGNITUDES, DEFAULTS, PRESET_ALIASES, RECIPES, SETTINGS, check_choices

AUGMENT_FIELDS = ("shift", "rotation", "scale", "shear", "elastic_alpha", "elastic_sigma")
"""The ``Augmenter`` fields a run's settings hold (its image shape comes from the data)."""

AUGMENTATIONS: dict[str, Augmenter | None] = {
    name: None if fields is None else Augmenter(**fields) for name, fields in AUGMENTATION_MAGNITUDES.items()
}
"""Named augmentations (``purenet train --augment NAME``), made of purenet.runs.settings' magnitudes."""

MILD = AUGMENTATIONS["mild"]
"""The default augmentation: shift 1 pixel, rotate 8 degrees, scale 8% (docs/results.md)."""

check_choices({"act": ACTIVATIONS, "loss": LOSSES, "init": INIT_SCHEMES, "optimizer": OPTIMIZERS, "schedule": SCHEDULES})
# the command line's lists of names (purenet.runs.settings) hold the registries' names


class ConfigError(ValueError):
    """A run setting is missing or out of range; ``field`` names it, ``problem`` says what is wrong.

    The message is ``{before}{field} {problem}``: ``before`` says what came first where the
    setting is not the subject (``data.npz: images have 400 pixels but layers starts with
    784``), so that a program with other names for the settings (the command line's
    ``--layers``) can say the same with its own.
    """

    def __init__(self, field: str, problem: str, before: str = "") -> None:
        super().__init__(f"{before}{field} {problem}")
        self.field, self.problem, self.before = field, problem, before


# --- validators: each names the setting and says what it must be ---------------------------


def _choice(choices) -> Any:
    def check(_instance, attribute, value) -> None:
        if value not in choices:
            raise ConfigError(attribute.name, f"{value!r} is not one of: {', '.join(choices)}")

    return check


def _whole(low: int) -> Any:
    def check(_instance, attribute, value) -> None:
        if not is_whole(value, low, MAX_WHOLE):
            raise ConfigError(attribute.name, f"must be a whole number from {low} to {MAX_WHOLE}, got {_short(value)}")

    return check


_short = shown  # a value in a message, cut short: a tampered file may hold a number of a thousand digits


def _check_real(name: str, value: Any, low: float, high: float = math.inf, above: bool = False) -> None:
    """``value`` must be a finite number in [low, high] (in (low, high] with ``above``)."""
    if not is_real(value) or value < low or value > high or (above and value == low):
        bound = f"above {low:g}" if above else f">= {low:g}"
        limit = "" if high == math.inf else f" and at most {high:g}"
        raise ConfigError(name, f"must be a finite number {bound}{limit}, got {_short(value)}")


def _real(low: float, high: float = math.inf, *, above: bool = False) -> Any:
    def check(_instance, attribute, value) -> None:
        _check_real(attribute.name, value, low, high, above)

    return check


def parse_layers(value: str | Sequence[int | str]) -> tuple[int | str, ...]:
    """'784,200,10' or [784, 200, 10] -> (784, 200, 10); '784,conv32k5,pool2,10' ->
    (784, 'conv32k5', 'maxpool2', 10) (each token in its canonical spelling). A list
    that starts with a layer rather than a width reads 28x28 images: 'conv32k5,pool2,10'
    is '784,conv32k5,pool2,10'.

    ConfigError names the first item that is not a layer, or that does not fit the
    layers before it, by its 1-based position in the list as written.
    """
    parts = value.replace(" ", "").split(",") if isinstance(value, str) else value
    if isinstance(parts, (bytes, Mapping)) or not isinstance(parts, Sequence) or any(isinstance(p, (bool, float)) for p in parts):
        raise ConfigError("layers", f"must be comma-separated widths and layer names such as 784,200,10, got {_short(value)}")
    for position, part in enumerate(parts, start=1):
        if isinstance(part, str) and not part.isascii():  # int() and the layer patterns take '٧٨٤' or '７' as digits
            raise ConfigError("layers", f"item {position}, {part}: not a layer; write it with the digits 0-9 and plain letters")
    widths_only = all(is_width(p) for p in parts)
    parts, added = with_input_width(parts)
    if len(parts) < 2:
        raise ConfigError("layers", f"needs at least an input and an output width, got {_short(value)}")
    try:
        tokens = canonical_layers(parts)
        plan_layers(tokens)  # bounds every layer's fields (purenet.core.layers.base)
    except LayerListError as error:
        if widths_only and error.problem.startswith("not a layer"):  # a negative width
            raise ConfigError("layers", "needs at least an input and an output width, all positive, "
                                        f"got {_short(value)}") from None
        raise ConfigError("layers", f"item {error.position - added}, {error.token}: {error.problem}") from None
    return tokens


def to_augmenter(value: Augmenter | Mapping[str, float] | None) -> Augmenter | None:
    """None, an Augmenter, or a mapping of some of its fields (the rest take its defaults).

    The fields are checked by ``Augmenter`` itself (``purenet.data.augment.RANGES``), its
    ``AugmentError`` made a ``ConfigError`` naming the same field."""
    if value is None:
        return None
    if isinstance(value, Augmenter):
        value = augment_fields(value)
    if not isinstance(value, Mapping):
        raise ConfigError("augment", f"must be None, an Augmenter or a mapping of its fields, got {value!r}")
    unknown = sorted(set(value) - set(AUGMENT_FIELDS))
    if unknown:
        raise ConfigError("augment", f"has unknown fields {unknown}; known: {', '.join(AUGMENT_FIELDS)}")
    try:
        return Augmenter(**value)
    except AugmentError as error:
        raise ConfigError(error.field, error.problem) from None


def augment_fields(augmenter: Augmenter) -> dict[str, float]:
    """The fields of ``augmenter`` a run's settings hold (all but the image shape)."""
    return {name: getattr(augmenter, name) for name in AUGMENT_FIELDS}


MAX_EPOCHS = 1e9
"""Bound of the settings counted in (fractional) epochs, so that epochs times steps stays an int."""


# --- the record ---------------------------------------------------------------------------


def _low(name: str) -> int:
    """The least value of a whole-number setting, as purenet.runs.settings states it."""
    low = SETTINGS[name].low
    if low is None:
        raise ValueError(f"purenet.runs.settings states no least value for {name}")
    return int(low)


def _range(name: str) -> tuple[float, float]:
    """The range of a number setting, as purenet.runs.settings states it."""
    low, high = SETTINGS[name].low, SETTINGS[name].high
    if low is None or high is None:
        raise ValueError(f"purenet.runs.settings states no range for {name}")
    return low, high


@attrs.frozen(kw_only=True)
class RunConfig:
    """Every setting of a training run (``purenet train``'s options that define the run).

    ``epochs`` is the length the run was planned with (a schedule such as cosine or onecycle spans
    it; a resumed run may go further). ``dropout`` is a shorthand for Dropout layers:
    the network is built from ``network_layers``, ``layers`` with one after every hidden
    dense layer. ``augment`` is an ``Augmenter`` or None; ``data`` the absolute path of
    the data set, a data set's name (``purenet.data.named.DATASETS``), or None for the
    default MNIST. The defaults, and the ranges the command line states, are purenet.runs.settings'.
    """

    layers: tuple[int | str, ...] = attrs.field(default=DEFAULTS["layers"], converter=parse_layers)
    act: str = attrs.field(default=DEFAULTS["act"], validator=_choice(ACTIVATIONS))
    loss: str = attrs.field(default=DEFAULTS["loss"], validator=_choice(LOSSES))
    init: str = attrs.field(default=DEFAULTS["init"], validator=_choice(INIT_SCHEMES))
    epochs: int = attrs.field(default=DEFAULTS["epochs"], validator=_whole(_low("epochs")))
    batch_size: int = attrs.field(default=DEFAULTS["batch_size"], validator=_whole(_low("batch_size")))
    optimizer: str = attrs.field(default=DEFAULTS["optimizer"], validator=_choice(OPTIMIZERS))
    lr: float | None = attrs.field(default=DEFAULTS["lr"])
    weight_decay: float = attrs.field(default=DEFAULTS["weight_decay"], validator=_real(0.0))
    schedule: str = attrs.field(default=DEFAULTS["schedule"], validator=_choice(SCHEDULES))
    warmup: float = attrs.field(default=DEFAULTS["warmup"], validator=_real(0.0, MAX_EPOCHS))
    decay_every: float = attrs.field(default=DEFAULTS["decay_every"], validator=_real(0.0, MAX_EPOCHS, above=True))
    gamma: float = attrs.field(default=DEFAULTS["gamma"], validator=_real(*_range("gamma")))
    dropout: float = attrs.field(default=DEFAULTS["dropout"], validator=_real(*_range("dropout")))
    label_smoothing: float = attrs.field(default=DEFAULTS["label_smoothing"], validator=_real(*_range("label_smoothing")))
    augment: Augmenter | None = attrs.field(default=AUGMENTATIONS[DEFAULTS["augment"]], converter=to_augmenter)
    val_fraction: float = attrs.field(default=DEFAULTS["val_fraction"], validator=_real(*_range("val_fraction")))
    patience: int = attrs.field(default=DEFAULTS["patience"], validator=_whole(_low("patience")))
    seed: int = attrs.field(default=DEFAULTS["seed"], validator=_whole(_low("seed")))
    data: str | None = attrs.field(default=DEFAULTS["data"])

    def __attrs_post_init__(self) -> None:
        if self.lr is None:
            object.__setattr__(self, "lr", DEFAULT_LR[self.optimizer].run)  # frozen: set once, here
        _check_real("lr", self.lr, 0.0, above=True)
        if self.label_smoothing and not LOSSES[self.loss].smooths:
            raise ConfigError("label_smoothing", f"needs the ce loss, not {self.loss}")
        if self.patience and not self.val_fraction:
            raise ConfigError("patience", "needs a validation split: set val_fraction (--val-fraction) above 0")
        if self.data is not None and not (isinstance(self.data, str) and self.data
                                          and (os.path.isabs(self.data) or self.data in DATASETS)):
            raise ConfigError("data", f"must be an absolute path or a data set's name ({', '.join(DATASETS)}), got {self.data!r}")

    def to_json(self) -> dict[str, Any]:
        """The settings as plain JSON types (what a checkpoint stores)."""
        settings = attrs.asdict(self, recurse=False)
        settings["layers"] = list(self.layers)
        settings["augment"] = None if self.augment is None else augment_fields(self.augment)
        return settings

    @classmethod
    def from_json(cls, settings: Mapping[str, Any]) -> RunConfig:
        """The config ``to_json`` gave, checked: every setting present, no unknown one."""
        if not isinstance(settings, Mapping):
            raise ConfigError("settings", f"must be a JSON object, got {type(settings).__name__}")
        names = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(settings) - names)
        missing = sorted(names - set(settings) - OPTIONAL_IN_JSON)
        if unknown:
            raise ConfigError("settings", f"has unknown entries {unknown}")
        if missing:
            raise ConfigError("settings", f"lack {', '.join(missing)}")
        return cls(**settings)

    @property
    def network_layers(self) -> tuple[int | str, ...]:
        """The layer list the run's network is built from: ``layers``, with a ``dropout<p>``
        layer after every hidden dense layer when ``dropout`` is p > 0 (``place_dropout``)."""
        return place_dropout(self.layers, self.dropout)

    @property
    def slots(self) -> int:
        """How many parameter-shaped records the optimizer keeps (the slots its ``init`` makes)."""
        return len(OPTIMIZERS[self.optimizer].SLOTS)


OPTIONAL_IN_JSON = frozenset({"data", "label_smoothing"})
"""Settings older checkpoints may lack (the data path; label smoothing, added in 0.3: 0.0 then)."""

RUN_SETTINGS = tuple(field.name for field in attrs.fields(RunConfig))
"""The names of a run's settings, in order."""


# --- named recipes ------------------------------------------------------------------------

PRESETS: dict[str, dict[str, Any]] = {
    name: {**recipe, **({"augment": AUGMENTATIONS[recipe["augment"]]} if "augment" in recipe else {})}
    for name, recipe in RECIPES.items()
}
"""Named recipes: the settings each changes from RunConfig's defaults (purenet.runs.settings'
``RECIPES``, each augmentation an ``Augmenter``; docs/results.md: command, time, accuracy).
``PRESET_ALIASES`` holds former names of recipes, still accepted."""


def preset(name: str, **changes: Any) -> RunConfig:
    """The recipe ``name`` of ``PRESETS`` as a RunConfig, with ``changes`` on top.

    >>> preset("best", seed=3, epochs=2).layers
    (784, 1024, 1024, 10)
    """
    name = PRESET_ALIASES.get(name, name)
    if name not in PRESETS:
        raise ConfigError("preset", f"{name!r} is not one of: {', '.join(PRESETS)}")
    return RunConfig(**{**PRESETS[name], **changes})


# --- will it fit? -------------------------------------------------------------------------


def parameter_count(layers: Sequence[int | str]) -> int:
    """Learned scalars of a network with layer list ``layers`` (canonical, as ``parse_layers`` returns)."""
    return sum(math.prod(shape) for planned in plan_layers(tuple(layers)) for shape in planned.plan.shapes.values())


def parameter_copies(config: RunConfig) -> int:
    """How many parameter-sized arrays a training run holds at the peak of a step: the
    params, their gradients and the new params; the optimizer's slots, old and new (Adam
    also its direction); the checkpoint of the last epoch (params and slots), kept until
    the next is saved; the best epoch's params under early stopping."""
    slots = config.slots
    return 3 + 2 * slots + (1 if slots == 2 else 0) + 1 + slots + (1 if config.patience else 0)


def sample_elements(config: RunConfig) -> int:
    """Numbers one sample of a batch costs at the peak of a training step: the layers' work
    (``training_elements_per_sample``, the Dropout layers ``dropout`` places included) and
    the augmentation's (five images of floats)."""
    augment = 5 * int(config.layers[0]) if config.augment is not None else 0
    return training_elements_per_sample(config.network_layers) + augment


def memory_needed(config: RunConfig, samples: int | None = None, itemsize: int = 4) -> int:
    """Bytes a run needs beyond its data and what the process already holds: a floor of
    its peak, within a small factor of what it really takes (docs/reliability.md has the
    measurements), to refuse a run that cannot fit instead of being killed in it.

    ``parameter_copies`` copies of the params, and a batch of ``sample_elements`` each.
    """
    batch = min(config.batch_size, samples) if samples else config.batch_size
    return itemsize * (parameter_copies(config) * parameter_count(config.layers) + batch * sample_elements(config))


def check_fits(config: RunConfig, samples: int | None = None, itemsize: int = 4) -> None:
    """Raise ``ConfigError`` when the run cannot fit in the memory available, naming the
    setting that makes the difference: "layers" when even one image at a time does not fit
    (the parameters, or one image's activations, are the problem), else "batch_size",
    with the largest batch that fits."""
    needed, available = memory_needed(config, samples, itemsize), available_memory()
    if available is None or needed <= available:
        return
    weights = itemsize * parameter_copies(config) * parameter_count(config.layers)
    per_image = itemsize * sample_elements(config)
    layers = ",".join(map(str, config.layers))
    parts = (f"{parameter_count(config.layers):,} parameters with {config.optimizer}'s state take {_bytes(weights)}, "
             f"one image's activations {_bytes(per_image)}")
    if weights + per_image > available:
        raise ConfigError("layers", f"{layers}: training needs at least {_bytes(weights + per_image)} of memory even "
                                    f"one image at a time ({parts}); {_bytes(available)} is available")
    fits = (available - weights) // per_image
    raise ConfigError("batch_size", f"{config.batch_size}: training {layers} with it needs at least {_bytes(needed)} "
                                    f"of memory ({parts}); {_bytes(available)} is available, enough for a batch of {fits:,}")
