"""Whole networks with the new layers: gradients, purity, determinism, weight decay,
tree_map, checkpoints, and a layer kind defined here, outside the package."""

from __future__ import annotations

import json
import re

import attrs
import numpy as np
import pytest
from gradcheck import TOLERANCE, numerical_grads, relative_errors

import purenet
from purenet import SGD, Adam, Momentum, Params, backward, forward, init, loss, predict, sgd, train_step, tree_map
from purenet.core.arrays import fresh, learned, learned_names, static_names
from purenet.core.layers import (
    Context,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    LayerKind,
    MaxPool,
    Plan,
    ToImage,
    kinds,
    register,
)
from purenet.runs.checkpoint import Checkpoint, CheckpointError, load, save

# --- helpers --------------------------------------------------------------------------------


def randomized(params: Params, rng: np.random.Generator, scale: float = 0.5) -> Params:
    """Every learned array redrawn N(0, scale): non-zero biases too."""
    return tree_map(lambda a: rng.normal(0, scale, a.shape), params)


def all_arrays(*values) -> list[np.ndarray]:
    """Every array reachable from ``values`` (records, tuples, lists, arrays)."""
    found = []
    for value in values:
        if isinstance(value, np.ndarray):
            found.append(value)
        elif attrs.has(type(value)):
            found.extend(all_arrays(*(getattr(value, f.name) for f in attrs.fields(type(value)))))
        elif isinstance(value, (tuple, list)):
            found.extend(all_arrays(*value))
    return found


def snapshot(*values) -> list[bytes]:
    return [a.tobytes() for a in all_arrays(*values)]


def raw_bytes(params: Params) -> list[bytes]:
    return [a.tobytes() for a in params.arrays()]


# --- a layer kind defined outside the package ----------------------------------------------

SCALE_NAME = "testconvnetscale"  # unregistering is not supported: a name no other module uses


@attrs.frozen
class Scale:
    """``out = x * s``: one learned scalar, not decayed."""

    s: np.ndarray = learned(decay=False)


@attrs.frozen
class ScaleSpec:
    token = SCALE_NAME


@attrs.frozen
class ScaleCache:
    x: np.ndarray = attrs.field(eq=False)


def _scale_parse(token: str):
    return ScaleSpec() if token == SCALE_NAME else None


def _scale_plan(spec, in_shape):
    return Plan(static={}, shapes={"s": (1,)}, out_shape=in_shape)


def _scale_init(spec, in_shape, rng, dtype, scheme):
    return Scale(s=np.ones(1, dtype=dtype)), in_shape


def _scale_forward(layer, x, ctx):
    return fresh(x * layer.s[0]), ScaleCache(x)


def _scale_backward(layer, cache, d_out, ctx):
    grads = Scale(s=fresh(np.array([np.sum(d_out * cache.x)], dtype=d_out.dtype)))
    return grads, (d_out * layer.s[0] if ctx.need_dx else None)


def scale_kind() -> LayerKind:
    for kind in kinds():
        if kind.name == SCALE_NAME:  # the module imported twice: keep the first registration
            return kind
    return register(LayerKind(
        name=SCALE_NAME, record=Scale, parse=_scale_parse, plan=_scale_plan, init=_scale_init,
        forward=_scale_forward, backward=_scale_backward,
    ))


SCALE = scale_kind()

# --- 6. whole-network gradients ------------------------------------------------------------

NETS = {
    # conv same, max pool, conv valid, avg pool to 1x1, implicit flatten
    "same-max-valid-avg": ([36, "conv3k3", "maxpool2", "conv2k2valid", "avgpool2", 5, 3], "tanh"),
    # stride 2 with an odd total padding (7 -> 4 rows, pad 0 above, 1 below), dropout, explicit flatten
    "stride2-dropout-flatten": ([49, "conv2k2s2", "avgpool2", "dropout0.3", "flatten", 6, 3], "sigmoid"),
    # valid then same stride 2, max pool that crops (3x3 -> 1x1), dropout on an image, implicit flatten
    "valid-stride2-crop": ([64, "conv3k3valid", "conv2k3s2", "maxpool2", "dropout0.5", 4, 3], "elu"),
}


