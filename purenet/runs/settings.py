"""A run's settings as plain data: each one's default, what it does, the names or range it accepts.

    SETTINGS["act"].default             'relu': RunConfig's field default (purenet.runs.config)
    SETTINGS["act"].choices             ('sigmoid', 'relu', ...), in the order --help lists them
    SETTINGS["gamma"].help              'With --schedule step: the factor of each decay (0 to 1).'
    AUGMENTATION_MAGNITUDES["mild"]     a named augmentation's fields (config makes an Augmenter of them)
    RECIPES["best"]                     a named recipe (config's PRESETS["best"], its augmentation made)

Each of these facts is written here once. ``RunConfig`` takes its defaults and
ranges from this table, and ``purenet train`` its options' defaults, help and
choices; the command line reads it at start-up, which is why this module imports
nothing but the standard library (``purenet --help`` must not wait for numpy).

For the same reason the names a choice accepts are listed here, not read from the
registries they name (``ACTIVATIONS`` in ``purenet.core.activations`` and the like
import numpy, and, a floor below, cannot be built from this table). ``purenet.runs.config`` checks
at import that each list holds its registry's names (``check_choices``), so a name
added to one and not the other stops every import of the library, naming both.
The named augmentations and recipes have no such copy: their tables are these.
"""

from __future__ import annotations

from typing import Any, Collection, Mapping, NamedTuple


class Setting(NamedTuple):
    """One setting of a run: its ``default``, what it does (``about``, one sentence), and
    what it accepts: one of ``choices``, or a number from ``low`` to ``high`` (None: no bound
    stated here; ``RunConfig``'s validators hold the rest)."""

    default: Any
    about: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None

    @property
    def help(self) -> str:
        """``about``, with the range when it has both ends: 'Drop each ... (0 to 0.95).'"""
        if self.low is None or self.high is None:
            return self.about + "."
        return f"{self.about} ({self.low:g} to {self.high:g})."


# --- the named augmentations and recipes ----------------------------------------------------

AUGMENTATION_MAGNITUDES: dict[str, dict[str, float] | None] = {
    "none": None,
    "mild": {"shift": 1.0, "rotation": 8.0, "scale": 0.08, "elastic_alpha": 0.0},
    "affine": {"shift": 2.0, "rotation": 10.0, "scale": 0.1, "elastic_alpha": 0.0},
    "elastic": {"shift": 2.0, "rotation": 10.0, "scale": 0.1, "elastic_alpha": 34.0, "elastic_sigma": 4.0},
}
"""The ``Augmenter`` fields of each named augmentation (``purenet train --augment NAME``); the
fields not given take ``Augmenter``'s defaults. docs/results.md says where the magnitudes come
from; the elastic one is Simard, Steinkraus & Platt (2003)'s distortion on top of the affine one."""

RECIPES: dict[str, dict[str, Any]] = {
    "default": {},
    # above 99.2%: a wide network, elastic distortions and dropout against overfitting, cosine annealing
    "best": {
        "layers": (784, 1024, 1024, 10), "act": "relu", "epochs": 50, "optimizer": "adam", "lr": 1e-3,
        "schedule": "cosine", "warmup": 1.0, "dropout": 0.1, "augment": "elastic",
    },
    # per-sample SGD on a sigmoid network with squared error, as in the classic "MNIST from scratch"
    # scripts purenet grew out of (one reached 92.7%): 784-200-200-10, one pass over 50,000 images
    # (a sixth held out)
    "per-sample-sigmoid": {
        "layers": (784, 200, 200, 10), "act": "sigmoid", "loss": "mse", "init": "uniform", "epochs": 1,
        "batch_size": 1, "optimizer": "sgd", "lr": 0.2, "schedule": "constant", "val_fraction": 1 / 6, "augment": "none",
    },
    # a convolutional network: Nielsen's chapter 6 layers (20 and 40 filters of 5x5, each followed by
    # 2x2 max pooling, 100 ReLU units) trained with Adam and mild augmentation
    "cnn": {
        "layers": (784, "conv20k5valid", "maxpool2", "conv40k5valid", "maxpool2", 100, 10), "act": "relu",
        "epochs": 12, "optimizer": "adam", "lr": 1e-3, "schedule": "cosine", "augment": "mild",
    },
    # wider convolutions, a dropout layer before the output, affine augmentation and more epochs
    "cnn-best": {
        "layers": (784, "conv32k5valid", "maxpool2", "conv64k5valid", "maxpool2", 256, "dropout0.5", 10),
        "act": "relu", "epochs": 30, "optimizer": "adam", "lr": 1e-3, "schedule": "cosine", "warmup": 1.0,
        "augment": "affine",
    },
    # the least time to 99.0% mean test accuracy over 3 seeds on a 2-core CPU (docs/results.md, "Speedrun"):
    # two 3x3 convolutions of 16 and 32 filters, each with BatchNorm and 2x2 max pooling, 128 units, Adam
    # with a one-cycle schedule and label smoothing, 3 epochs; chosen on a validation split, not the test set
    "speedrun": {
        "layers": (784, "conv16k3", "bn", "maxpool2", "conv32k3", "bn", "maxpool2", 128, 10), "act": "relu",
        "epochs": 3, "optimizer": "adam", "lr": 0.01, "schedule": "onecycle", "label_smoothing": 0.1,
        "augment": "none",
    },
    # softmax regression (no hidden layer, the first model of most MNIST tutorials), per-sample SGD with rate 0.01
    "softmax-regression": {
        "layers": (784, 10), "act": "identity", "epochs": 1, "batch_size": 1, "optimizer": "sgd", "lr": 0.01,
        "schedule": "constant", "augment": "none",
    },
}
"""Named recipes: the settings each changes from the defaults, an augmentation by its name
(docs/results.md: command, time, accuracy). ``purenet.runs.config.PRESETS`` is this table with
each augmentation made an ``Augmenter``."""

