"""Optimizers: each update rule checked against its formula (docs/math.md); the frame they
share; their default learning rates."""

from __future__ import annotations

import subprocess
import sys

import attrs
import numpy as np
import pytest

import purenet.core.optim as optim
from purenet import OPTIMIZERS, SGD, Adam, Momentum, Nesterov, Params, RunConfig, init, make_optimizer, sgd, tree_map
from purenet.core.lr_defaults import DEFAULT_LR
from purenet.core.optim import PerArrayRule

pytestmark = pytest.mark.core  # the core math: `pytest -m core` runs it alone, in seconds


@pytest.fixture
def params():
    return init([4, 3, 2], act="tanh", rng=0, dtype=np.float64)


def constant_grads(params: Params, value: float) -> Params:
    return tree_map(lambda a: np.full_like(a, value), params)


def w0(record: Params) -> np.ndarray:
    return record.layers[0].w


def test_sgd_step(params):
    grads = constant_grads(params, 2.0)
    np.testing.assert_allclose(w0(sgd(params, grads, 0.1)), w0(params) - 0.2)
    new, state = SGD(0.1).update(params, grads, SGD(0.1).init(params))
    np.testing.assert_array_equal(w0(new), w0(sgd(params, grads, 0.1)))
    assert state.step == 1


def test_sgd_rejects_grads_of_another_network(params):
    other = init([4, 5, 2], rng=0, dtype=np.float64)
    with pytest.raises(ValueError, match="do not match"):
        sgd(params, other, 0.1)


def test_momentum_accumulates_velocity(params):
    opt = Momentum(lr=0.1, beta=0.9)
    grads = constant_grads(params, 1.0)
    p1, s1 = opt.update(params, grads, opt.init(params))
    p2, s2 = opt.update(p1, grads, s1)
    # v1 = g = 1, v2 = 0.9 + 1 = 1.9: the two steps move w by 0.1 and 0.19
    np.testing.assert_allclose(w0(p1), w0(params) - 0.1)
    np.testing.assert_allclose(w0(p2), w0(params) - 0.1 - 0.19)
    np.testing.assert_allclose(w0(s2.slots[0]), 1.9)


def test_nesterov_looks_ahead(params):
    opt = Nesterov(lr=0.1, beta=0.9)
    assert opt.nesterov and isinstance(opt, Momentum)
    grads = constant_grads(params, 1.0)
    p1, _ = opt.update(params, grads, opt.init(params))
    # v1 = 1, step = g + beta v1 = 1.9
    np.testing.assert_allclose(w0(p1), w0(params) - 0.19)


def test_adam_first_step_is_lr_times_sign(params):
    opt = Adam(lr=0.01)
    grads = tree_map(lambda a: np.where(np.arange(a.size).reshape(a.shape) % 2, 3.0, -0.5), params)
    p1, state = opt.update(params, grads, opt.init(params))
    # with bias correction, m_hat = g and v_hat = g^2, so the step is lr * g / |g|
    np.testing.assert_allclose(w0(p1) - w0(params), -0.01 * np.sign(w0(grads)), rtol=1e-6)
    assert state.step == 1
    np.testing.assert_allclose(w0(state.slots[0]), 0.1 * w0(grads))
    np.testing.assert_allclose(w0(state.slots[1]), 0.001 * w0(grads) ** 2)


@pytest.mark.parametrize("opt", [SGD(0.1, weight_decay=0.5), Momentum(0.1, weight_decay=0.5), Adam(0.1, weight_decay=0.5)],
                         ids=repr)
def test_weight_decay_pulls_weights_not_biases(params, opt):
    zero = constant_grads(params, 0.0)
    new, _ = opt.update(params, zero, opt.init(params))
    w_moved = np.abs(w0(new)) < np.abs(w0(params))
    assert w_moved[w0(params) != 0].all()
    np.testing.assert_array_equal(new.layers[0].b, params.layers[0].b)