@pytest.mark.core  # a gradient check: part of the core loop
@pytest.mark.parametrize("loss_name", ["ce", "mse"])
@pytest.mark.parametrize("net", sorted(NETS))
def test_network_gradients_match_central_differences(net, loss_name):
    sizes, act = NETS[net]
    rng = np.random.default_rng(sorted(NETS).index(net))
    params = randomized(init(sizes, act=act, loss=loss_name, rng=rng, dtype=np.float64), rng)
    n = 4
    x = rng.normal(0, 1, (n, sizes[0]))
    y = rng.integers(0, sizes[-1], n)

    def training_cache(p: Params):  # a training pass: dropout layers draw the same mask each time
        return forward(p, x, rng=np.random.default_rng(9))

    cache = training_cache(params)
    masks = [c.keep for c in cache.layers if type(c).__name__ == "DropoutCache"]
    if "dropout" in net:
        assert masks and all(m is not None and (m == 0).any() and (m > 0).any() for m in masks)
    analytic = list(backward(params, cache, y).arrays())
    numeric = numerical_grads(lambda p: loss(p, training_cache(p), y), params)
    errors = relative_errors(numeric, analytic)
    assert all(a.dtype == np.float64 for a in analytic)
    assert all(np.linalg.norm(nu) > 0 for nu in numeric)  # every array really reaches the loss
    assert max(errors) < TOLERANCE, errors


@pytest.mark.core  # a gradient check: part of the core loop
@pytest.mark.parametrize(
    "sizes, n",
    [
        ([16, "conv2k3", "avgpool1", 3], 2),  # a 1x1 average pool
        ([16, "conv2k3", "avgpool4", 3], 1),  # one window per image, one image
        ([16, "conv2k3", "avgpool4", "dropout0.5", 3], 1),
        ([16, "conv2k3", "dropout0.5", "avgpool1", 3], 2),
    ],
)
def test_average_pooling_above_a_layer_that_writes_its_d_out(sizes, n):
    """Conv and dropout write their d_out in place (the protocol allows it); the average
    pool above them must hand down an array they can write, whatever the batch or pool size."""
    rng = np.random.default_rng(5)
    params = randomized(init(sizes, act="tanh", rng=rng, dtype=np.float64), rng)
    x, y = rng.normal(size=(n, sizes[0])), rng.integers(0, 3, n)

    def training_cache(p: Params):
        return forward(p, x, rng=np.random.default_rng(2))

    analytic = list(backward(params, training_cache(params), y).arrays())
    numeric = numerical_grads(lambda p: loss(p, training_cache(p), y), params)
    assert max(relative_errors(numeric, analytic)) < TOLERANCE


@pytest.mark.core  # a gradient check: part of the core loop
def test_the_network_check_catches_a_wrong_gradient(monkeypatch):
    """The comparison can fail: max pooling that sends its gradient to the last element of
    each window instead of the maximum is caught."""
    import purenet.core.layers.pool as pool

    sizes, act = NETS["same-max-valid-avg"]
    rng = np.random.default_rng(0)
    params = randomized(init(sizes, act=act, rng=rng, dtype=np.float64), rng)
    x, y = rng.normal(size=(3, sizes[0])), rng.integers(0, 3, 3)

    def misrouted(layer, cache, d_out):  # every window's gradient to its bottom-right element
        k, (_, oh, ow, _) = layer.size, d_out.shape
        grads = np.zeros(cache.x_shape, d_out.dtype)
        grads[:, k - 1:oh * k:k, k - 1:ow * k:k, :] = d_out
        return grads

    monkeypatch.setattr(pool, "max_pool_backward", misrouted)
    analytic = list(backward(params, forward(params, x), y).arrays())
    numeric = numerical_grads(lambda p: loss(p, x, y), params)
    assert relative_errors(numeric, analytic)[0] > TOLERANCE


# --- 7. purity and determinism -------------------------------------------------------------

PURITY_NET = [64, "conv3k3", "maxpool2", "dropout0.3", "conv2k2s2valid", "avgpool2", "flatten", 5, 3]
PURITY_RECORDS = 9  # ToImage, Conv2D, MaxPool, Dropout, Conv2D, AvgPool, Flatten, Dense, Dense


@pytest.fixture
def conv_batch():
    rng = np.random.default_rng(0)
    params = init(PURITY_NET, act="relu", rng=rng)
    x = rng.random((4, 64), dtype=np.float32)
    y = rng.integers(0, 3, 4)
    return params, x, y


