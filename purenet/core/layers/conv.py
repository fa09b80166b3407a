"""2-D convolution over channels-last images, as im2col, one matrix product and col2im.

    Conv2D(w (K, K, C, F), b (F,), stride, padding)   the record
    im2col(x, k, stride, pads)     -> columns (N*OH*OW, K*K*C)   one copy of a strided view
    col2im(columns, x_shape, ...)  -> dx (N, H, W, C)            the adjoint of im2col

Images are NHWC (batch, height, width, channels): the loaders' (N, 784) rows
reshape to (N, 28, 28, 1) without a copy, each window's K*K*C values sit in
runs of C contiguous numbers, and the product ``columns @ w`` comes out as
(N*OH*OW, F), which *is* the next layer's (N, OH, OW, F) image: no transpose on
either side of the product. (NCHW would need one after every product.)

Forward: ``out = act(im2col(x) @ w + b)``. Backward (docs/math.md, "Convolution"):
``dw = im2col(x)^T dz`` (the correlation of the input with the output's delta),
``db`` the sum of ``dz``, ``dx = col2im(dz w^T)`` (the correlation of the padded
delta with the flipped kernel). In a layer list: ``conv32k5`` (32 filters of 5x5,
stride 1, "same" padding), ``conv64k3s2``, ``conv20k5valid``.
"""

from __future__ import annotations

import re

import attrs
import numpy as np
from numpy.lib.stride_tricks import as_strided

from purenet.core.arrays import fresh, learned, readonly, shape_repr
from purenet.core.layers.base import MAX_FILTERS, MAX_WINDOW, Context, LayerKind, Plan, Shape, bounded, register
from purenet.core.layers.dense import bias_grad

PADDINGS = ("same", "valid")
WINDOW_LOOP_LIMIT = 4
"""col2im adds window by window while the output has at most this many times K*K positions."""


@attrs.frozen
class Conv2D:
    """A convolution: ``F`` filters of ``K`` x ``K`` over ``C`` input channels.

    ``padding="same"`` pads so that the output has ceil(H / stride) rows (the extra
    row, when the padding is odd, goes at the bottom and right, as TensorFlow does);
    ``"valid"`` does not pad: (H - K) // stride + 1 rows.
    """

    w: np.ndarray = learned(decay=True)
    b: np.ndarray = learned()
    stride: int = attrs.field(default=1, validator=[attrs.validators.ge(1), attrs.validators.le(MAX_WINDOW)])
    padding: str = attrs.field(default="same", validator=attrs.validators.in_(PADDINGS))


@attrs.frozen
class ConvCache:
    """What forward keeps: the im2col columns of the input, the input's shape, the output."""

    columns: np.ndarray = attrs.field(converter=readonly, eq=False, repr=shape_repr)
    x_shape: tuple[int, ...]
    out: np.ndarray = attrs.field(converter=readonly, eq=False, repr=shape_repr)


@attrs.frozen
class ConvSpec:
    filters: int
    kernel: int
    stride: int = 1
    padding: str = "same"

    @property
    def token(self) -> str:
        stride = f"s{self.stride}" if self.stride != 1 else ""
        padding = "valid" if self.padding == "valid" else ""
        return f"conv{self.filters}k{self.kernel}{stride}{padding}"