def test_learning_rate_may_be_a_schedule(params):
    opt = SGD(lr=lambda step: 0.1 / (step + 1))
    grads = constant_grads(params, 1.0)
    p1, s1 = opt.update(params, grads, opt.init(params))
    p2, _ = opt.update(p1, grads, s1)
    np.testing.assert_allclose(w0(p2), w0(params) - 0.1 - 0.05)


def test_float32_stays_float32():
    params = init([4, 3, 2], rng=0)
    grads = constant_grads(params, 1.0)
    for opt in (SGD(np.float64(0.1)), Momentum(0.1), Adam(1e-3, weight_decay=1e-2)):
        new, state = opt.update(params, grads, opt.init(params))
        assert all(a.dtype == np.float32 for a in new.arrays())
        assert all(a.dtype == np.float32 for slot in state.slots for a in slot.arrays())


def test_make_optimizer_by_name():
    assert make_optimizer("nesterov", 0.2, 1e-4) == Nesterov(lr=0.2, weight_decay=1e-4)
    assert isinstance(make_optimizer("adam", 1e-3), Adam)
    with pytest.raises(ValueError, match="choose one of"):
        make_optimizer("rmsprop", 0.1)


# ----------------------------------------------------------------- the frame


@pytest.mark.parametrize("opt", [SGD(0.1), Momentum(0.1, weight_decay=0.1), Nesterov(0.1), Adam(0.1)], ids=repr)
def test_the_structure_is_checked_once_per_step(params, opt, monkeypatch):
    checks = []
    monkeypatch.setattr(optim, "same_structure", lambda a, b: checks.append((a, b)) or True)
    opt.update(params, constant_grads(params, 1.0), opt.init(params))
    assert len(checks) == 1


@pytest.mark.parametrize("opt", [SGD(0.1), Momentum(0.1), Adam(0.1)], ids=repr)
def test_every_optimizer_rejects_grads_of_another_network(params, opt):
    other = init([4, 5, 2], rng=0, dtype=np.float64)
    with pytest.raises(ValueError, match="do not match"):
        opt.update(params, other, opt.init(params))


def test_a_state_with_the_wrong_number_of_slots_is_refused(params):
    grads = constant_grads(params, 1.0)
    with pytest.raises(ValueError, match="Adam keeps 2 slot records, the state has 1"):
        Adam().update(params, grads, Momentum().init(params))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_slots_a_run_counts_are_the_ones_init_makes(params, name):
    opt = make_optimizer(name, 0.1)
    state = opt.init(params)
    assert len(state.slots) == len(type(opt).SLOTS) == RunConfig(optimizer=name).slots
    assert all(not a.any() for slot in state.slots for a in slot.arrays())  # zeros
    assert all(s.arch == params.arch for s in state.slots)


@attrs.frozen
class SignDescent(PerArrayRule):
    """A rule the frame has not seen: step by the gradient's sign, counting the steps in a slot."""

    SLOTS = ("seen",)
    lr: float = 0.1
    weight_decay: float = 0.0

    def direction(self, g, slots, t):
        (seen,) = slots
        return np.sign(g), (seen + 1,)


def test_a_new_rule_gets_the_whole_frame(params):
    grads = tree_map(lambda a: np.where(np.arange(a.size).reshape(a.shape) % 2, 3.0, -0.5), params)
    opt = SignDescent(lr=0.1, weight_decay=10.0)
    new, state = opt.update(params, grads, opt.init(params))
    new, state = opt.update(new, grads, state)
    assert state.step == 2 and len(state.slots) == 1
    np.testing.assert_array_equal(state.slots[0].layers[1].w, 2.0)
    # biases: two steps of 0.1 against the gradient's sign; weights: the decay (10 w) decides the sign
    np.testing.assert_allclose(new.layers[0].b, params.layers[0].b - 0.2 * np.sign(grads.layers[0].b))
    expected = w0(params) - 0.1 * np.sign(w0(grads) + 10 * w0(params))
    expected = expected - 0.1 * np.sign(w0(grads) + 10 * expected)
    np.testing.assert_allclose(w0(new), expected)
    assert all(not a.flags.writeable for record in (new, *state.slots) for a in record.arrays())


