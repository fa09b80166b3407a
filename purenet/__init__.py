"""purenet: a functional-style, pure-NumPy neural network that learns MNIST from scratch.

State is a value (frozen attrs records of read-only arrays) and every step is a
pure function from records to records:

    >>> import numpy as np
    >>> from purenet import init, forward, backward, sgd, predict
    >>> params = init([784, 200, 200, 10], act="sigmoid", rng=np.random.default_rng(0))
    >>> x = np.random.default_rng(1).random((32, 784), dtype=np.float32)
    >>> y = np.arange(32) % 10
    >>> params = sgd(params, backward(params, forward(params, x), y), lr=0.1)
    >>> predict(params, x).shape
    (32, 10)

See docs/math.md for the equations each function implements.
"""

import importlib
from typing import TYPE_CHECKING

from purenet import _moved

_moved.install()  # the module paths of 0.1 (purenet.checkpoint, ...) as deprecated aliases

# Names load on first use (PEP 562) so that `purenet --help`, which lives in the
# subpackage purenet.cli, does not pay for numpy and the whole library.
_HOMES = {
    "purenet.core.activations": ["ACTIVATIONS"],
    "purenet.data": ["DataError", "Dataset", "Split"],
    "purenet.core.layers": ["INIT_SCHEMES"],
    "purenet.core.losses": ["LOSSES"],
    "purenet.core.network": ["accuracy", "backward", "forward", "init", "loss", "predict"],
    "purenet.core.optim": ["OPTIMIZERS", "SGD", "Adam", "Momentum", "Nesterov", "Optimizer", "OptState", "make_optimizer", "sgd"],
    "purenet.core.records": ["Arch", "Cache", "Dense", "DenseCache", "Grads", "Params", "tree_map"],
    "purenet.core.metrics": ["confusion_matrix", "evaluate"],
    "purenet.core.training": ["EpochRecord", "Progress", "TrainingDiverged", "train", "train_step"],
    "purenet.runs.config": ["ConfigError", "PRESETS", "RunConfig", "preset"],
    "purenet.runs.run": ["Run", "checkpoint_after", "prepare", "prepare_resumed", "resume", "start"],
    "purenet.photo.recognise": ["DigitPrediction", "predict_image"],
    "purenet.photo.grid": ["DigitsPicture", "show_digits"],
    "purenet.core.summary": ["LayerRow", "Summary", "summary"],
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> object:
    if name == "__version__":  # read on first use too: the metadata takes a tenth of a second to load
        value: object = _installed_version()
    elif name in _moved.MOVED and name not in _HOME_OF:
        return _moved.moved_module(f"purenet.{name}")
    elif name not in _HOME_OF:
        raise AttributeError(f"module 'purenet' has no attribute {name!r}")
    else:
        value = getattr(importlib.import_module(_HOME_OF[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME_OF) | {"__version__"})


if TYPE_CHECKING:  # what static checkers and IDEs see
    __version__: str
    from purenet.core.activations import ACTIVATIONS
    from purenet.data import DataError, Dataset, Split
    from purenet.core.layers import INIT_SCHEMES
    from purenet.core.losses import LOSSES
    from purenet.core.network import accuracy, backward, forward, init, loss, predict
    from purenet.core.optim import OPTIMIZERS, SGD, Adam, Momentum, Nesterov, Optimizer, OptState, make_optimizer, sgd
    from purenet.core.records import Arch, Cache, Dense, DenseCache, Grads, Params, tree_map
    from purenet.core.metrics import confusion_matrix, evaluate
    from purenet.core.training import EpochRecord, Progress, TrainingDiverged, train, train_step
    from purenet.runs.config import ConfigError, PRESETS, RunConfig, preset
    from purenet.runs.run import Run, checkpoint_after, prepare, prepare_resumed, resume, start
    from purenet.photo.recognise import DigitPrediction, predict_image
    from purenet.photo.grid import DigitsPicture, show_digits
    from purenet.core.summary import LayerRow, Summary, summary

def _installed_version() -> str:
    """The version in the installed metadata (pyproject.toml's), the one source of truth."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("purenet")
    except PackageNotFoundError:  # imported from a checkout that was never installed
        return "0+unknown"


__all__ = [
    # the pure functions of one training step
    "init",
    "forward",
    "backward",
    "sgd",
    "predict",
    "loss",
    "accuracy",
    # optimizers: pure (init, update) pairs
    "SGD",
    "Momentum",
    "Nesterov",
    "Adam",
    "Optimizer",
    "OptState",
    "make_optimizer",
    # records
    "Arch",
    "Dense",
    "Params",
    "Grads",
    "Cache",
    "DenseCache",
    "tree_map",
    # training
    "train",
    "train_step",
    "evaluate",
    "confusion_matrix",
    "EpochRecord",
    "Progress",
    "TrainingDiverged",
    # a whole run, as `purenet train` does it
    "RunConfig",
    "ConfigError",
    "PRESETS",
    "preset",
    "Run",
    "prepare",
    "prepare_resumed",
    "start",
    "resume",
    "checkpoint_after",
    # reading a photo of a digit, as `purenet predict` does
    "predict_image",
    "DigitPrediction",
    "show_digits",
    "DigitsPicture",
    # the network at a glance, as `purenet summary` shows it
    "summary",
    "Summary",
    "LayerRow",
    # data
    "Dataset",
    "Split",
    "DataError",
    # the names each choice accepts
    "ACTIVATIONS",
    "LOSSES",
    "OPTIMIZERS",
    "INIT_SCHEMES",
]