def test_snapshot_sees_a_change_through_a_record():
    """The purity checks below can fail: a write into the array under a record (its
    caller's writeable original) changes the record's snapshot, and caches are walked into."""
    w = np.ones((1, 1, 1, 2))
    record = Conv2D(w=w, b=np.zeros(2))
    before = snapshot(record)
    w[0, 0, 0, 1] = 5.0
    assert snapshot(record) != before
    params = init([16, "conv2k3", "dropout0.5", 3], rng=0)
    cache = forward(params, np.ones((2, 16), np.float32), rng=np.random.default_rng(0))
    found = snapshot(cache)
    assert cache.layers[1].columns.tobytes() in found and cache.layers[2].keep.tobytes() in found


@pytest.mark.parametrize("loss_name", ["ce", "mse"])
def test_network_calls_leave_every_input_unchanged(conv_batch, loss_name):
    _, x, y = conv_batch
    params = init(PURITY_NET, act="tanh", loss=loss_name, rng=1)
    before = snapshot(params, x, y)
    cache = forward(params, x, rng=np.random.default_rng(3))
    cache_before = snapshot(cache)
    grads = backward(params, cache, y)
    grads_before = snapshot(grads)
    sgd(params, grads, 0.1)
    predict(params, x), loss(params, x, y), loss(params, cache, y)
    tree_map(lambda a: a * 2, params)
    backward(params, cache, y)  # a second backward from the same cache
    assert snapshot(params, x, y) == before
    assert snapshot(cache) == cache_before
    assert snapshot(grads) == grads_before


@pytest.mark.parametrize(
    "optimizer", [SGD(0.1), SGD(0.1, weight_decay=1e-3), Momentum(0.1, weight_decay=1e-3), Adam(1e-3, weight_decay=1e-4)],
    ids=repr,
)
def test_optimizer_updates_leave_their_inputs_unchanged(conv_batch, optimizer):
    params, x, y = conv_batch
    grads = backward(params, forward(params, x, rng=np.random.default_rng(1)), y)
    state = optimizer.update(params, grads, optimizer.init(params))[1]
    before = snapshot(params, grads, state)
    new_params, new_state = optimizer.update(params, grads, state)
    assert snapshot(params, grads, state) == before
    assert new_state.step == state.step + 1
    assert not np.array_equal(new_params.layers[1].w, params.layers[1].w)  # the convolution moved


def test_every_array_in_the_records_is_read_only(conv_batch):
    params, x, y = conv_batch
    cache = forward(params, x, rng=np.random.default_rng(1))
    grads = backward(params, cache, y)
    state = Adam().update(params, grads, Adam().init(params))[1]
    arrays = all_arrays(params, grads, state, cache)
    kinds_seen = {type(c).__name__ for c in cache.layers}
    assert {"ConvCache", "PoolCache", "DropoutCache", "ShapeCache", "DenseCache"} <= kinds_seen
    assert len(arrays) > 20
    for array in arrays:
        with pytest.raises(ValueError, match="read-only"):
            array[...] = 0


@pytest.mark.parametrize(
    "first", ["maxpool2", "maxpool1", "avgpool2", "conv2k1", "conv2k1valid", "conv2k3", "dropout0.5", "flatten", 4],
)
def test_no_cache_lets_anyone_write_into_the_callers_input(first):
    """Each kind directly on the caller's input (which the network takes without a copy when
    its dtype matches): every array the cache holds is read-only, so nobody holding the cache
    can write into the caller's array, and the caller's array keeps its flags."""
    params = init([16, first, 3], act="tanh", rng=0)
    x = np.random.default_rng(0).random((2, 16), dtype=np.float32)
    kept = x.copy()
    cache = forward(params, x, rng=np.random.default_rng(1))
    backward(params, cache, np.array([0, 2]))
    for array in all_arrays(cache):
        with pytest.raises(ValueError, match="read-only"):
            array[...] = 0
    np.testing.assert_array_equal(x, kept)
    assert x.flags.writeable


@pytest.mark.parametrize("layer_index", range(PURITY_RECORDS))
def test_each_kind_leaves_its_record_input_and_cache_alone(conv_batch, layer_index):
    """Kind by kind (at the level of the protocol): forward and backward write none of the
    record, the input or the cache; only ``d_out``, which backward may consume."""
    params, x, y = conv_batch
    assert len(params.layers) == PURITY_RECORDS
    record = params.layers[layer_index]
    kind = purenet.core.layers.kind_of(record)
    layer_input = np.array(_input_of(params, layer_index, x))  # a writeable array of the caller's
    before = snapshot(record, layer_input)
    act = purenet.core.network.layer_activations(params)[layer_index]
    out, layer_cache = kind.forward(record, layer_input, Context(act=act, rng=np.random.default_rng(4)))
    cache_before = snapshot(layer_cache)
    kind.backward(record, layer_cache, np.ones(out.shape, out.dtype), Context(act=act))
    assert snapshot(record, layer_input) == before
    assert snapshot(layer_cache) == cache_before
    assert layer_input.flags.writeable  # the caller's flags are the caller's