def unfused(opt):
    """The same optimizer with its fused path off: the rule's ``direction`` on whole arrays."""
    plain = attrs.make_class("Plain" + type(opt).__name__, {}, bases=(type(opt),), frozen=True)
    plain.FUSED = False
    return plain(**attrs.asdict(opt, recurse=False))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("block", [optim.BLOCK, 7])  # 7: every array in many blocks, the last one short
@pytest.mark.parametrize("opt", [Momentum(0.05), Nesterov(0.05), Adam(3e-3), Nesterov(0.05, weight_decay=5e-4),
                                 Adam(3e-3, weight_decay=1e-4)], ids=repr)
def test_the_fused_update_gives_the_rules_numbers_bit_for_bit(opt, block, dtype, monkeypatch):
    """Each built-in rule, block by block into preallocated arrays, against its ``direction`` on
    whole arrays (the formula of docs/math.md): the same bits, for several steps."""
    monkeypatch.setattr(optim, "BLOCK", block)
    rng = np.random.default_rng(1)
    params = init([30, 17, 5], rng=0, dtype=dtype)
    plain = unfused(opt)
    assert type(opt).FUSED and not type(plain).FUSED
    fused_p, plain_p, fused_s, plain_s = params, params, opt.init(params), plain.init(params)
    for _ in range(4):
        grads = tree_map(lambda a: rng.standard_normal(a.shape).astype(dtype), params)
        fused_p, fused_s = opt.update(fused_p, grads, fused_s)
        plain_p, plain_s = plain.update(plain_p, grads, plain_s)
    for fused, reference in zip((fused_p, *fused_s.slots), (plain_p, *plain_s.slots), strict=True):
        for a, b in zip(fused.arrays(), reference.arrays(), strict=True):
            assert a.dtype == b.dtype == dtype and not a.flags.writeable
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(w0(fused_p), w0(params))  # the steps moved the weights


def test_the_fused_comparison_can_fail(monkeypatch):
    """A fused Adam that rounds one operation differently is caught by the comparison above."""
    original = Adam.fused

    def sloppy(self, t, scale, dtype):
        block = original(self, t, scale, dtype)

        def changed(p, g, slots, out, out_slots, tmp):
            block(p, g, slots, out, out_slots, tmp)
            out *= dtype.type(1 + 1e-6)  # about one unit in the last place of float32: a different rounding

        return changed

    monkeypatch.setattr(Adam, "fused", sloppy)
    with pytest.raises(AssertionError):
        test_the_fused_update_gives_the_rules_numbers_bit_for_bit(Adam(3e-3), optim.BLOCK, np.float32, monkeypatch)


# ----------------------------------------------------------------- the default learning rates


def test_every_optimizer_has_its_default_rates():
    assert list(DEFAULT_LR) == list(OPTIMIZERS)
    for name, kind in OPTIMIZERS.items():
        assert kind().lr == DEFAULT_LR[name].constant, name
        assert RunConfig(optimizer=name).lr == DEFAULT_LR[name].run, name


def test_the_default_rates_are_the_documented_ones():
    # a change here changes `Adam()` for scripts and `purenet train`'s results (README, docs/results.md)
    assert {name: tuple(rates) for name, rates in DEFAULT_LR.items()} == {
        "sgd": (0.1, 0.1), "momentum": (0.1, 0.05), "nesterov": (0.1, 0.05), "adam": (1e-3, 3e-3),
    }


def test_the_default_rates_load_without_numpy():
    # the command line shows them in its help, which must start without numpy
    code = "import sys, purenet.core.lr_defaults; print('numpy' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "False"
