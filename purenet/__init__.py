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

import functools
import importlib
from typing import TYPE_CHECKING

from purenet import _moved

_moved.install()  # the module paths of 0.1 (purenet.checkpoint, ...) as deprecated aliases

# The public names, each written once, in the imports below: static checkers and IDEs
# read them (``name as name`` marks a re-export, PEP 484), and at run time they are read
# from this file's source (``_public``), so that a name loads on first use (PEP 562):
# `purenet --help`, which lives in the subpackage purenet.cli, never pays for numpy.
if TYPE_CHECKING:
    # the order of these imports is __all__'s: not sorted
    # isort: off
    __version__: str
    # the pure functions of one training step
    from purenet.core.network import init as init, forward as forward, backward as backward
    from purenet.core.network import predict as predict, loss as loss, accuracy as accuracy
    from purenet.core.optim import sgd as sgd
    # optimizers: pure (init, update) pairs
    from purenet.core.optim import SGD as SGD, Momentum as Momentum, Nesterov as Nesterov, Adam as Adam
    from purenet.core.optim import Optimizer as Optimizer, OptState as OptState, make_optimizer as make_optimizer
    # records
    from purenet.core.records import Arch as Arch, Dense as Dense, Params as Params, Grads as Grads
    from purenet.core.records import Cache as Cache, DenseCache as DenseCache, tree_map as tree_map
    from purenet.core.records import with_state as with_state
    from purenet.core.layers import BatchNorm as BatchNorm
    # training
    from purenet.core.training import train as train, train_step as train_step
    from purenet.core.metrics import evaluate as evaluate, confusion_matrix as confusion_matrix
    # ensembles: several networks' probabilities averaged
    from purenet.core.ensemble import ensemble_predict as ensemble_predict, evaluate_ensemble as evaluate_ensemble
    from purenet.core.ensemble import EnsembleEvaluation as EnsembleEvaluation
    from purenet.core.training import EpochRecord as EpochRecord, Progress as Progress
    from purenet.core.training import TrainingDiverged as TrainingDiverged
    # a whole run, as `purenet train` does it
    from purenet.runs.config import RunConfig as RunConfig, ConfigError as ConfigError, PRESETS as PRESETS
    from purenet.runs.config import preset as preset
    from purenet.runs.run import Run as Run, prepare as prepare, prepare_resumed as prepare_resumed
    from purenet.runs.run import start as start, resume as resume, checkpoint_after as checkpoint_after
    # reading a photo of a digit, as `purenet predict` does
    from purenet.photo.recognise import predict_image as predict_image, DigitPrediction as DigitPrediction
    from purenet.photo.grid import show_digits as show_digits, DigitsPicture as DigitsPicture
    # confidence that means what it says, and abstention
    from purenet.core.calibration import Calibration as Calibration, fit_calibration as fit_calibration
    from purenet.core.calibration import fit_temperature as fit_temperature, input_scores as input_scores
    from purenet.core.calibration import expected_calibration_error as expected_calibration_error, auroc as auroc
    # the network at a glance, as `purenet summary` shows it
    from purenet.core.summary import summary as summary, Summary as Summary, LayerRow as LayerRow
    # data
    from purenet.data import Dataset as Dataset, Split as Split, DataError as DataError
    from purenet.data.named import load_named as load_named, DATASETS as DATASETS, NamedDataset as NamedDataset
    # the names each choice accepts
    from purenet.core.activations import ACTIVATIONS as ACTIVATIONS
    from purenet.core.losses import LOSSES as LOSSES
    from purenet.core.optim import OPTIMIZERS as OPTIMIZERS
    from purenet.core.layers import INIT_SCHEMES as INIT_SCHEMES
    # isort: on


@functools.cache
def _public() -> dict[str, str]:
    """Each public name and the module it comes from: the imports of the block above."""
    import ast  # here, on first use: `import purenet` alone stays as light as it can

    source = __spec__.loader.get_source(__name__)  # type: ignore[union-attr]
    block = next(node for node in ast.parse(source).body
                 if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    return {alias.asname or alias.name: str(node.module) for node in block.body if isinstance(node, ast.ImportFrom)
            for alias in node.names}


def __getattr__(name: str) -> object:
    if name == "__all__":  # what `from purenet import *` gives: every public name, in the order above
        value: object = list(_public())
    elif name == "__version__":  # read on first use too: the metadata takes a tenth of a second to load
        from purenet.base.version import installed_version

        value = installed_version()
    elif name in _moved.MOVED and name not in _public():
        return _moved.moved_module(f"purenet.{name}")
    elif name not in _public():
        raise AttributeError(f"module 'purenet' has no attribute {name!r}")
    else:
        value = getattr(importlib.import_module(_public()[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_public()) | {"__all__", "__version__"})

