"""One dropout, as a layer: where ``--dropout`` places its Dropout layers, the shorthands that
place them, and the deprecated ``dropout=`` keywords, which still give the same bits.

Checkpoints written before dropout was only a layer are tested against a real old file in
tests/test_checkpoint_compat.py.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

import numpy as np
import pytest
from typer.testing import CliRunner

from purenet import Adam, backward, forward, init, train
from purenet.cli.app import app
from purenet.core import network
from purenet.core.layers import Dropout, kinds, place_dropout
from purenet.core.network import with_dropout, with_layers
from purenet.core.optim import OptState
from purenet.core.training import EpochRecord, train_step
from purenet.runs.checkpoint import Checkpoint, load, save
from purenet.runs.config import RunConfig


def kind_names(params) -> list[str]:
    return [type(layer).__name__ for layer in params.layers]


def raw(arrays) -> list[bytes]:
    return [a.tobytes() for a in arrays]


# --- where the shorthand places its layers -----------------------------------------------


@pytest.mark.core
def test_place_dropout_puts_one_after_every_hidden_dense_layer():
    assert place_dropout((784, 200, 200, 10), 0.3) == (784, 200, "dropout0.3", 200, "dropout0.3", 10)
    # not after image layers, not after the output; before a Dropout layer the list already has
    cnn = (784, "conv8k5", "maxpool2", 100, "dropout0.5", 10)
    assert place_dropout(cnn, 0.25) == (784, "conv8k5", "maxpool2", 100, "dropout0.25", "dropout0.5", 10)
    assert place_dropout((784, 10), 0.3) == (784, 10)
    assert place_dropout((784, 200, 10), 0) == (784, 200, 10)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        place_dropout((784, 200, 10), 1.0)


@pytest.mark.core
def test_a_placed_layer_keeps_the_rate_exactly():
    rate = 0.1 + 0.2  # 0.30000000000000004: the token must read back the same float
    params = init(place_dropout((12, 5, 3), rate), rng=0)
    assert params.layers[1] == Dropout(rate) and params.layers[1].rate == rate


@pytest.mark.core
def test_with_dropout_keeps_the_learned_records_and_with_layers_takes_them_out():
    params = init([12, 5, 4, 3], rng=0)
    net = with_dropout(params, 0.3)
    assert kind_names(net) == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert net.arch.layers == (12, 5, "dropout0.3", 4, "dropout0.3", 3)
    assert [net.layers[i] for i in (0, 2, 4)] == list(params.layers) and net.layers[0] is params.layers[0]
    assert with_layers(net, params.arch.layers) == params
    assert with_dropout(params, 0) is params
    with pytest.raises(ValueError, match="other learned layers"):
        with_layers(params, [12, 6, 4, 3])
    with pytest.raises(ValueError, match="fewer learned layers"):
        with_layers(init([4, 4, 4], rng=0), [4, 4])


@pytest.mark.core
def test_the_fold_names_no_layer_kind():
    """forward and backward dispatch every layer to its kind; none is special-cased by name."""
    kind_words = {kind.record.__name__ for kind in kinds()} | {"DENSE", "DROPOUT", "dropout_mask"}
    for function in (network.forward, network.backward):
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
        names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        names |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        assert not names & kind_words, f"{function.__name__} names {names & kind_words}"


# --- the deprecated keywords: the same bits as the layers they stand for -------------------


@pytest.mark.core
def test_forward_dropout_is_deprecated_and_gives_the_bits_of_dropout_layers():
    rng = np.random.default_rng(2)
    params = init([10, 7, 6, 3], act="tanh", rng=rng)
    x, y = rng.random((5, 10), dtype=np.float32), rng.integers(0, 3, 5)
    net = with_dropout(params, 0.4)
    layered = forward(net, x, rng=np.random.default_rng(8))
    with pytest.warns(DeprecationWarning, match="Dropout layers"):
        shorthand = forward(params, x, dropout=0.4, rng=np.random.default_rng(8))
    assert shorthand.logits.tobytes() == layered.logits.tobytes()
    grads = backward(params, shorthand, y)  # taken with params, as before
    assert grads.arch == params.arch and kind_names(grads) == ["Dense", "Dense", "Dense"]
    assert raw(grads.arrays()) == raw(backward(net, layered, y).arrays())
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="explicit rng"):
        forward(params, x, dropout=0.4)


@pytest.mark.core
def test_train_and_train_step_dropout_are_deprecated_and_give_the_bits_of_dropout_layers(mnist):
    part = mnist.train.take(slice(0, 300))
    params = init([784, 16, 10], rng=0)

    def last(start, **dropout) -> EpochRecord:
        return list(train(start, part, optimizer=Adam(1e-3), epochs=2, batch_size=64, rng=np.random.default_rng(1),
                          **dropout))[-1]

    layered = last(with_dropout(params, 0.3))
    with pytest.warns(DeprecationWarning):
        shorthand = last(params, dropout=0.3)
    assert shorthand.params.arch == params.arch  # the params keep their layers
    assert raw(shorthand.params.arrays()) == raw(layered.params.arrays())
    assert [raw(s.arrays()) for s in shorthand.opt_state.slots] == [raw(s.arrays()) for s in layered.opt_state.slots]
    assert shorthand.rng_state == layered.rng_state

    x, y = part.images[:32].astype(np.float32) / 255, part.labels[:32]
    state = Adam(1e-3).init(params)
    with pytest.warns(DeprecationWarning):
        stepped, _, _ = train_step(params, state, x, y, Adam(1e-3), dropout=0.3, rng=np.random.default_rng(5))
    net = with_dropout(params, 0.3)
    stepped_net, _, _ = train_step(net, Adam(1e-3).init(net), x, y, Adam(1e-3), rng=np.random.default_rng(5))
    assert raw(stepped.arrays()) == raw(stepped_net.arrays())


# --- a run's dropout setting --------------------------------------------------------------


def test_run_config_dropout_places_layers_and_keeps_its_settings_as_written():
    config = RunConfig(layers=(784, 32, 16, 10), dropout=0.2)
    assert config.network_layers == (784, 32, "dropout0.2", 16, "dropout0.2", 10)
    assert config.layers == (784, 32, 16, 10) and config.to_json()["layers"] == [784, 32, 16, 10]
    assert RunConfig.from_json(config.to_json()) == config
    assert RunConfig(layers=(784, 32, 10)).network_layers == (784, 32, 10)


def test_a_checkpoint_refuses_params_without_the_layers_its_config_places():
    config = RunConfig(layers=(784, 8, 10), dropout=0.3, optimizer="sgd")
    state = np.random.default_rng(0).bit_generator.state
    with pytest.raises(ValueError, match="config describes"):
        Checkpoint(params=init(config.layers, rng=0), opt_state=OptState(step=0), epoch=0, rng_state=state, config=config)
    placed = Checkpoint(params=init(config.network_layers, rng=0), opt_state=OptState(step=0), epoch=0,
                        rng_state=state, config=config)
    assert placed.params.arch.layers == config.network_layers


@pytest.fixture
def cli(isolated, small_mnist_dir):
    def run(*args: str) -> None:
        result = CliRunner().invoke(app, ["train", "--data", str(small_mnist_dir), *args])
        assert result.exit_code == 0, result.output

    return run


def test_a_dropout_run_saves_its_dropout_layers_and_round_trips(cli):
    cli("--layers", "784,16,8,10", "--dropout", "0.3", "--epochs", "1", "--out", "model.npz")
    saved = load("model.npz")
    assert saved.params.arch.layers == (784, 16, "dropout0.3", 8, "dropout0.3", 10)
    assert kind_names(saved.params) == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert saved.params.layers[1] == Dropout(0.3) and saved.config.layers == (784, 16, 8, 10)
    save("again.npz", saved)
    again = load("again.npz")
    assert again.params == saved.params and again.config == saved.config
    assert [raw(s.arrays()) for s in again.opt_state.slots] == [raw(s.arrays()) for s in saved.opt_state.slots]


def test_resuming_a_dropout_run_is_bitwise(cli):
    """From a new --dropout checkpoint: two epochs at once, and one then another, give the same bytes."""
    cli("--layers", "784,16,10", "--dropout", "0.3", "--batch-size", "256", "--epochs", "1", "--out", "one.npz")
    cli("--resume", "one.npz", "--epochs", "3", "--out", "straight.npz")
    cli("--resume", "one.npz", "--epochs", "2", "--out", "step.npz")
    cli("--resume", "step.npz", "--epochs", "3", "--out", "step.npz")
    stepped, straight = load("step.npz"), load("straight.npz")
    assert stepped.epoch == straight.epoch == 3 and stepped.rng_state == straight.rng_state
    assert raw(stepped.params.arrays()) == raw(straight.params.arrays())
    assert [raw(s.arrays()) for s in stepped.opt_state.slots] == [raw(s.arrays()) for s in straight.opt_state.slots]
    assert kind_names(stepped.params) == ["Dense", "Dropout", "Dense"]


def test_summary_and_dry_run_show_a_dropout_run_sensibly(cli):
    cli("--layers", "784,16,10", "--dropout", "0.3", "--epochs", "1", "--out", "model.npz")
    shown = CliRunner().invoke(app, ["summary", "model.npz", "--json"])
    assert shown.exit_code == 0, shown.output
    assert '"dropout0.3"' in shown.stdout
    dry = CliRunner().invoke(app, ["train", "--layers", "784,16,10", "--dropout", "0.3", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert '"layers": [784, 16, 10]' in dry.stdout and '"dropout": 0.3' in dry.stdout
