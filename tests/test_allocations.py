"""A guard against silent speed regressions: what one training step allocates.

A pure step must allocate its result (new params) and the gradients (same size),
plus the batch's activations; anything far beyond that is a needless copy or
temporary on the hot path. tracemalloc sees NumPy's allocations.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from purenet import Adam, backward, forward, init, sgd

LAYERS = [784, 200, 200, 10]


def step_peak_bytes(act: str, batch: int, step) -> tuple[int, int, int]:
    """(peak bytes allocated by one step, param bytes, activation bytes of one batch)."""
    rng = np.random.default_rng(0)
    params = init(LAYERS, act=act, rng=0)
    x, y = rng.random((batch, LAYERS[0]), dtype=np.float32), rng.integers(0, 10, batch)
    state = step(params, x, y, None)  # warm up: lazy imports, caches
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = step(params, x, y, state)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    del result
    activation_bytes = batch * sum(LAYERS[1:]) * 4
    return peak, params.size * 4, activation_bytes


def plain_step(params, x, y, _state):
    return sgd(params, backward(params, forward(params, x), y), 0.01)


@pytest.mark.parametrize("batch", [1, 128, 1024])
@pytest.mark.parametrize("act", ["relu", "sigmoid", "elu"])
def test_a_step_allocates_little_beyond_its_result_and_gradients(act, batch):
    peak, param_bytes, activation_bytes = step_peak_bytes(act, batch, plain_step)
    assert peak <= 2.5 * param_bytes + 3 * activation_bytes, (peak, param_bytes, activation_bytes)


def test_an_adam_step_holds_at_most_its_state_params_and_gradients():
    opt = Adam(1e-3)

    def adam_step(params, x, y, state):
        state = opt.init(params) if state is None else state
        return opt.update(params, backward(params, forward(params, x), y), state)[1]

    peak, param_bytes, activation_bytes = step_peak_bytes("relu", 128, adam_step)
    # new params, new m and v, gradients, and the update direction: about 5 params' worth
    assert peak <= 6.5 * param_bytes + 3 * activation_bytes, (peak, param_bytes)


def test_the_guard_can_fail():
    """A step that copies its params needlessly is caught."""
    def wasteful_step(params, x, y, state):
        copies = [params.layers[0].w.copy() for _ in range(4)]
        return plain_step(params, x, y, state), copies

    peak, param_bytes, activation_bytes = step_peak_bytes("relu", 128, wasteful_step)
    assert peak > 2.5 * param_bytes + 3 * activation_bytes


MALLOC_VARIABLES = ("PURENET_TUNE_MALLOC", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")


@pytest.fixture
def allocator(monkeypatch):
    """purenet.apps.allocator as if this process had not been tuned, in a clean environment."""
    from purenet.apps import allocator

    monkeypatch.setattr(allocator, "_tuned", False)
    for name in MALLOC_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return allocator


def test_malloc_tuning_respects_the_opt_out_and_the_users_own_settings(allocator, monkeypatch):
    monkeypatch.setenv("PURENET_TUNE_MALLOC", "0")
    assert allocator.tune_malloc() is False
    monkeypatch.delenv("PURENET_TUNE_MALLOC")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000")
    assert allocator.tune_malloc() is False
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1000")
    assert allocator.tune_malloc() is False
    assert allocator.is_tuned() is False


def test_malloc_tuning_applies_on_glibc_once(allocator, monkeypatch):
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("tuning malloc (mallopt) exists only in glibc, the C library of most Linux systems; this one has another")
    assert allocator.tune_malloc() is True
    assert allocator.is_tuned() is True

    def no_second_call(*args, **kwargs):
        raise AssertionError("tune_malloc looked mallopt up again")

    monkeypatch.setattr(ctypes, "CDLL", no_second_call)
    assert allocator.tune_malloc() is True  # idempotent: already done, nothing redone
