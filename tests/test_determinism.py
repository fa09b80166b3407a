"""Determinism: the same seed and data give bit-identical params."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from purenet import SGD, Adam, Momentum, Nesterov, Split, init, train, train_step
from purenet.core import training
from purenet.data import batches, to_float
from purenet.data.augment import Augmenter

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


def serial_epochs(split, params, optimizer, epochs, rng, augment):
    """The training loop written out serially, each batch augmented just before its step: what
    ``train`` computes, whether or not it augments the next batch in a background thread."""
    state = optimizer.init(params)
    for _ in range(epochs):
        for index in batches(len(split), 32, rng):
            images = augment(split.images[index], rng)
            params, state, _ = train_step(params, state, to_float(images), split.labels[index], optimizer, rng=rng)
    return params, rng.bit_generator.state


@pytest.mark.parametrize("layers", [[784, 32, 10], [784, 32, "dropout0.2", 10]])  # dropout: the step draws too
@pytest.mark.parametrize("spare", [True, False])  # whatever else the machine is doing
def test_augmenting_ahead_draws_what_the_serial_loop_draws(mnist, layers, spare, monkeypatch):
    """The background augmentation changes nothing: the same params and generator state,
    bit for bit, as augmenting each batch just before its step."""
    monkeypatch.setattr(training, "_spare_core", lambda: spare)
    threads = []
    batch = training._batch
    monkeypatch.setattr(training, "_batch", lambda *args: threads.append(threading.current_thread().name) or batch(*args))
    split = Split(mnist.train.images[:300], mnist.train.labels[:300])
    augment = Augmenter(shift=1.0, rotation=8.0, scale=0.08, elastic_alpha=0.0)
    params = init(layers, rng=1)
    records = list(train(params, split, optimizer=Adam(1e-3), epochs=2, batch_size=32, rng=np.random.default_rng(5),
                         augment=augment))
    expected, state = serial_epochs(split, params, Adam(1e-3), 2, np.random.default_rng(5), augment)
    assert raw_bytes(records[-1].params) == raw_bytes(expected)
    assert records[-1].rng_state == state
    ahead = sum(name.startswith("purenet-augment") for name in threads)
    assert ahead == (2 * (10 - 2) if spare and "dropout0.2" not in layers else 0)  # 10 batches, the first two in turn


def test_augmenting_ahead_is_compared_with_another_draw(mnist):
    """The comparison can fail: the serial loop with another generator differs."""
    split = Split(mnist.train.images[:300], mnist.train.labels[:300])
    augment = Augmenter(shift=1.0, rotation=8.0, scale=0.08, elastic_alpha=0.0)
    params = init([784, 32, 10], rng=1)
    records = list(train(params, split, optimizer=Adam(1e-3), epochs=1, batch_size=32, rng=np.random.default_rng(5),
                         augment=augment))
    expected, _ = serial_epochs(split, params, Adam(1e-3), 1, np.random.default_rng(6), augment)
    assert raw_bytes(records[-1].params) != raw_bytes(expected)


def test_stopping_mid_epoch_leaves_no_helper_thread(mnist, monkeypatch):
    """A caller that stops at a Progress record (as the command line does on Ctrl-C) ends the
    background augmentation with it: no thread is left running."""
    monkeypatch.setattr(training, "_spare_core", lambda: True)
    split = Split(mnist.train.images[:320], mnist.train.labels[:320])
    augment = Augmenter(shift=1.0, rotation=8.0, scale=0.08, elastic_alpha=0.0)
    records = train(init([784, 16, 10], rng=1), split, optimizer=Adam(1e-3), epochs=1, batch_size=32,
                    rng=np.random.default_rng(5), augment=augment, progress_every=4)
    assert next(records).step == 4  # the helper has started augmenting batch 5 (batches 3-4 were augmented ahead)
    assert any(t.name.startswith("purenet-augment") for t in threading.enumerate())
    records.close()
    assert not any(t.name.startswith("purenet-augment") for t in threading.enumerate())
