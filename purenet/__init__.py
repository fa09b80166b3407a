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

from purenet.activations import ACTIVATIONS
from purenet.data import DataError, Dataset, Split
from purenet.layers import INIT_SCHEMES
from purenet.losses import LOSSES
from purenet.network import accuracy, backward, forward, init, loss, predict
from purenet.optim import OPTIMIZERS, SGD, Adam, Momentum, Nesterov, Optimizer, OptState, make_optimizer, sgd
from purenet.records import Arch, Cache, Dense, DenseCache, Grads, Params, tree_map
from purenet.metrics import confusion_matrix, evaluate
from purenet.train import EpochRecord, Progress, TrainingDiverged, train, train_step

__version__ = "0.1.0"

__all__ = [
    # the design card's functions
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
