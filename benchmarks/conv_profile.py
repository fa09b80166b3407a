"""Where a convolutional training step spends its time: each layer, and inside each
convolution its im2col, products and input gradient.

    python benchmarks/conv_profile.py [--layers conv20k5valid,pool2,conv40k5valid,pool2,100,10]
                                      [--batch-size 128] [--rounds 7]

Each figure is the median over ``--rounds`` steps (after one warm-up step) of the
time of one part, measured with ``time.perf_counter`` around direct calls of the
library's functions on the activations of a real forward pass (synthetic inputs:
the cost does not depend on the values). The sum of the parts is close to, not
equal to, a whole ``train_step``: the optimizer's update and the loss are listed
apart. Set OPENBLAS_NUM_THREADS to compare thread counts.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import numpy as np

from purenet import Adam, init
from purenet.apps.allocator import tune_malloc
from purenet.core.layers import Context, Conv2D, kind_of
from purenet.core.layers.conv import _pads, im2col, input_grad
from purenet.core.losses import get_loss
from purenet.core.network import backward, forward, layer_activations
from purenet.runs.config import parse_layers


def profile(layers, batch_size: int, rounds: int) -> dict[str, list[float]]:
    params = init(layers, act="relu", rng=0)
    rng = np.random.default_rng(0)
    x = rng.random((batch_size, params.arch.inputs), dtype=np.float32)
    y = rng.integers(0, params.arch.classes, batch_size)
    acts = layer_activations(params)
    optimizer = Adam(1e-3)
    state = optimizer.init(params)
    times: dict[str, list[float]] = defaultdict(list)

    def timed(name: str, fn, *args):
        started = time.perf_counter()
        result = fn(*args)
        times[name].append(time.perf_counter() - started)
        return result

    for _ in range(rounds + 1):
        out, caches = x, []
        for i, layer in enumerate(params.layers):
            name = f"{i} {type(layer).__name__}"
            if isinstance(layer, Conv2D):
                k, _, c, f = layer.w.shape
                pads = _pads(out.shape, k, layer.stride, layer.padding)
                columns = timed(f"{name} forward: im2col", im2col, out, k, layer.stride, pads)
                timed(f"{name} forward: product", np.matmul, columns, layer.w.reshape(-1, f))
            out, cache = timed(f"{name} forward (all)", kind_of(layer).forward, layer, out, Context(act=acts[i]))
            caches.append(cache)
        d_out = timed("loss delta", get_loss(params.arch.loss).delta, out, y)
        for i in reversed(range(1, len(params.layers))):
            layer = params.layers[i]
            name = f"{i} {type(layer).__name__}"
            if isinstance(layer, Conv2D):
                dz = d_out.reshape(-1, layer.w.shape[-1])
                timed(f"{name} backward: weight product", np.matmul, caches[i].columns.T, dz)
                if i > 1:
                    timed(f"{name} backward: input gradient", input_grad, dz, layer.w, caches[i].x_shape, layer.stride, layer.padding)
            _, d_out = timed(f"{name} backward (all)", kind_of(layer).backward, layer, caches[i], d_out.copy(),
                             Context(act=acts[i], need_dx=i > 1))
        grads = timed("whole backward (network.backward)", backward, params, forward(params, x), y)
        timed("optimizer update (Adam)", optimizer.update, params, grads, state)
    return {name: values[1:] for name, values in times.items()}


def main() -> None:
    tune_malloc()  # as `purenet` does
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", default="conv20k5valid,pool2,conv40k5valid,pool2,100,10")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    layers = parse_layers(args.layers)
    times = profile(layers, args.batch_size, args.rounds)
    print(f"{'-'.join(map(str, layers))}, batch {args.batch_size}: median ms over {args.rounds} steps")
    for name, values in times.items():
        print(f"  {name:45s} {1000 * statistics.median(values):8.1f}")


if __name__ == "__main__":
    main()