def _input_of(params: Params, index: int, x) -> np.ndarray:
    """What layer ``index`` reads in an inference pass."""
    acts = purenet.core.network.layer_activations(params)
    value = x
    for i in range(index):
        value, _ = purenet.core.layers.kind_of(params.layers[i]).forward(params.layers[i], value, Context(act=acts[i]))
    return value


def adam_steps(seed: int, dropout_seed: int | None = None) -> Params:
    """Five Adam steps of a conv net with a Dropout layer; the training generator draws the masks."""
    params = init([36, "conv3k3", "maxpool2", "dropout0.5", 6, 3], act="relu", rng=seed)
    rng = np.random.default_rng(seed if dropout_seed is None else dropout_seed)
    data = np.random.default_rng(100)
    x, y = data.random((8, 36), dtype=np.float32), data.integers(0, 3, 8)
    optimizer = Adam(1e-2)
    state = optimizer.init(params)
    for _ in range(5):
        params, state, _ = train_step(params, state, x, y, optimizer, rng=rng)
    return params


def test_same_seed_same_params_with_dropout_and_other_seeds_differ():
    first, second = adam_steps(7), adam_steps(7)
    assert raw_bytes(first) == raw_bytes(second)
    assert raw_bytes(adam_steps(8)) != raw_bytes(first)
    # the same init, other dropout masks: the Dropout layer really draws from the training generator
    assert raw_bytes(adam_steps(7, dropout_seed=70)) != raw_bytes(first)


# --- 8. weight decay and tree_map ----------------------------------------------------------

DECAY_NET = [36, "conv3k3s2valid", "avgpool2", "dropout0.25", "flatten", 4, 3]


@pytest.mark.parametrize("optimizer_type", [SGD, Momentum])
def test_weight_decay_shrinks_conv_and_dense_weights_not_biases(optimizer_type):
    rng = np.random.default_rng(0)
    params = randomized(init(DECAY_NET, act="tanh", rng=0, dtype=np.float64), rng)
    zero = tree_map(np.zeros_like, params)
    lr, wd = 0.1, 0.01
    decayed, _ = optimizer_type(lr, weight_decay=wd).update(params, zero, optimizer_type(lr, weight_decay=wd).init(params))
    plain, _ = optimizer_type(lr).update(params, zero, optimizer_type(lr).init(params))
    conv, dense1, dense2 = params.layers[1], params.layers[-2], params.layers[-1]
    assert [type(layer) for layer in (conv, dense1, dense2)] == [Conv2D, Dense, Dense]
    for i, layer in enumerate(params.layers):
        for name in learned_names(type(layer)):
            moved = getattr(decayed.layers[i], name) - getattr(layer, name)
            np.testing.assert_array_equal(getattr(plain.layers[i], name), getattr(layer, name))  # zero grads: no move
            if name == "w":
                np.testing.assert_allclose(moved, -lr * wd * getattr(layer, name), rtol=1e-12, atol=1e-15)
                assert np.abs(moved).min() > 0
            else:
                np.testing.assert_array_equal(getattr(decayed.layers[i], name), getattr(layer, name))
    assert [type(layer) for layer in decayed.layers] == [type(layer) for layer in params.layers]
    assert (decayed.layers[1].stride, decayed.layers[1].padding) == (2, "valid")


def test_tree_map_keeps_static_fields_and_passes_arrayless_layers_through():
    params = init([64, "conv3k3s2valid", "conv2k3", "avgpool3", "flatten", "dropout0.25", 5], rng=0)
    doubled = tree_map(lambda a: 2 * a, params)
    added = tree_map(lambda a, b: a + b, params, doubled)
    for record in (doubled, added):
        assert record.arch == params.arch
        for new, old in zip(record.layers, params.layers):
            assert type(new) is type(old)
            for name in static_names(type(old)):
                assert getattr(new, name) == getattr(old, name), name
            if not learned_names(type(old)):
                assert new is old  # a layer without arrays is passed on as it is
    assert (doubled.layers[1].stride, doubled.layers[1].padding, doubled.layers[2].padding) == (2, "valid", "same")
    assert (doubled.layers[3].size, doubled.layers[5].rate, doubled.layers[0].side) == (3, 0.25, 8)
    np.testing.assert_array_equal(added.layers[1].w, 3 * params.layers[1].w)