def output_size(size: int, kernel: int, stride: int, padding: str) -> int:
    """Rows (or columns) of the output for ``size`` input rows."""
    if padding == "same":
        return -(-size // stride)
    return (size - kernel) // stride + 1


def paddings(size: int, kernel: int, stride: int, padding: str) -> tuple[int, int]:
    """(before, after) padding along one axis."""
    if padding == "valid":
        return 0, 0
    total = max((output_size(size, kernel, stride, padding) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pads(x_shape: Shape, kernel: int, stride: int, padding: str) -> tuple[tuple[int, int], tuple[int, int]]:
    return paddings(x_shape[1], kernel, stride, padding), paddings(x_shape[2], kernel, stride, padding)


def im2col(x: np.ndarray, kernel: int, stride: int, pads: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """Every K x K window of ``x`` (N, H, W, C) as a row: (N*OH*OW, K*K*C), row-major over
    (n, oh, ow) and each row ordered (ki, kj, c) like ``w.reshape(K*K*C, F)``.

    The windows are a strided view of the (padded) input; the reshape is the one copy.
    With one channel (a network's first layer) that copy would move K numbers at a
    time: instead each kernel offset copies its (N, OH, OW) block in runs of OW numbers
    into a (K*K, N*OH*OW) array, and the columns are its transpose, a view that the
    products read as it is (BLAS takes either order). 3x faster for 5x5 kernels on
    28x28 images (docs/performance.md, "Convolutional networks").
    """
    (top, bottom), (left, right) = pads
    if top or bottom or left or right:
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    n, h, w, c = x.shape
    oh, ow = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    if c == 1 and kernel > 1:
        offsets = np.empty((kernel, kernel, n, oh, ow), dtype=x.dtype)
        for i in range(kernel):
            for j in range(kernel):
                offsets[i, j] = x[:, i:i + stride * oh:stride, j:j + stride * ow:stride, 0]
        return offsets.reshape(kernel * kernel, n * oh * ow).T
    sn, sh, sw, sc = x.strides
    windows = as_strided(x, (n, oh, ow, kernel, kernel, c), (sn, stride * sh, stride * sw, sh, sw, sc), writeable=False)
    return windows.reshape(n * oh * ow, kernel * kernel * c)


def col2im(columns: np.ndarray, x_shape: Shape, kernel: int, stride: int,
           pads: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """The adjoint of ``im2col``: adds each row's values back where ``im2col`` read them.

    Either one strided addition per kernel offset (K*K additions of (N, OH, OW, C)
    blocks, read in runs of C numbers), or one per output position (OH*OW additions
    of (N, K, K*C) windows, read and written in runs of K*C numbers). The second is
    3x faster for the small outputs of deep layers (docs/performance.md,
    "Convolutional networks"); the first keeps the Python loop short for large outputs.
    The padding's share is dropped. Returns a new (N, H, W, C) array.
    """
    (top, bottom), (left, right) = pads
    n, h, w, c = x_shape
    hp, wp = h + top + bottom, w + left + right
    oh, ow = (hp - kernel) // stride + 1, (wp - kernel) // stride + 1
    padded = np.zeros((n, hp, wp, c), dtype=columns.dtype)
    if kernel > 1 and oh * ow <= WINDOW_LOOP_LIMIT * kernel * kernel:
        windows = columns.reshape(n, oh, ow, kernel, kernel * c)
        rows = padded.reshape(n, hp, wp * c)
        for i in range(oh):
            for j in range(ow):
                rows[:, i * stride:i * stride + kernel, j * stride * c:(j * stride + kernel) * c] += windows[:, i, j]
    else:
        blocks = columns.reshape(n, oh, ow, kernel, kernel, c)
        for i in range(kernel):
            for j in range(kernel):
                padded[:, i:i + stride * oh:stride, j:j + stride * ow:stride, :] += blocks[:, :, :, i, j, :]
    if top or bottom or left or right:
        return np.ascontiguousarray(padded[:, top:top + h, left:left + w, :])
    return padded


def conv_forward(layer: Conv2D, x: np.ndarray, act) -> tuple[np.ndarray, ConvCache]:
    """``act(im2col(x) @ w + b)`` for ``x`` (N, H, W, C) -> (N, OH, OW, F)."""
    kernel, _, channels, filters = layer.w.shape
    if x.ndim != 4 or x.shape[3] != channels:
        raise ValueError(f"a {kernel}x{kernel} convolution over {channels} channels needs (N, H, W, {channels}) input, "
                         f"got {x.shape}")
    pads = _pads(x.shape, kernel, layer.stride, layer.padding)
    columns = im2col(x, kernel, layer.stride, pads)
    z = columns @ layer.w.reshape(-1, filters)
    n = x.shape[0]
    oh, ow = (output_size(size, kernel, layer.stride, layer.padding) for size in x.shape[1:3])
    # one row per image for the bias and the activation: NumPy's loops then run over
    # OH*OW*F numbers at a time instead of F (twice as fast for F = 20 or 32)
    rows = z.reshape(n, oh * ow * filters)
    rows += np.tile(layer.b, oh * ow)
    out = fresh(act.fn(rows, out=rows).reshape(n, oh, ow, filters))
    return out, ConvCache(columns=fresh(columns), x_shape=x.shape, out=out)


def conv_backward(layer: Conv2D, cache: ConvCache, d_out: np.ndarray, act, need_dx: bool = True,
                  *, consume_d_out: bool = False) -> tuple[Conv2D, np.ndarray | None]:
    """dL/dw, dL/db (as a ``Conv2D``) and dL/dx from ``d_out`` (N, OH, OW, F)."""
    kernel, _, _, filters = layer.w.shape
    dz = d_out.reshape(-1, filters)
    if act.grad is not None:
        dz = np.multiply(dz, act.grad(cache.out.reshape(-1, filters)), out=dz if consume_d_out else None)
    w_grad = (cache.columns.T @ dz).reshape(layer.w.shape)
    grads = Conv2D(w=fresh(w_grad), b=fresh(bias_grad(dz)), stride=layer.stride, padding=layer.padding)
    if not need_dx:
        return grads, None
    return grads, input_grad(dz, layer.w, cache.x_shape, layer.stride, layer.padding)


def input_grad(dz: np.ndarray, w: np.ndarray, x_shape: Shape, stride: int, padding: str) -> np.ndarray:
    """dL/dx (N, H, W, C) from ``dz`` (N*OH*OW, F): ``col2im(dz @ w^T)``.

    With stride 1 and "same" padding the same sum is a correlation of ``dz``, padded
    by K-1 less the forward padding, with the kernel flipped in both axes and its
    channel axes swapped (docs/math.md, "Convolution"): im2col and one product again,
    which reads memory in long runs where col2im's K*K scattered additions do not.
    With "valid" padding that correlation would mostly read zeros (the output is
    smaller than the input), and with stride 2 it does not apply: col2im is used.
    """
    kernel, _, channels, filters = w.shape
    pads = _pads(x_shape, kernel, stride, padding)
    if stride != 1 or padding != "same":
        return col2im(dz @ w.reshape(-1, filters).T, x_shape, kernel, stride, pads)
    n, h, width, _ = x_shape
    (top, bottom), (left, right) = pads
    oh, ow = h + top + bottom - kernel + 1, width + left + right - kernel + 1
    flipped = w[::-1, ::-1].transpose(0, 1, 3, 2).reshape(-1, channels)
    back_pads = ((kernel - 1 - top, kernel - 1 - bottom), (kernel - 1 - left, kernel - 1 - right))
    columns = im2col(dz.reshape(n, oh, ow, filters), kernel, 1, back_pads)
    return (columns @ flipped).reshape(x_shape)


# --- the protocol ---------------------------------------------------------------------------

_TOKEN = re.compile(r"conv([0-9]+)k([0-9]+)(?:s([0-9]+))?(same|valid)?")


def _parse(token: str) -> ConvSpec | None:
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    filters = bounded(token, "number of filters", match[1], MAX_FILTERS)
    kernel = bounded(token, "kernel size", match[2], MAX_WINDOW)
    stride = bounded(token, "stride", match[3] or "1", MAX_WINDOW)
    return ConvSpec(filters, kernel, stride, match[4] or "same")


def _plan(spec: ConvSpec, in_shape: Shape) -> Plan:
    h, w, c = in_shape
    if spec.padding == "valid" and min(h, w) < spec.kernel:
        raise ValueError(f"{spec.token}: a {spec.kernel}x{spec.kernel} kernel does not fit a {h}x{w} image without padding")
    # a stride past both the kernel and the image skips whole images: a typo, or a tampered file
    longest = max(spec.kernel, h, w)
    if spec.stride > longest:
        raise ValueError(f"{spec.token}: the stride {spec.stride} is longer than the kernel ({spec.kernel}) and the "
                         f"{h}x{w} image it reads; at most {longest}")
    oh, ow = (output_size(n, spec.kernel, spec.stride, spec.padding) for n in (h, w))
    if min(oh, ow) < 1:
        raise ValueError(f"{spec.token}: gives an empty {oh}x{ow} output from a {h}x{w} image")
    return Plan(
        static={"stride": spec.stride, "padding": spec.padding},
        shapes={"w": (spec.kernel, spec.kernel, c, spec.filters), "b": (spec.filters,)},
        out_shape=(oh, ow, spec.filters),
        scratch=oh * ow * spec.kernel * spec.kernel * c + _padded_size(h, w, c, spec),
        backward_scratch=_backward_scratch(h, w, c, spec),
    )


def _padded_size(h: int, w: int, c: int, spec: ConvSpec) -> int:
    """Elements of the padded input im2col reads (the input itself when nothing is padded)."""
    (top, bottom), (left, right) = _pads((1, h, w, c), spec.kernel, spec.stride, spec.padding)
    return (h + top + bottom) * (w + left + right) * c


def _backward_scratch(h: int, w: int, c: int, spec: ConvSpec) -> int:
    """Elements per sample ``input_grad`` makes besides dL/dx (see there): the padded delta
    and its im2col columns (stride 1, "same"), or the product ``dz w^T`` and col2im's padded sum."""
    k, f = spec.kernel, spec.filters
    if spec.stride == 1 and spec.padding == "same":
        return (h + k - 1) * (w + k - 1) * f + h * w * k * k * f
    oh, ow = (output_size(n, k, spec.stride, spec.padding) for n in (h, w))
    return oh * ow * k * k * c + _padded_size(h, w, c, spec)


def _forward(layer: Conv2D, x: np.ndarray, ctx: Context) -> tuple[np.ndarray, ConvCache]:
    return conv_forward(layer, x, ctx.act)


def _backward(layer: Conv2D, cache: ConvCache, d_out: np.ndarray, ctx: Context):
    return conv_backward(layer, cache, d_out, ctx.act, ctx.need_dx, consume_d_out=True)


CONV2D = register(LayerKind(
    name="conv2d", record=Conv2D, parse=_parse, plan=_plan, forward=_forward, backward=_backward,
    input="image", activated=True,
))
