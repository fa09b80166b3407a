"""Determinism: the same seed and data give bit-identical params."""

from __future__ import annotations

import numpy as np
import pytest

from purenet import SGD, Adam, Momentum, Nesterov, Split, init, train, train_step
from purenet.data import batches, to_float

pytestmark = pytest.mark.core  # the core math: `pytest -m core` runs it alone, in seconds

OPTIMIZERS = [SGD(0.1), Momentum(0.05), Nesterov(0.05), Adam(1e-3, weight_decay=1e-4)]


def fifty_steps(mnist, optimizer, seed: int, act: str = "relu"):
    rng = np.random.default_rng(seed)
    params = init([784, 64, 32, 10], act=act, rng=rng)
    state = optimizer.init(params)
    split = mnist.train.take(slice(0, 50 * 16))
    for index in batches(len(split), 16, rng):
        params, state, _ = train_step(params, state, to_float(split.images[index]), split.labels[index], optimizer)
    return params


def raw_bytes(params) -> list[bytes]:
    return [a.tobytes() for a in params.arrays()]


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: type(o).__name__)
def test_same_seed_same_params_after_50_steps(mnist, optimizer):
    assert raw_bytes(fifty_steps(mnist, optimizer, seed=7)) == raw_bytes(fifty_steps(mnist, optimizer, seed=7))


def test_another_seed_gives_other_params(mnist):
    """The comparison can fail: a different seed is visible in the bytes."""
    assert raw_bytes(fifty_steps(mnist, SGD(0.1), seed=7)) != raw_bytes(fifty_steps(mnist, SGD(0.1), seed=8))


def test_init_accepts_a_seed_or_a_generator():
    a = init([5, 3, 2], act="sigmoid", rng=3)
    b = init([5, 3, 2], act="sigmoid", rng=np.random.default_rng(3))
    assert raw_bytes(a) == raw_bytes(b)
    assert a == b  # records compare by value


def test_training_generator_is_repeatable(mnist):
    split = Split(mnist.train.images[:600], mnist.train.labels[:600])

    def run():
        params = init([784, 32, 10], rng=1)
        records = list(train(params, split, optimizer=Adam(1e-3), epochs=2, batch_size=32, rng=np.random.default_rng(5)))
        return records[-1]

    first, second = run(), run()
    assert raw_bytes(first.params) == raw_bytes(second.params)
    assert (first.loss, first.train_acc) == (second.loss, second.train_acc)