# --- 9. checkpoints of conv networks -------------------------------------------------------

CHECKPOINT_NET = [36, "conv4k3", "maxpool2", "dropout0.2", "conv2k2s2valid", 5, 3]


def conv_checkpoint(layers=CHECKPOINT_NET, dtype=np.float32) -> Checkpoint:
    rng = np.random.default_rng(0)
    params = init(layers, act="relu", rng=rng, dtype=dtype)
    opt = Adam(1e-3)
    state = opt.init(params)
    x, y = rng.random((4, 36)).astype(dtype), np.array([0, 1, 2, 1])
    for _ in range(2):
        params, state, _ = train_step(params, state, x, y, opt, rng=rng)
    return Checkpoint(params=params, opt_state=state, epoch=1, rng_state=rng.bit_generator.state)


def arrays_of(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def rewrite(path, change) -> None:
    arrays = arrays_of(path)
    change(arrays)
    np.savez(path, **arrays)


def set_sizes(arrays, sizes) -> None:
    meta = json.loads(str(arrays["meta"]))
    meta["arch"]["sizes"] = sizes
    arrays["meta"] = np.array(json.dumps(meta))


def assert_same_records(loaded: Params, saved: Params) -> None:
    assert loaded.arch == saved.arch
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in saved.layers]
    for new, old in zip(loaded.layers, saved.layers):
        for name in static_names(type(old)):
            assert getattr(new, name) == getattr(old, name)
        for name in learned_names(type(old)):
            a, b = getattr(new, name), getattr(old, name)
            assert a.dtype == b.dtype and np.array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_checkpoint_round_trip_is_exact(tmp_path, dtype):
    checkpoint = conv_checkpoint(dtype=dtype)
    loaded = load(save(tmp_path / "conv.npz", checkpoint))
    assert_same_records(loaded.params, checkpoint.params)
    assert len(loaded.opt_state.slots) == 2 and loaded.opt_state.step == 2
    for got, kept in zip(loaded.opt_state.slots, checkpoint.opt_state.slots):
        assert_same_records(got, kept)
    assert loaded == checkpoint
    x = np.random.default_rng(1).random((3, 36))
    np.testing.assert_array_equal(predict(loaded.params, x), predict(checkpoint.params, x))
    assert [type(layer) for layer in loaded.params.layers] == [ToImage, Conv2D, MaxPool, Dropout, Conv2D, Flatten, Dense, Dense]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.update({"param.1.w": np.zeros((3, 3, 1, 3), np.float32)}), "expected float32[3, 3, 1, 4]"),
        (lambda a: a.update({"slot.1.4.w": np.zeros((2, 2, 4, 1), np.float32)}), "expected float32[2, 2, 4, 2]"),
        (lambda a: a.update({"param.4.b": np.zeros(2, np.float64)}), "expected float32[2]"),
        (lambda a: a.pop("param.4.b"), "missing array 'param.4.b'"),
        (lambda a: a.update({"param.2.w": np.zeros((1,), np.float32)}), "unexpected arrays ['param.2.w']"),
        (lambda a: set_sizes(a, [36, "conv0k3", "maxpool2", "dropout0.2", "conv2k2s2valid", 5, 3]),
         "not a network purenet can build"),
        (lambda a: set_sizes(a, [36, "conv4k3x", "maxpool2", "dropout0.2", "conv2k2s2valid", 5, 3]),
         "not a network purenet can build"),
        (lambda a: set_sizes(a, [36, "conv4k3", "pool2", "dropout0.2", "conv2k2s2valid", 5, 3]),
         "not in canonical form"),
        (lambda a: set_sizes(a, [36, "conv4k3s2", "maxpool2", "dropout0.2", "conv2k2s2valid", 5, 3]),
         "not a network purenet can build"),  # 3x3 after stride 2, 1x1 after the pool: conv2k2 valid cannot fit
        (lambda a: set_sizes(a, [36, "conv4k3", "maxpool2", "dropout0.2", "conv2k2s2valid", 6, 3]),
         "expected float32[2, 6]"),
        (lambda a: set_sizes(a, [36, "conv4k3", "maxpool2", "conv2k2s2valid", 5, 3]),
         "unexpected arrays ['param.4.b'"),  # without dropout the layers move down one
    ],
)
def test_tampered_conv_checkpoints_are_refused(tmp_path, change, message):
    """Arrays of the wrong shape or dtype, missing or extra arrays, and layer lists that are
    no network, not canonical, or that do not match the arrays."""
    path = save(tmp_path / "conv.npz", conv_checkpoint())
    rewrite(path, change)
    with pytest.raises(CheckpointError, match=re.escape(message)) as caught:
        load(path)
    assert str(path) in str(caught.value)


