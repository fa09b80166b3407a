"""Learning: the network actually learns, on a synthetic problem and on MNIST."""

from __future__ import annotations

import numpy as np
import pytest

from purenet import SGD, Adam, Split, TrainingDiverged, accuracy, backward, forward, init, sgd, train
from purenet.data import batches

pytestmark = pytest.mark.core  # the core math: `pytest -m core` runs it alone, in seconds


def blobs(rng: np.random.Generator, n: int = 600, dims: int = 8, classes: int = 4):
    """Well separated Gaussian clusters: a problem any working classifier solves."""
    centres = rng.normal(0, 3, (classes, dims))
    y = rng.integers(0, classes, n)
    x = centres[y] + rng.normal(0, 0.5, (n, dims))
    return x.astype(np.float32), y


@pytest.mark.parametrize("act", ["sigmoid", "relu", "tanh", "elu", "leaky_relu"])
@pytest.mark.parametrize("loss_name", ["ce", "mse"])
def test_small_net_separates_blobs(act, loss_name):
    rng = np.random.default_rng(0)
    x, y = blobs(rng)
    params = init([8, 16, 4], act=act, loss=loss_name, rng=rng)
    lr = 0.5 if loss_name == "ce" else 1.0  # squared error through a sigmoid has smaller gradients
    for _ in range(30):
        for index in batches(len(x), 20, rng):
            params = sgd(params, backward(params, forward(params, x[index]), y[index]), lr)
    assert accuracy(params, x, y) > 0.95


def test_an_untrained_net_does_not_separate_blobs():
    """The check above can fail: chance level is far below 95%."""
    rng = np.random.default_rng(0)
    x, y = blobs(rng)
    assert accuracy(init([8, 16, 4], act="relu", rng=rng), x, y) < 0.9


def test_per_sample_full_batch_and_minibatch_all_learn():
    rng = np.random.default_rng(1)
    x, y = blobs(rng, n=200)
    for batch_size, lr, epochs in [(1, 0.05, 3), (200, 1.0, 100), (10, 0.3, 10)]:
        params = init([8, 16, 4], act="tanh", rng=np.random.default_rng(2))
        for _ in range(epochs):
            for index in batches(len(x), batch_size, rng):
                params = sgd(params, backward(params, forward(params, x[index]), y[index]), lr)
        assert accuracy(params, x, y) > 0.95, batch_size


def test_one_epoch_on_5000_mnist_images_beats_85_percent(mnist):
    first_5000 = mnist.train.take(slice(0, 5000))
    params = init([784, 200, 200, 10], act="relu", rng=0)
    (record,) = train(params, first_5000, optimizer=SGD(0.1), epochs=1, batch_size=16, rng=np.random.default_rng(0),
                      test=mnist.test)
    assert record.test_acc > 0.85


def test_adam_relu_learns_mnist_subset(mnist):
    subset = mnist.train.take(slice(0, 5000))
    params = init([784, 128, 10], act="relu", rng=0)
    (record,) = train(params, subset, optimizer=Adam(1e-3), epochs=1, batch_size=32, rng=np.random.default_rng(0),
                      test=mnist.test)
    assert record.test_acc > 0.85
    assert record.loss > 0 and 0 < record.train_acc <= 1


def test_a_huge_learning_rate_is_reported_as_divergence():
    rng = np.random.default_rng(0)
    split = Split(images=rng.integers(0, 256, (64, 8), dtype=np.uint8), labels=rng.integers(0, 4, 64))
    params = init([8, 16, 4], act="relu", rng=rng)
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged, match="epoch"):
        list(train(params, split, optimizer=SGD(1e30), epochs=5, batch_size=8, rng=rng))
