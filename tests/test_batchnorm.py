"""BatchNorm: the training switch, the running averages and how they ride through the
public composition, the optimizers and checkpoints, the grammar, and learning with it.

Its gradients are checked in tests/test_layers.py (the layer, training and inference
passes) and tests/test_gradcheck.py (whole networks); its ONNX form in tests/test_export.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from purenet import SGD, Adam, Momentum, Nesterov, backward, forward, init, predict, sgd, summary
from purenet.core.arrays import decayed_names, learned_names, state_names
from purenet.core.layers import BatchNorm, Context, canonical_layers, elements_per_sample, kind_of, plan_layers
from purenet.core.training import train_step
from purenet.runs.checkpoint import Checkpoint, CheckpointError, load, save

NET = [36, "conv3k3", "bn", "maxpool2", 5, "bn", 3]
"""A BatchNorm per channel of an image (index 2) and one per unit of a vector (index 6)."""

IMAGE_BN, VECTOR_BN = 2, 6


def batch(rng: np.random.Generator, n: int = 8, dtype=np.float32):
    return rng.normal(0.5, 2, (n, NET[0])).astype(dtype), rng.integers(0, 3, n)


def reference(x: np.ndarray, gamma, beta, mean, var, eps: float = 1e-5) -> np.ndarray:
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


pytestmark = pytest.mark.core  # the core math: `pytest -m core` runs it alone


# --- the switch -------------------------------------------------------------------------------


def test_a_network_with_batchnorm_asks_which_pass_it_is():
    params = init(NET, rng=0)
    x, _ = batch(np.random.default_rng(1))
    for call in (lambda: forward(params, x), lambda: forward(params, x, rng=np.random.default_rng(2))):
        with pytest.raises(ValueError, match=r"BatchNorm layers: pass forward\(\.\.\., training=True\)"):
            call()
    with pytest.raises(ValueError, match="training must be True or False, got 'yes'"):
        forward(params, x, training="yes")
    forward(params, x, training=True), forward(params, x, training=False)


def test_a_network_without_batchnorm_keeps_its_meaning_of_none():
    """None: a training pass when rng is given (dropout draws), inference otherwise; training=False
    with a generator draws nothing."""
    params = init([16, 8, "dropout0.5", 3], rng=0)
    x = np.ones((4, 16), np.float32)
    plain = forward(params, x).logits
    np.testing.assert_array_equal(forward(params, x, training=False, rng=np.random.default_rng(3)).logits, plain)
    dropped = forward(params, x, rng=np.random.default_rng(3)).logits
    assert not np.array_equal(dropped, plain)
    np.testing.assert_array_equal(forward(params, x, training=True, rng=np.random.default_rng(3)).logits, dropped)


# --- the arithmetic ---------------------------------------------------------------------------


def test_a_training_pass_normalises_by_the_batch_per_channel_and_per_unit():
    rng = np.random.default_rng(4)
    params = init(NET, rng=rng, dtype=np.float64)
    x, _ = batch(rng, dtype=np.float64)
    cache = forward(params, x, training=True)
    for index in (IMAGE_BN, VECTOR_BN):
        seen = cache.layers[index - 1].out  # the layer below's output (after its activation)
        axes = tuple(range(seen.ndim - 1))
        layer = params.layers[index]
        expected = reference(seen, layer.gamma, layer.beta, seen.mean(axis=axes), seen.var(axis=axes))
        got = kind_of(layer).forward(layer, seen, Context(training=True))[0]
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
        assert not np.array_equal(cache.layers[index].mean, layer.mean)  # the running average moved
        np.testing.assert_allclose(got.mean(axis=axes), 0, atol=1e-12)
        variance = seen.var(axis=axes)
        np.testing.assert_allclose(got.var(axis=axes), variance / (variance + 1e-5), rtol=1e-12)  # eps: just below 1


def test_the_running_averages_follow_pytorchs_rule_with_the_unbiased_variance():
    """running = 0.9 running + 0.1 batch; for the variance the batch's unbiased variance:
    column [1, 2, 3, 6] has mean 3, biased variance 3.5 and unbiased variance 14/3."""
    layer = BatchNorm(gamma=np.ones(2), beta=np.zeros(2), mean=np.zeros(2), var=np.ones(2))
    x = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 4.0], [6.0, 4.0]])
    out, cache = kind_of(layer).forward(layer, x, Context(training=True))
    np.testing.assert_allclose(cache.mean, [0.3, 0.2], rtol=1e-14)
    np.testing.assert_allclose(cache.var, [0.9 + 0.1 * 14 / 3, 0.9 + 0.1 * 16 / 3], rtol=1e-14)
    np.testing.assert_allclose(out[:, 0], (x[:, 0] - 3) / np.sqrt(3.5 + 1e-5), rtol=1e-14)
    grads, _ = kind_of(layer).backward(layer, cache, np.ones_like(x), Context(training=True))
    assert grads.mean is cache.mean and grads.var is cache.var  # backward hands them on
    # inference: the running averages, unchanged
    out, cache = kind_of(layer).forward(layer, x, Context(training=False))
    np.testing.assert_allclose(out, x / np.sqrt(1 + 1e-5), rtol=1e-14)
    assert cache.mean is layer.mean and cache.var is layer.var


def test_a_training_pass_needs_two_values_per_channel():
    params = init([6, "bn", 3], rng=0)
    x = np.ones((1, 6), np.float32)
    with pytest.raises(ValueError, match=r"more than one value per channel in a training pass, got input \(1, 6\)"):
        forward(params, x, training=True)
    assert predict(params, x).shape == (1, 3)  # inference takes a single row
    forward(init([16, "conv2k3", "bn", 3], rng=0), np.ones((1, 16), np.float32), training=True)  # 16 pixels: 16 values


# --- the composition: the running averages ride through backward and the optimizers ----------


@pytest.mark.parametrize("step", ["sgd", "SGD", "Momentum", "Nesterov", "Adam"])
def test_every_optimizer_carries_the_new_running_averages_into_the_params(step):
    rng = np.random.default_rng(5)
    params = init(NET, rng=rng)
    optimizers = {"SGD": SGD(0.1, weight_decay=0.1), "Momentum": Momentum(0.1), "Nesterov": Nesterov(0.1), "Adam": Adam(0.01)}
    state = optimizers[step].init(params) if step in optimizers else None
    for _ in range(3):
        x, y = batch(rng)
        cache = forward(params, x, training=True)
        grads = backward(params, cache, y)
        if state is None:
            new = sgd(params, grads, 0.1)
        else:
            new, state = optimizers[step].update(params, grads, state)
        for index in (IMAGE_BN, VECTOR_BN):
            carried = cache.layers[index]
            assert new.layers[index].mean is carried.mean and new.layers[index].var is carried.var
            assert not np.array_equal(new.layers[index].mean, params.layers[index].mean)
            assert not np.array_equal(new.layers[index].gamma, params.layers[index].gamma)  # learned too
        params = new
    # inference uses them
    x, _ = batch(rng)
    layer = params.layers[VECTOR_BN]
    seen = forward(params, x, training=False).layers[VECTOR_BN - 1].out
    np.testing.assert_allclose(kind_of(layer).forward(layer, seen, Context())[0],
                               reference(seen, layer.gamma, layer.beta, layer.mean, layer.var), rtol=2e-5, atol=2e-6)


def test_gamma_and_beta_are_learned_not_decayed_and_the_averages_are_state():
    assert learned_names(BatchNorm) == ("gamma", "beta")
    assert decayed_names(BatchNorm) == ()
    assert state_names(BatchNorm) == ("mean", "var")
    params = init(NET, rng=0)
    assert params.size == 30 + 6 + 140 + 10 + 18 and len(list(params.arrays())) == 10  # no running average counted
    layer = params.layers[IMAGE_BN]
    assert (layer.gamma == 1).all() and (layer.beta == 0).all() and (layer.mean == 0).all() and (layer.var == 1).all()
    assert (layer.momentum, layer.eps) == (0.1, 1e-5) and layer.gamma.dtype == np.float32 == layer.mean.dtype


def test_the_calls_leave_their_inputs_alone_and_every_array_is_read_only():
    rng = np.random.default_rng(6)
    params = init(NET, rng=rng)
    x, y = batch(rng)
    kept = x.copy()
    before = [layer.mean.copy() for layer in params.layers if isinstance(layer, BatchNorm)]
    cache = forward(params, x, training=True)
    new = sgd(params, backward(params, cache, y), 0.1)
    forward(params, x, training=False)
    np.testing.assert_array_equal(x, kept)
    assert x.flags.writeable
    after = [layer.mean for layer in params.layers if isinstance(layer, BatchNorm)]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    for record in (cache.layers[IMAGE_BN], new.layers[IMAGE_BN], new.layers[VECTOR_BN]):
        for name in ("mean", "var", *(("xhat", "inv_std") if record is cache.layers[IMAGE_BN] else ("gamma", "beta"))):
            with pytest.raises(ValueError, match="read-only"):
                getattr(record, name)[...] = 0


def test_the_same_steps_give_the_same_bits():
    def steps(seed: int) -> list[bytes]:
        rng = np.random.default_rng(seed)
        params, opt = init(NET, rng=rng), Adam(0.01)
        state = opt.init(params)
        for _ in range(3):
            x, y = batch(rng)
            params, state, _ = train_step(params, state, x, y, opt, rng=rng)
        return [a.tobytes() for layer in params.layers if isinstance(layer, BatchNorm)
                for a in (layer.gamma, layer.beta, layer.mean, layer.var)]

    assert steps(7) == steps(7) and steps(7) != steps(8)


# --- the grammar, the plan and the summary ----------------------------------------------------


def test_bn_in_a_layer_list_its_plan_and_its_summary():
    assert canonical_layers([784, "conv8k3", "BatchNorm", "bn", 10]) == (784, "conv8k3", "bn", "bn", 10)
    planned = plan_layers((784, "conv8k3", "bn", "pool2", 20, "bn", 10))
    image, vector = planned[2], planned[6]
    assert image.kind.name == vector.kind.name == "batchnorm"
    assert image.plan.shapes == {"gamma": (8,), "beta": (8,)} and image.plan.state == {"mean": (8,), "var": (8,)}
    assert vector.plan.shapes == {"gamma": (20,), "beta": (20,)} and vector.plan.out_shape == (20,)
    assert image.plan.scratch == 28 * 28 * 8  # the normalised input kept for backward
    without = elements_per_sample((784, "conv8k3", "pool2", 20, 10))
    assert elements_per_sample((784, "conv8k3", "bn", "pool2", 20, "bn", 10)) == without + 2 * 28 * 28 * 8 + 2 * 20
    rows = summary([784, "conv8k3", "bn", "pool2", 20, "bn", 10]).rows
    assert [(row.kind, row.token, row.parameters) for row in rows if row.kind == "batchnorm"] == [
        ("batchnorm", "bn", 16), ("batchnorm", "bn", 40)]


# --- checkpoints ------------------------------------------------------------------------------


def bn_checkpoint(dtype=np.float32) -> Checkpoint:
    rng = np.random.default_rng(0)
    params, opt = init(NET, rng=rng, dtype=dtype), Adam(1e-2)
    state = opt.init(params)
    for _ in range(2):
        x, y = batch(rng, dtype=dtype)
        params, state, _ = train_step(params, state, x, y, opt, rng=rng)
    return Checkpoint(params=params, opt_state=state, epoch=1, rng_state=rng.bit_generator.state)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_checkpoint_keeps_the_running_averages_exactly(tmp_path, dtype):
    checkpoint = bn_checkpoint(dtype)
    loaded = load(save(tmp_path / "bn.npz", checkpoint))
    assert loaded == checkpoint  # every record, its state fields too
    for layer, kept in zip(loaded.params.layers, checkpoint.params.layers):
        if isinstance(layer, BatchNorm):
            assert layer.var.tobytes() == kept.var.tobytes() and layer.mean.dtype == dtype
            assert not np.array_equal(layer.var, np.ones_like(layer.var))  # moved: the test can fail
    x, _ = batch(np.random.default_rng(1), dtype=dtype)
    np.testing.assert_array_equal(predict(loaded.params, x), predict(checkpoint.params, x))


def _replace(path, key: str, value) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    if value is None:
        arrays.pop(key)
    else:
        arrays[key] = value
    np.savez(path, **arrays)


@pytest.mark.parametrize("key, value, message", [
    ("param.2.var", np.full(3, -1.0, np.float32), "array 'param.2.var' holds values below 0.0"),
    ("param.6.mean", None, "missing array 'param.6.mean'"),
    ("slot.0.6.var", np.ones(4, np.float32), "expected float32[5]"),
    ("best.2.mean", np.zeros(3, np.float32), "unexpected arrays ['best.2.mean']"),
    ("param.2.mean", np.full(3, np.nan, np.float32), "holds NaN or infinite values"),
])
def test_a_tampered_running_average_is_refused(tmp_path, key, value, message):
    path = save(tmp_path / "bn.npz", bn_checkpoint())
    _replace(path, key, value)
    with pytest.raises(CheckpointError, match=re.escape(message)):
        load(path)


# --- learning ---------------------------------------------------------------------------------


def test_a_small_network_learns_at_least_as_well_with_batchnorm(mnist):
    """600 MNIST images, 4 epochs of SGD at 0.1, the same seeds: the network with BatchNorm
    after its hidden layers scores at least the plain one's mean test accuracy over 3 seeds, at
    inference (running averages). Measured: 0.803 against 0.772."""
    train, test = mnist.train.take(slice(0, 600)), mnist.test.take(slice(0, 1000))
    x_all, x_test = train.images.astype(np.float32) / 255, test.images.astype(np.float32) / 255

    def trained(layers, seed: int) -> float:
        rng = np.random.default_rng(seed)
        params = init(layers, act="relu", rng=rng)
        for _ in range(4):
            order = rng.permutation(len(x_all))
            for i in range(0, len(order) - 31, 32):
                index = order[i : i + 32]
                params = sgd(params, backward(params, forward(params, x_all[index], training=True), train.labels[index]), 0.1)
        return float((predict(params, x_test).argmax(axis=1) == test.labels).mean())

    plain = np.mean([trained([784, 64, 32, 10], seed) for seed in range(3)])
    normalised = np.mean([trained([784, 64, "bn", 32, "bn", 10], seed) for seed in range(3)])
    assert normalised >= plain and normalised > 0.78, (normalised, plain)


# --- a whole run: bitwise resume --------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["adam", "nesterov"])
def test_a_run_with_batchnorm_resumes_bit_for_bit(small_mnist_dir, tmp_path, monkeypatch, optimizer):
    """Two epochs straight, and one epoch saved then resumed for the second: the same learned
    arrays, running averages, optimizer slots and measured history, to the bit. The run keeps
    a validation split, so early stopping's best params (their running averages too) go
    through the file as well."""
    from purenet.core.training import EpochRecord
    from purenet.runs.config import preset
    from purenet.runs.run import checkpoint_after, prepare, resume

    monkeypatch.setenv("PURENET_DATA", str(small_mnist_dir))
    monkeypatch.chdir(tmp_path)
    config = preset("default", seed=3, epochs=2, optimizer=optimizer, layers=(784, 32, "bn", 16, "bn", 10),
                    batch_size=100, val_fraction=0.1, patience=5)

    def records(run, checkpoint):
        for record in run:
            if isinstance(record, EpochRecord):
                checkpoint = checkpoint_after(record, checkpoint)
        return checkpoint

    straight_run = prepare(config)
    straight = records(straight_run.records(), straight_run.initial_checkpoint)
    half_run = prepare(config)
    first = next(r for r in half_run.records() if isinstance(r, EpochRecord))
    save(tmp_path / "one.npz", checkpoint_after(first, half_run.initial_checkpoint))
    resumed = records(resume(tmp_path / "one.npz", epochs=2), load(tmp_path / "one.npz"))

    def bits(checkpoint) -> list[bytes]:
        records = [checkpoint.params, *checkpoint.opt_state.slots, checkpoint.best.params]
        return [getattr(layer, name).tobytes() for record in records for layer in record.layers
                for name in learned_names(type(layer)) + state_names(type(layer))]

    assert bits(resumed) == bits(straight)
    assert [h["test_acc"] for h in resumed.history] == [h["test_acc"] for h in straight.history]
    norms = [layer for layer in straight.params.layers if isinstance(layer, BatchNorm)]
    assert len(norms) == 2 and all(not np.array_equal(layer.var, np.ones_like(layer.var)) for layer in norms)


@pytest.mark.parametrize("batch_size, layers, refused", [
    (1, (784, 16, "bn", 10), "every batch is one row"),
    (2999, (784, 16, "bn", 10), "with 3000 training images the last batch is one row"),
    (2998, (784, 16, "bn", 10), None),  # the last batch has two rows
    (2999, (784, "conv2k3", "bn", 10), None),  # on an image one row has 784 values per channel
])
def test_a_run_whose_bn_would_meet_a_batch_of_one_row_is_one_config_error(small_mnist_dir, tmp_path, monkeypatch,
                                                                            batch_size, layers, refused):
    from purenet.runs.config import ConfigError, preset
    from purenet.runs.run import prepare

    monkeypatch.setenv("PURENET_DATA", str(small_mnist_dir))
    monkeypatch.chdir(tmp_path)
    config = preset("default", epochs=1, layers=layers, batch_size=batch_size, val_fraction=0)
    if refused is None:
        assert len(prepare(config).train) == 3000
        return
    with pytest.raises(ConfigError, match=re.escape(refused)) as caught:
        prepare(config)
    assert caught.value.field == "batch_size" and "\n" not in str(caught.value)
