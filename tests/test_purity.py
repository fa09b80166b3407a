"""Purity: no public call changes its inputs, and records cannot be changed at all."""

from __future__ import annotations

import attrs
import numpy as np
import pytest

from purenet import (
    SGD,
    Adam,
    Momentum,
    Nesterov,
    Split,
    accuracy,
    backward,
    evaluate,
    forward,
    init,
    loss,
    predict,
    sgd,
    train,
    train_step,
    tree_map,
)

pytestmark = pytest.mark.core  # the core math: `pytest -m core` runs it alone, in seconds

OPTIMIZERS = [SGD(0.1), SGD(0.1, weight_decay=1e-3), Momentum(0.1), Nesterov(0.1), Adam(1e-3, weight_decay=1e-4)]


def snapshot(*values) -> list[bytes]:
    """The bytes of every array reachable from ``values`` (records, tuples, arrays)."""
    found = []
    for value in values:
        if isinstance(value, np.ndarray):
            found.append(value.tobytes())
        elif attrs.has(type(value)):
            found.extend(snapshot(*(getattr(value, f.name) for f in attrs.fields(type(value)))))
        elif isinstance(value, (tuple, list)):
            found.extend(snapshot(*value))
    return found


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    params = init([12, 8, 6, 4], act="tanh", rng=rng)
    x = rng.random((5, 12), dtype=np.float32)
    y = rng.integers(0, 4, 5)
    return params, x, y


def test_snapshot_sees_a_change():
    """The check below can fail: a changed array changes the snapshot."""
    a = np.zeros(3)
    before = snapshot(a)
    a[0] = 1
    assert snapshot(a) != before


@pytest.mark.parametrize("loss_name", ["ce", "mse"])
def test_network_calls_leave_inputs_unchanged(batch, loss_name):
    params, x, y = batch
    params = init([12, 8, 6, 4], act="sigmoid", loss=loss_name, rng=1)
    before = snapshot(params, x, y)
    cache = forward(params, x)
    cache_before = snapshot(cache)
    grads = backward(params, cache, y)
    grads_before = snapshot(grads)
    sgd(params, grads, 0.1)
    predict(params, x), loss(params, x, y), loss(params, cache, y), accuracy(params, x, y)
    tree_map(lambda a: a * 2, params)
    assert snapshot(params, x, y) == before
    assert snapshot(cache) == cache_before
    assert snapshot(grads) == grads_before


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=repr)
def test_optimizer_update_leaves_inputs_unchanged(batch, optimizer):
    params, x, y = batch
    grads = backward(params, forward(params, x), y)
    state = optimizer.init(params)
    state = optimizer.update(params, grads, state)[1]  # a state with non-zero slots
    before = snapshot(params, grads, state)
    new_params, new_state = optimizer.update(params, grads, state)
    assert snapshot(params, grads, state) == before
    assert new_state.step == state.step + 1
    assert not np.array_equal(new_params.layers[0].w, params.layers[0].w)


def test_training_leaves_inputs_unchanged(batch):
    params, _, _ = batch
    rng = np.random.default_rng(2)
    split = Split(images=rng.integers(0, 256, (40, 12), dtype=np.uint8), labels=rng.integers(0, 4, 40))
    before = snapshot(params, split)
    optimizer = Momentum(0.05)
    train_step(params, optimizer.init(params), split.images[:4] / 255.0, split.labels[:4], optimizer)
    records = list(train(params, split, optimizer=optimizer, epochs=2, batch_size=8, rng=rng, test=split))
    evaluate(records[-1].params, split)
    assert snapshot(params, split) == before


def test_records_cannot_be_reassigned(batch):
    params, x, y = batch
    cache = forward(params, x)
    grads = backward(params, cache, y)
    for record, field in [(params, "layers"), (params.layers[0], "w"), (params.arch, "act"), (cache, "layers"), (grads, "arch")]:
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(record, field, None)


def test_arrays_in_records_are_read_only(batch):
    params, x, y = batch
    cache = forward(params, x)
    grads = backward(params, cache, y)
    state = Adam().update(params, grads, Adam().init(params))[1]
    arrays = [*params.arrays(), *grads.arrays(), *state.slots[0].arrays(), cache.logits, cache.inputs]
    for array in arrays:
        with pytest.raises(ValueError, match="read-only"):
            array[...] = 0


def test_callers_arrays_keep_their_flags(batch):
    """Records hold read-only *views*: the caller's own array stays writeable."""
    params, x, y = batch
    forward(params, x)
    w = np.ones((12, 4), np.float32)
    init([12, 4], rng=0)  # a fresh record never aliases the caller's arrays
    assert x.flags.writeable and w.flags.writeable


def test_sgd_returns_a_new_record_and_keeps_the_old(batch):
    params, x, y = batch
    grads = backward(params, forward(params, x), y)
    old_w = params.layers[0].w.copy()
    new = sgd(params, grads, lr=0.5)
    assert new is not params
    np.testing.assert_array_equal(params.layers[0].w, old_w)
    np.testing.assert_allclose(new.layers[0].w, old_w - 0.5 * grads.layers[0].w, rtol=1e-6)