# --- 10. a layer kind registered from a test ------------------------------------------------

SCALE_NET = [36, "conv2k3", SCALE_NAME, "maxpool2", SCALE_NAME, 4, 3]


def test_a_registered_kind_is_built_from_its_token():
    params = init(SCALE_NET, act="tanh", rng=0)
    assert params.arch.layers == (36, "conv2k3", SCALE_NAME, "maxpool2", SCALE_NAME, 4, 3)
    assert [type(layer) for layer in params.layers] == [ToImage, Conv2D, Scale, MaxPool, Scale, Flatten, Dense, Dense]
    assert params.layers[2].s.tolist() == [1.0]
    assert params.layers[-2].w.shape == (3 * 3 * 2, 4)
    assert init([36, SCALE_NAME.upper(), 3], rng=0).arch.layers == (36, SCALE_NAME, 3)


def test_a_registered_kind_trains_with_adam_and_keeps_its_scale_undecayed():
    params = init(SCALE_NET, act="tanh", rng=0)
    data = np.random.default_rng(1)
    x, y = data.random((16, 36), dtype=np.float32), data.integers(0, 3, 16)
    optimizer = Adam(3e-2, weight_decay=1e-2)
    state = optimizer.init(params)
    start = loss(params, x, y)
    first = params
    for _ in range(15):
        params, state, _ = train_step(params, state, x, y, optimizer, rng=np.random.default_rng(0))
    assert loss(params, x, y) < 0.8 * start
    assert params.layers[2].s[0] != first.layers[2].s[0]  # the scale learned something
    # weight decay leaves the undecayed scale alone: with zero grads only the weights move
    zero = tree_map(np.zeros_like, params)
    decayed, _ = SGD(0.1, weight_decay=0.5).update(params, zero, SGD(0.1).init(params))
    assert np.array_equal(decayed.layers[2].s, params.layers[2].s)
    assert not np.array_equal(decayed.layers[1].w, params.layers[1].w)


@pytest.mark.core  # a gradient check: part of the core loop
@pytest.mark.parametrize("loss_name", ["ce", "mse"])
def test_a_registered_kind_passes_the_gradient_check(loss_name):
    rng = np.random.default_rng(2)
    params = randomized(init(SCALE_NET, act="tanh", loss=loss_name, rng=rng, dtype=np.float64), rng)
    x, y = rng.normal(size=(3, 36)), rng.integers(0, 3, 3)
    analytic = list(backward(params, forward(params, x), y).arrays())
    numeric = numerical_grads(lambda p: loss(p, x, y), params)
    assert max(relative_errors(numeric, analytic)) < TOLERANCE


def test_a_registered_kind_survives_a_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    params = init(SCALE_NET, act="relu", rng=rng)
    opt = Adam(1e-2)
    state = opt.init(params)
    x, y = rng.random((4, 36), dtype=np.float32), np.array([0, 1, 2, 1])
    for _ in range(2):
        params, state, _ = train_step(params, state, x, y, opt, rng=rng)
    checkpoint = Checkpoint(params=params, opt_state=state, epoch=1, rng_state=rng.bit_generator.state)
    path = save(tmp_path / "scale.npz", checkpoint)
    assert {"param.2.s", "param.4.s", "slot.0.2.s", "slot.1.4.s"} <= set(arrays_of(path))
    loaded = load(path)
    assert_same_records(loaded.params, checkpoint.params)
    for got, kept in zip(loaded.opt_state.slots, checkpoint.opt_state.slots):
        assert_same_records(got, kept)
    rewrite(path, lambda a: a.update({"param.2.s": np.ones(2, np.float32)}))
    with pytest.raises(CheckpointError, match=re.escape("array 'param.2.s' is float32[2], expected float32[1]")):
        load(path)
