"""The training ingredients: schedules, dropout, early stopping, augmentation in training."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from purenet import SGD, Adam, forward, init, train
from purenet.cli.app import app
from purenet.core.layers import dropout_mask
from purenet.core.network import with_dropout
from purenet.core.schedules import Constant, Cosine, OneCycle, StepDecay, Warmup, make_schedule
from purenet.data.augment import Augmenter
from purenet.runs.checkpoint import load as load_checkpoint

# ----------------------------------------------------------------- schedules


def test_schedule_values():
    assert Constant(0.1)(0) == Constant(0.1)(10**6) == 0.1
    assert [StepDecay(0.1, every=10, gamma=0.5)(t) for t in (0, 9, 10, 25)] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    cosine = Cosine(0.1, total_steps=100, final=0.01)
    assert cosine(0) == pytest.approx(0.1) and cosine(100) == pytest.approx(0.01) and cosine(500) == pytest.approx(0.01)
    assert cosine(50) == pytest.approx(0.055)  # halfway: the mean of the two ends
    assert all(cosine(t) >= cosine(t + 1) for t in range(100))


def test_warmup_ramps_linearly_then_follows():
    sched = Warmup(Constant(1.0), steps=4)
    assert [sched(t) for t in range(6)] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])


def test_make_schedule_by_name():
    assert make_schedule("cosine", 0.1, total_steps=50, steps_per_epoch=10) == Cosine(0.1, 50)
    assert (make_schedule("step", 0.1, total_steps=50, steps_per_epoch=10, decay_every_epochs=2, gamma=0.1)
            == StepDecay(0.1, 20, 0.1))
    assert make_schedule("constant", 0.1, total_steps=50, steps_per_epoch=10, warmup_epochs=0.5) == Warmup(Constant(0.1), 5)
    with pytest.raises(ValueError, match="choose one of"):
        make_schedule("linear", 0.1, total_steps=1, steps_per_epoch=1)


def test_onecycle_rises_to_the_peak_then_falls_to_almost_nothing():
    sched = OneCycle(0.1, total_steps=100)  # the peak at step 0.3 * 100 - 1 = 29, the end at step 99
    rates = [sched(t) for t in range(100)]
    assert rates[0] == pytest.approx(0.1 / 25) and rates[29] == pytest.approx(0.1) and max(rates) == rates[29]
    assert rates[99] == pytest.approx(0.1 / 25 / 1e4) and sched(1000) == pytest.approx(rates[99])
    assert all(a < b for a, b in zip(rates[:29], rates[1:30])) and all(a > b for a, b in zip(rates[29:], rates[30:]))
    assert rates[14] == pytest.approx((0.1 / 25 + 0.1) / 2, rel=0.05)  # half a cosine: the middle near the mean
    assert make_schedule("onecycle", 0.1, total_steps=100, steps_per_epoch=10) == sched
    assert 0 < OneCycle(0.1, total_steps=1)(0) <= 0.1  # too short to rise: no division by zero


def test_an_optimizer_follows_its_schedule():
    params = init([3, 2], rng=0, dtype=np.float64)
    opt = SGD(lr=StepDecay(1.0, every=1, gamma=0.5))
    grads = params.__class__(params.arch, [type(layer)(np.ones_like(layer.w), np.ones_like(layer.b)) for layer in params.layers])
    state = opt.init(params)
    moved = []
    for _ in range(3):
        new, state = opt.update(params, grads, state)
        moved.append(float((params.layers[0].w - new.layers[0].w)[0, 0]))
    assert moved == pytest.approx([1.0, 0.5, 0.25])


# ----------------------------------------------------------------- dropout


def test_dropout_mask_has_expected_value_one():
    mask = dropout_mask(np.random.default_rng(0), (400, 500), 0.3, np.float32)
    assert set(np.unique(mask)) == {0.0, np.float32(1 / 0.7)}
    assert abs((mask == 0).mean() - 0.3) < 0.01
    assert abs(mask.mean() - 1.0) < 0.01


def test_dropout_keeps_the_expected_output_of_a_linear_net():
    """With identity activations the logits are linear in each hidden layer's output,
    so averaging over many dropout draws must give the no-dropout logits."""
    rng = np.random.default_rng(1)
    params = init([6, 30, 4], act="identity", rng=rng, dtype=np.float64)
    x = rng.random((3, 6))
    plain = forward(params, x).logits
    net = with_dropout(params, 0.5)
    draws = np.mean([forward(net, x, rng=rng).logits for _ in range(4000)], axis=0)
    np.testing.assert_allclose(draws, plain, atol=0.05 * np.abs(plain).max())


def test_dropout_draws_from_the_generator_and_only_with_one():
    params = init([6, 8, 3], act="relu", rng=0)
    net = with_dropout(params, 0.5)
    x = np.ones((2, 6), np.float32)
    a = forward(net, x, rng=np.random.default_rng(3)).logits
    b = forward(net, x, rng=np.random.default_rng(3)).logits
    c = forward(net, x, rng=np.random.default_rng(4)).logits
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(forward(net, x).logits, forward(params, x).logits)  # no generator: inference


# ----------------------------------------------------------------- early stopping and augmentation in train


def test_early_stopping_returns_the_best_epochs_params(mnist):
    train_part, val = mnist.train.take(slice(0, 2000)), mnist.train.take(slice(2000, 2100))
    params = init([784, 32, 10], rng=0)
    records = list(train(params, train_part, optimizer=SGD(0.5), epochs=30, batch_size=50,
                         rng=np.random.default_rng(0), val=val, patience=2))
    accuracies = [r.val_acc for r in records]
    best_epoch = int(np.argmax(accuracies)) + 1  # the first epoch reaching the maximum
    last = records[-1]
    assert last.stopped_early and last.epoch == best_epoch + 2 < 30
    assert last.best.epoch == best_epoch and last.best.val_acc == max(accuracies)
    assert last.best.params == records[best_epoch - 1].params


def test_training_with_augmentation_is_deterministic_and_learns(mnist):
    part = mnist.train.take(slice(0, 3000))

    def run():
        return list(train(init([784, 64, "dropout0.2", 10], rng=0), part, optimizer=Adam(1e-3), epochs=2, batch_size=64,
                          rng=np.random.default_rng(0), augment=Augmenter(elastic_alpha=0.0), test=mnist.test))[-1]

    first, second = run(), run()
    assert first.params == second.params
    assert first.test_acc > 0.8  # chance is 0.1


# ----------------------------------------------------------------- the same through the command line


@pytest.fixture
def cli(isolated, small_mnist_dir):
    return lambda *args: CliRunner().invoke(app, ["train", "--data", str(small_mnist_dir), "--layers", "784,32,10", *args])


def test_cli_ingredients_reach_the_checkpoint(cli):
    result = cli("--epochs", "2", "--dropout", "0.2", "--schedule", "cosine", "--warmup", "0.5",
                 "--augment", "affine", "--rotation", "5", "--optimizer", "momentum", "--json")
    assert result.exit_code == 0, result.output
    checkpoint = load_checkpoint("model.npz")
    settings = checkpoint.config.to_json()
    assert settings["dropout"] == 0.2 and settings["schedule"] == "cosine" and settings["warmup"] == 0.5
    assert checkpoint.params.arch.layers == (784, 32, "dropout0.2", 10)  # the dropout is a layer of the network
    assert settings["augment"] == {"shift": 2.0, "rotation": 5.0, "scale": 0.1, "shear": 0.0,
                                   "elastic_alpha": 0.0, "elastic_sigma": 4.0}


def test_cli_early_stopping_keeps_the_best(cli):
    result = cli("--epochs", "30", "--val-fraction", "0.05", "--patience", "1", "--optimizer", "sgd", "--lr", "0.5", "--json")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    epochs = [e for e in events if e["event"] == "epoch"]
    summary = events[-1]
    assert epochs[-1]["stopped_early"] and len(epochs) < 30
    assert summary["best"]["val_acc"] == max(e["val_acc"] for e in epochs)
    checkpoint = load_checkpoint("model.npz")
    assert checkpoint.best.epoch == summary["best"]["epoch"] and checkpoint.model == checkpoint.best.params


@pytest.mark.parametrize(
    "args, message",
    [
        (["--patience", "3"], "--patience needs a validation split"),
        (["--preset", "fastest"], "--preset 'fastest' is not one of"),
        (["--schedule", "linear"], "--schedule 'linear' is not one of"),
        (["--augment", "mixup"], "--augment 'mixup' is not one of"),
    ],
)
def test_cli_ingredient_mistakes_exit_2(cli, args, message):
    result = cli("--epochs", "1", *args)
    assert result.exit_code == 2 and message in result.stderr


def test_preset_values_apply_unless_given(cli):
    result = cli("--preset", "softmax-regression", "--lr", "0.02", "--batch-size", "10", "--json")
    assert result.exit_code == 0, result.output
    settings = load_checkpoint("model.npz").config.to_json()
    # --layers was given by the fixture, --lr and --batch-size here; the rest comes from the preset
    assert settings["layers"] == [784, 32, 10] and settings["lr"] == 0.02 and settings["batch_size"] == 10
    assert settings["act"] == "identity" and settings["optimizer"] == "sgd" and settings["epochs"] == 1
    assert math.isclose(settings["lr"], 0.02)
