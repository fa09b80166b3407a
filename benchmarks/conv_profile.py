"""Where a convolutional training step spends its time: each layer, and inside each
convolution its im2col, products and input gradient.

    python benchmarks/conv_profile.py [--layers conv20k5valid,pool2,conv40k5valid,pool2,100,10]
                                      [--batch-size 128] [--rounds 7] [--clock wall|cpu] [--torch]

Each figure is the median over ``--rounds`` steps (after one warm-up step) of the
time of one part, measured with ``time.perf_counter`` around direct calls of the
library's functions on the activations of a real forward pass (synthetic inputs:
the cost does not depend on the values). The sum of the parts is close to, not
equal to, a whole ``train_step``: the optimizer's update and the loss are listed
apart. Set OPENBLAS_NUM_THREADS to compare thread counts. ``--clock cpu`` times with
``time.process_time`` (the CPU time of the process: on a busy machine, with one thread,
closer to the work done than the wall clock). ``--torch`` also times the same network's
layers in PyTorch (needs PyTorch; threads from OMP_NUM_THREADS), each layer's module and
its activation alone, forward and then backward (``torch.autograd.grad`` of that layer
alone), so that the two columns compare part by part.
"""

from __future__ import annotations

import argparse
import os
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


def profile(layers, batch_size: int, rounds: int, clock=time.perf_counter) -> dict[str, list[float]]:
    params = init(layers, act="relu", rng=0)
    rng = np.random.default_rng(0)
    x = rng.random((batch_size, params.arch.inputs), dtype=np.float32)
    y = rng.integers(0, params.arch.classes, batch_size)
    acts = layer_activations(params)
    optimizer = Adam(1e-3)
    state = optimizer.init(params)
    times: dict[str, list[float]] = defaultdict(list)

    def timed(name: str, fn, *args):
        started = clock()
        result = fn(*args)
        times[name].append(clock() - started)
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
                    timed(f"{name} backward: input gradient", input_grad, dz, layer.w, caches[i].x_shape,
                          layer.stride, layer.padding)
            _, d_out = timed(f"{name} backward (all)", kind_of(layer).backward, layer, caches[i], d_out.copy(),
                             Context(act=acts[i], need_dx=i > 1))
        grads = timed("whole backward (network.backward)", backward, params, forward(params, x), y)
        timed("optimizer update (Adam)", optimizer.update, params, grads, state)
    return {name: values[1:] for name, values in times.items()}


def profile_torch(layers, batch_size: int, rounds: int, clock=time.perf_counter) -> dict[str, list[float]]:
    """PyTorch's time per layer of the same network (cli/torchstep.py builds it), forward and
    backward; a module and the activation after it count as one layer, as in purenet."""
    import torch

    from purenet.apps.bench import synthetic_batches
    from purenet.cli.torchstep import _torch_model

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    model = _torch_model(torch, layers, "relu")
    groups: list[list] = []
    for module in model:
        if groups and isinstance(module, (torch.nn.ReLU, torch.nn.Conv2d)) and isinstance(groups[-1][-1], torch.nn.ZeroPad2d):
            groups[-1].append(module)
        elif groups and isinstance(module, torch.nn.ReLU):
            groups[-1].append(module)
        else:
            groups.append([module])
    x, y = (torch.from_numpy(a) for a in synthetic_batches(layers, batch_size, count=1)[0])
    loss_fn = torch.nn.CrossEntropyLoss()
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds + 1):
        inputs, outputs = [], []
        out = x
        for i, group in enumerate(groups):
            name = f"{i} {'+'.join(type(m).__name__ for m in group)}"
            out = out.detach().requires_grad_(i > 0)
            inputs.append(out)
            started = clock()
            for module in group:
                out = module(out)
            times[f"{name} forward"].append(clock() - started)
            outputs.append(out)
        d_out = torch.autograd.grad(loss_fn(outputs[-1], y), outputs[-1])[0]
        for i in reversed(range(len(groups))):
            name = f"{i} {'+'.join(type(m).__name__ for m in groups[i])}"
            wrt = [p for m in groups[i] for p in m.parameters()] + ([inputs[i]] if i > 0 else [])
            started = clock()
            grads = torch.autograd.grad(outputs[i], wrt, d_out, allow_unused=True) if wrt else []
            times[f"{name} backward"].append(clock() - started)
            d_out = grads[-1] if i > 0 else None
    return {name: values[1:] for name, values in times.items()}


def main() -> None:
    tune_malloc()  # as `purenet` does
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", default="conv20k5valid,pool2,conv40k5valid,pool2,100,10")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="cpu: time.process_time")
    parser.add_argument("--torch", action="store_true", help="also time the same layers in PyTorch")
    args = parser.parse_args()
    layers = parse_layers(args.layers)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    times = profile(layers, args.batch_size, args.rounds, clock)
    print(f"{'-'.join(map(str, layers))}, batch {args.batch_size}: median ms ({args.clock} clock) over {args.rounds} steps; "
          f"load {os.getloadavg()[0]:.2f}")
    for name, values in times.items():
        print(f"  {name:45s} {1000 * statistics.median(values):8.1f}")
    if args.torch:
        print("PyTorch, the same layers:")
        for name, values in profile_torch(with_input(layers), args.batch_size, args.rounds, clock).items():
            print(f"  {name:45s} {1000 * statistics.median(values):8.1f}")


def with_input(layers):
    """The layer list with the input's width first, as cli/torchstep.py reads it."""
    from purenet.apps.bench import _input_first

    return list(_input_first(layers))


if __name__ == "__main__":
    main()
