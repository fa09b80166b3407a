"""A training run as a value: ``RunConfig``, every setting of a run, checked on construction.

    RunConfig(layers=(784, 200, 10), act="sigmoid", lr=0.1, ...)   # ConfigError on a bad value
    preset("best", seed=3)                                          # a named recipe, some settings changed
    RunConfig.from_json(mapping) / config.to_json()                 # the form checkpoints store
    memory_needed(config) / available_memory()                      # refuse a run that cannot fit

Every field has the default ``purenet train`` uses. A value out of range raises
``ConfigError`` (a ``ValueError``) naming the setting, so a script and the command
line get the same one-line message: ``lr must be a finite number above 0, got nan``
(the command line prints it as ``--lr must be ...``). ``lr=None`` takes the
optimizer's default rate (``DEFAULT_LR``). ``to_json`` gives plain JSON types and
``from_json(config.to_json()) == config`` exactly.

>>> RunConfig(layers=(784, 10), optimizer="sgd").lr
0.1
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping, Sequence

import attrs

from purenet.core.activations import ACTIVATIONS
from purenet.data.augment import AugmentError, Augmenter
from purenet.core.layers import (INIT_SCHEMES, LayerListError, canonical_layers, is_width, plan_layers,
                            training_elements_per_sample, with_input_width)
from purenet.core.losses import LOSSES
from purenet.base.memory import available_memory
from purenet.base.memory import shown_bytes as _bytes
from purenet.core.optim import OPTIMIZERS
from purenet.core.schedules import SCHEDULES

DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adam": 3e-3}
"""The learning rate each optimizer gets when none is given (docs/results.md says how they were chosen)."""

OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "nesterov": 1, "adam": 2}
"""How many parameter-shaped records each optimizer keeps in its state (velocity; Adam's two moments)."""

AUGMENT_FIELDS = ("shift", "rotation", "scale", "shear", "elastic_alpha", "elastic_sigma")
"""The ``Augmenter`` fields a run's settings hold (its image shape comes from the data)."""

MILD = Augmenter(shift=1.0, rotation=8.0, scale=0.08, elastic_alpha=0.0)
"""The default augmentation: shift 1 pixel, rotate 8 degrees, scale 8% (docs/results.md)."""

AUGMENTATIONS: dict[str, Augmenter | None] = {
    "none": None,
    "mild": MILD,
    "affine": Augmenter(shift=2.0, rotation=10.0, scale=0.1, elastic_alpha=0.0),
    "elastic": Augmenter(shift=2.0, rotation=10.0, scale=0.1, elastic_alpha=34.0, elastic_sigma=4.0),
}
"""Named augmentations (``purenet train --augment NAME``); docs/results.md says where the magnitudes come from.
The elastic one is Simard, Steinkraus & Platt (2003)'s distortion on top of the affine one."""


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


MAX_WHOLE = 2**63 - 1
"""The largest whole-number setting (a NumPy int64): anything larger is a typo or tampering."""


def _whole(low: int) -> Any:
    def check(_instance, attribute, value) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_WHOLE:
            raise ConfigError(attribute.name, f"must be a whole number from {low} to {MAX_WHOLE}, got {_short(value)}")

    return check


def _short(value: Any) -> str:
    """``repr(value)``, cut short: a tampered file may hold a number of a thousand digits."""
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 200 else f"{str(value)[:12]}... ({len(str(value))} digits)"
    return text if len(text) <= 80 else text[:77] + "..."


def _check_real(name: str, value: Any, low: float, high: float = math.inf, above: bool = False) -> None:
    """``value`` must be a finite number in [low, high] (in (low, high] with ``above``)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    try:
        finite = number and math.isfinite(float(value))
    except OverflowError:  # an int beyond any float
        finite = False
    if not finite or value < low or value > high or (above and value == low):
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
            raise ConfigError("layers", f"needs at least an input and an output width, all positive, got {_short(value)}") from None
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


@attrs.frozen(kw_only=True)
class RunConfig:
    """Every setting of a training run (``purenet train``'s options that define the run).

    ``epochs`` is the length the run was planned with (a schedule such as cosine spans
    it; a resumed run may go further). ``augment`` is an ``Augmenter`` or None;
    ``data`` the absolute path of the data set, or None for the default MNIST.
    """

    layers: tuple[int | str, ...] = attrs.field(default=(784, 200, 200, 10), converter=parse_layers)
    act: str = attrs.field(default="relu", validator=_choice(ACTIVATIONS))
    loss: str = attrs.field(default="ce", validator=_choice(LOSSES))
    init: str = attrs.field(default="auto", validator=_choice(INIT_SCHEMES))
    epochs: int = attrs.field(default=20, validator=_whole(1))
    batch_size: int = attrs.field(default=128, validator=_whole(1))
    optimizer: str = attrs.field(default="adam", validator=_choice(OPTIMIZERS))
    lr: float | None = attrs.field(default=None)
    weight_decay: float = attrs.field(default=0.0, validator=_real(0.0))
    schedule: str = attrs.field(default="step", validator=_choice(SCHEDULES))
    warmup: float = attrs.field(default=0.0, validator=_real(0.0, MAX_EPOCHS))
    decay_every: float = attrs.field(default=1.0, validator=_real(0.0, MAX_EPOCHS, above=True))
    gamma: float = attrs.field(default=0.85, validator=_real(0.0, 1.0))
    dropout: float = attrs.field(default=0.0, validator=_real(0.0, 0.95))
    augment: Augmenter | None = attrs.field(default=MILD, converter=to_augmenter)
    val_fraction: float = attrs.field(default=0.0, validator=_real(0.0, 0.9))
    patience: int = attrs.field(default=0, validator=_whole(0))
    seed: int = attrs.field(default=0, validator=_whole(0))
    data: str | None = attrs.field(default=None)

    def __attrs_post_init__(self) -> None:
        if self.lr is None:
            object.__setattr__(self, "lr", DEFAULT_LR[self.optimizer])  # frozen: set once, here
        _check_real("lr", self.lr, 0.0, above=True)
        if self.patience and not self.val_fraction:
            raise ConfigError("patience", "needs a validation split: set val_fraction (--val-fraction) above 0")
        if self.data is not None and not (isinstance(self.data, str) and self.data and os.path.isabs(self.data)):
            raise ConfigError("data", f"must be an absolute path (a string), got {self.data!r}")

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
        missing = sorted(names - set(settings) - {"data"})  # older checkpoints may lack the data path
        if unknown:
            raise ConfigError("settings", f"has unknown entries {unknown}")
        if missing:
            raise ConfigError("settings", f"lack {', '.join(missing)}")
        return cls(**settings)

    @property
    def slots(self) -> int:
        """How many parameter-shaped records the optimizer keeps."""
        return OPTIMIZER_SLOTS[self.optimizer]


RUN_SETTINGS = tuple(field.name for field in attrs.fields(RunConfig))
"""The names of a run's settings, in order."""


# --- named recipes ------------------------------------------------------------------------

PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # above 99.2%: a wide network, elastic distortions and dropout against overfitting, cosine annealing
    "best": {
        "layers": (784, 1024, 1024, 10), "act": "relu", "epochs": 50, "optimizer": "adam", "lr": 1e-3,
        "schedule": "cosine", "warmup": 1.0, "dropout": 0.1, "augment": AUGMENTATIONS["elastic"],
    },
    # per-sample SGD on a sigmoid network with squared error, as in the classic "MNIST from scratch"
    # scripts purenet grew out of (one reached 92.7%): 784-200-200-10, one pass over 50,000 images
    # (a sixth held out)
    "per-sample-sigmoid": {
        "layers": (784, 200, 200, 10), "act": "sigmoid", "loss": "mse", "init": "uniform", "epochs": 1,
        "batch_size": 1, "optimizer": "sgd", "lr": 0.2, "schedule": "constant", "val_fraction": 1 / 6, "augment": None,
    },
    # a convolutional network: Nielsen's chapter 6 layers (20 and 40 filters of 5x5, each followed by
    # 2x2 max pooling, 100 ReLU units) trained with Adam and mild augmentation
    "cnn": {
        "layers": (784, "conv20k5valid", "maxpool2", "conv40k5valid", "maxpool2", 100, 10), "act": "relu",
        "epochs": 12, "optimizer": "adam", "lr": 1e-3, "schedule": "cosine", "augment": MILD,
    },
    # wider convolutions, a dropout layer before the output, affine augmentation and more epochs
    "cnn-best": {
        "layers": (784, "conv32k5valid", "maxpool2", "conv64k5valid", "maxpool2", 256, "dropout0.5", 10),
        "act": "relu", "epochs": 30, "optimizer": "adam", "lr": 1e-3, "schedule": "cosine", "warmup": 1.0,
        "augment": AUGMENTATIONS["affine"],
    },
    # softmax regression (no hidden layer, the first model of most MNIST tutorials), per-sample SGD with rate 0.01
    "softmax-regression": {
        "layers": (784, 10), "act": "identity", "epochs": 1, "batch_size": 1, "optimizer": "sgd", "lr": 0.01,
        "schedule": "constant", "augment": None,
    },
}
"""Named recipes: the settings each changes from RunConfig's defaults (docs/results.md: command, time, accuracy)."""

PRESET_ALIASES = {"seed-92.7": "per-sample-sigmoid"}
"""Former names of recipes, still accepted so that older commands and scripts keep working."""


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
    (``training_elements_per_sample``) and the augmentation's (five images of floats)."""
    augment = 5 * int(config.layers[0]) if config.augment is not None else 0
    return training_elements_per_sample(tuple(config.layers)) + augment


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
