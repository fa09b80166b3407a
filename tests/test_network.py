"""The network's records and checks: architecture, initialisation, input validation."""

from __future__ import annotations

import numpy as np
import pytest

from purenet import Arch, backward, forward, init, loss, predict

pytestmark = pytest.mark.core  # the core math: `pytest -m core` runs it alone, in seconds


def test_architecture_is_readable_from_the_record():
    params = init([784, 200, 200, 10], act="sigmoid", rng=0, loss="mse")
    assert params.arch == Arch(layers=(784, 200, 200, 10), act="sigmoid", loss="mse")
    assert [layer.w.shape for layer in params.layers] == [(784, 200), (200, 200), (200, 10)]
    assert params.dtype == np.float32
    assert params.size == 784 * 200 + 200 + 200 * 200 + 200 + 200 * 10 + 10


@pytest.mark.parametrize("depth", [1, 2, 5, 8])
def test_any_depth_works(depth):
    sizes = [6] + [5] * (depth - 1) + [3]
    params = init(sizes, act="elu", rng=0)
    x = np.ones((2, 6), np.float32)
    grads = backward(params, forward(params, x), np.array([0, 2]))
    assert len(params.layers) == len(grads.layers) == depth


@pytest.mark.parametrize(
    "scheme, act, check",
    [
        ("he", "relu", lambda w: abs(w.std() - np.sqrt(2 / 400)) < 0.05 * np.sqrt(2 / 400)),
        ("auto", "relu", lambda w: abs(w.std() - np.sqrt(2 / 400)) < 0.05 * np.sqrt(2 / 400)),
        ("xavier", "relu", lambda w: np.abs(w).max() <= np.sqrt(6 / 700) and np.abs(w).max() > 0.95 * np.sqrt(6 / 700)),
        ("auto", "tanh", lambda w: np.abs(w).max() <= np.sqrt(6 / 700) and np.abs(w).max() > 0.95 * np.sqrt(6 / 700)),
        ("uniform", "sigmoid", lambda w: np.abs(w).max() <= 1 / 20 and np.abs(w).max() > 0.95 / 20),
    ],
)
def test_initialisation_schemes(scheme, act, check):
    params = init([400, 300], act=act, init=scheme, rng=0)
    assert check(params.layers[0].w)
    np.testing.assert_array_equal(params.layers[0].b, 0)


def test_batch_of_one_is_the_same_as_a_row_of_a_batch():
    params = init([6, 5, 3], act="tanh", rng=0, dtype=np.float64)
    x = np.random.default_rng(1).random((4, 6))
    np.testing.assert_allclose(predict(params, x[2:3]), predict(params, x)[2:3], rtol=1e-12)


@pytest.mark.parametrize(
    "x, message",
    [
        (np.zeros((3, 5), np.float32), r"shape \(N, 6\)"),
        (np.zeros(6, np.float32), r"shape \(N, 6\)"),
        (np.zeros((0, 6), np.float32), "N >= 1"),
        (np.zeros((3, 6), np.uint8), "floating point"),
    ],
)
def test_bad_inputs_are_refused_clearly(x, message):
    with pytest.raises(ValueError, match=message):
        forward(init([6, 3], rng=0), x)


@pytest.mark.parametrize(
    "y, message",
    [
        (np.array([0, 1]), r"shape \(3,\)"),
        (np.array([0.0, 1.0, 2.0]), "integers"),
        (np.array([0, 1, 3]), "0..2"),
        (np.array([0, -1, 2]), "0..2"),
    ],
)
def test_bad_labels_are_refused_clearly(y, message):
    params = init([6, 3], rng=0)
    with pytest.raises(ValueError, match=message):
        backward(params, forward(params, np.zeros((3, 6), np.float32)), y)
    with pytest.raises(ValueError, match=message):
        loss(params, np.zeros((3, 6), np.float32), y)


@pytest.mark.parametrize("sizes", [[784], [784, 0, 10], []])
def test_bad_layer_sizes_are_refused(sizes):
    with pytest.raises(ValueError, match="layer list"):
        init(sizes, rng=0)


def test_only_float32_or_float64():
    with pytest.raises(ValueError, match="float32 or float64"):
        init([4, 2], rng=0, dtype=np.float16)


@pytest.mark.parametrize("layers", [["conv4k5", "pool2", 10], ("dropout0.5", 16, 10), ["avgpool4", "flatten", 10]])
def test_a_list_that_starts_with_a_layer_reads_28x28_images_as_layers_does(layers):
    """init follows --layers' rule (purenet.runs.config.parse_layers): no width first means MNIST's 784 pixels."""
    from purenet.core.records import same_structure
    from purenet.runs.config import parse_layers

    params = init(layers, rng=0)
    assert params.arch.layers == parse_layers(",".join(map(str, layers)))
    assert params.arch.inputs == 784
    assert same_structure(params, init([784, *layers], rng=0))
    assert predict(params, np.zeros((2, 784), np.float32)).shape == (2, 10)


def test_a_list_that_starts_with_a_layer_still_names_a_bad_item():
    with pytest.raises(ValueError, match=r"layer list \[784, 'conv4k5', 'bogus', 10\]: item 3 \(bogus\): not a layer"):
        init(["conv4k5", "bogus", 10], rng=0)


def test_every_library_entry_taking_a_layer_list_reads_one_that_starts_with_a_layer():
    """init's rule holds wherever the library takes a layer list: the run's settings, the
    summary and the benchmarks."""
    from purenet.apps import bench
    from purenet.core.summary import summary
    from purenet.runs.config import RunConfig

    written, full = ["conv4k5", "pool2", 10], [784, "conv4k5", "pool2", 10]
    assert RunConfig(layers=written).layers == RunConfig(layers=full).layers
    assert summary(written) == summary(full)
    assert bench.train_flops_per_sample(written) == bench.train_flops_per_sample(full)
    (x, y), = bench.synthetic_batches(written, 4, count=1)
    assert x.shape == (4, 784) and y.max() < 10
    assert bench.train_rate(written, "relu", 4, seconds=0.01, repeats=1).median > 0
    assert bench.infer_rate(written, "relu", 4, seconds=0.01, repeats=1).median > 0


def test_the_0_1_name_of_the_layer_list_still_works_with_a_warning():
    arch = init([784, "conv4k3", "pool2", 10], rng=0).arch
    with pytest.warns(DeprecationWarning, match="Arch.sizes is now Arch.layers"):
        assert arch.sizes == arch.layers == (784, "conv4k3", "maxpool2", 10)
    with pytest.warns(DeprecationWarning, match=r"Arch\(sizes=...\) is now Arch\(layers=...\)"):
        assert Arch(sizes=[784, 10], act="relu", loss="ce") == Arch([784, 10], "relu", "ce")
    with pytest.raises(TypeError, match="not both"), pytest.warns(DeprecationWarning):
        Arch([784, 10], "relu", "ce", sizes=[784, 10])
    with pytest.raises(TypeError, match="needs layers, act and loss"):
        Arch([784, 10], "relu")
    assert not hasattr(arch, "dense_only")