PRESET_ALIASES = {"seed-92.7": "per-sample-sigmoid"}
"""Former names of recipes, still accepted so that older commands and scripts keep working."""


def _augment_help() -> str:
    """The --augment help, its numbers read from ``AUGMENTATION_MAGNITUDES``."""
    mild, affine = AUGMENTATION_MAGNITUDES["mild"] or {}, AUGMENTATION_MAGNITUDES["affine"] or {}
    return (f"Augment training batches: mild (shift {mild['shift']:g}, rotate {mild['rotation']:g}, scale {mild['scale']:g}), "
            f"affine ({affine['shift']:g}, {affine['rotation']:g}, {affine['scale']:g}) or elastic (affine + Simard's "
            "elastic distortion)")


# --- the settings, in RunConfig's order ---------------------------------------------------

SETTINGS: dict[str, Setting] = {
    "layers": Setting((784, 200, 200, 10), "The layer list, input first: widths and layer names, e.g. 784,200,200,10 "
                      "or conv32k5,pool2,256,10 (docs/cli.md, Layer lists)"),
    "act": Setting("relu", "Activation of the hidden layers",
                   ("sigmoid", "relu", "leaky_relu", "elu", "tanh", "identity")),
    "loss": Setting("ce", "ce: softmax + cross-entropy; mse: sigmoid outputs + squared error", ("ce", "mse")),
    "init": Setting("auto", "Weight initialisation (auto: he for relu-like units, else xavier)",
                    ("auto", "he", "xavier", "uniform")),
    "epochs": Setting(20, "Epochs to train (with --resume: the total to reach)", low=1),
    "batch_size": Setting(128, "Samples per step; 1 is per-sample SGD", low=1),
    "optimizer": Setting("adam", "The update rule", ("sgd", "momentum", "nesterov", "adam")),
    "lr": Setting(None, "Learning rate (the peak, with a schedule)"),  # None: the optimizer's own rate
    "weight_decay": Setting(0.0, "L2 weight decay on the weights"),
    "schedule": Setting("step", "Learning-rate schedule (onecycle: Smith & Topin's one-cycle policy, as PyTorch's OneCycleLR)",
                        ("constant", "step", "cosine", "onecycle")),
    "warmup": Setting(0.0, "Epochs of linear learning-rate warm-up"),
    "decay_every": Setting(1.0, "With --schedule step: epochs between decays"),
    "gamma": Setting(0.85, "With --schedule step: the factor of each decay", low=0.0, high=1.0),
    "dropout": Setting(0.0, "Drop each hidden unit with this probability while training", low=0.0, high=0.95),
    "label_smoothing": Setting(0.0, "Label smoothing e of the ce loss: its target is (1 - e) one-hot + e / classes",
                               low=0.0, high=0.5),
    "augment": Setting("mild", _augment_help(), tuple(AUGMENTATION_MAGNITUDES)),  # the name; config makes the Augmenter
    "val_fraction": Setting(0.0, "Hold this fraction of the training set out for validation", low=0.0, high=0.9),
    "patience": Setting(0, "Stop after N epochs without a better validation accuracy, keeping the best (0: never)", low=0),
    "seed": Setting(0, "Seed for init, split, shuffling, dropout and augmentation", low=0),
    "data": Setting(None, "Data: a data set's name (fashion, kmnist, emnist-letters, ...: purenet datasets) "
                          "or a path: IDX folder, CSV, .npz or image folders"),  # None: the default MNIST
}
"""Every setting of a run, by ``RunConfig`` field name, in the fields' order."""

DEFAULTS: dict[str, Any] = {name: setting.default for name, setting in SETTINGS.items()}
"""Each setting's default (``augment``'s is a name of ``AUGMENTATION_MAGNITUDES``)."""


def check_choices(registries: Mapping[str, Collection[str]]) -> None:
    """Raise RuntimeError unless each setting named in ``registries`` offers exactly the names
    of its registry (``{"act": ACTIVATIONS, ...}``): the check behind the lists written above."""
    for name, registry in registries.items():
        offered = SETTINGS[name].choices
        if sorted(offered) != sorted(registry):
            raise RuntimeError(f"purenet.runs.settings offers {name} {', '.join(offered)}, but the library knows "
                               f"{', '.join(registry)}: make the two lists agree")
