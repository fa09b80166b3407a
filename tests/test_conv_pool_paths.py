"""The convolution's and max pooling's faster paths against plain loops: im2col's one-channel
copy, col2im's two loops (by kernel offset, by output position), and max pooling's backward
on inputs full of ties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import purenet.core.layers.conv as conv
from purenet.core.layers import MaxPool, col2im, im2col
from purenet.core.layers.pool import max_pool_backward, max_pool_forward

pytestmark = pytest.mark.core


def windows_by_loop(x: np.ndarray, k: int, stride: int, pads) -> np.ndarray:
    """im2col written out: every window of the padded input, row by row, (ki, kj, c) inside."""
    padded = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    n, h, w, _ = padded.shape
    rows = [padded[s, i:i + k, j:j + k, :].reshape(-1)
            for s in range(n) for i in range(0, h - k + 1, stride) for j in range(0, w - k + 1, stride)]
    return np.array(rows)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3), h=st.integers(2, 9), w=st.integers(2, 9), k=st.integers(1, 4), stride=st.integers(1, 3),
       pads=st.lists(st.integers(0, 2), min_size=4, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_im2col_of_one_channel_is_every_window(n, h, w, k, stride, pads, seed):
    pads = ((pads[0], pads[1]), (pads[2], pads[3]))
    if h + sum(pads[0]) < k or w + sum(pads[1]) < k:
        return
    x = np.random.default_rng(seed).normal(size=(n, h, w, 1)).astype(np.float32)
    columns = im2col(x, k, stride, pads)
    np.testing.assert_array_equal(columns, windows_by_loop(x, k, stride, pads))


@pytest.mark.parametrize("k, stride, size, pads", [(5, 1, 12, ((0, 0), (0, 0))), (3, 2, 9, ((1, 1), (0, 1))),
                                                   (2, 3, 8, ((0, 0), (0, 0))), (4, 1, 6, ((2, 1), (1, 2)))])
def test_col2im_by_offset_and_by_position_agree(monkeypatch, k, stride, size, pads):
    rng = np.random.default_rng(0)
    x_shape = (3, size, size, 2)
    oh = (size + sum(pads[0]) - k) // stride + 1
    ow = (size + sum(pads[1]) - k) // stride + 1
    columns = rng.normal(size=(3 * oh * ow, k * k * 2))
    monkeypatch.setattr(conv, "WINDOW_LOOP_LIMIT", 0)  # kernel offset by kernel offset
    by_offset = col2im(columns, x_shape, k, stride, pads)
    monkeypatch.setattr(conv, "WINDOW_LOOP_LIMIT", 10**9)  # output position by output position
    by_position = col2im(columns, x_shape, k, stride, pads)
    np.testing.assert_allclose(by_position, by_offset, rtol=1e-12, atol=1e-12)  # the same sums in another order
    assert not np.array_equal(by_offset, 0)


def max_pool_grad_by_loop(x: np.ndarray, d_out: np.ndarray, k: int) -> np.ndarray:
    """Each window's gradient to the first of its maxima in row-major order (np.argmax's choice)."""
    grads = np.zeros_like(x)
    n, oh, ow, c = d_out.shape
    for s in range(n):
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    window = x[s, i * k:(i + 1) * k, j * k:(j + 1) * k, ch]
                    a, b = divmod(int(np.argmax(window)), k)
                    grads[s, i * k + a, j * k + b, ch] = d_out[s, i, j, ch]
    return grads


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 2), h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 4), k=st.integers(1, 3),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**32 - 1))
def test_max_pool_backward_routes_like_a_loop_through_ties(n, h, w, c, k, dtype, seed):
    if min(h, w) < k:
        return
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=(n, h, w, c)).astype(dtype)  # three values: ties in most windows
    out, cache = max_pool_forward(MaxPool(k), x)
    d_out = rng.normal(size=out.shape).astype(dtype)
    dx = max_pool_backward(MaxPool(k), cache, d_out.copy())
    expected = max_pool_grad_by_loop(x, d_out, k)
    np.testing.assert_array_equal(dx, expected)
    assert not np.signbit(dx[dx == 0]).any()  # every zero +0.0, as in a zero-filled array
    assert dx.dtype == dtype
