"""How close purenet's public step is to the fastest NumPy can do the same step.

    python benchmarks/numpy_ceiling.py [--layers 784,200,200,10] [--batch-size 128] [--rounds 5]

Times, in turn and after a rest each (as ``purenet bench --compare`` does):

* purenet: ``params = sgd(params, backward(params, forward(params, x), y), lr)``;
* bare NumPy: the same arithmetic (ReLU, softmax cross-entropy, SGD, float32, the
  same products and the same elementwise passes) written as one function over plain
  lists of arrays, with no records, no checks and no function per layer: what a
  hand-written script at its leanest costs, and so the most purenet could gain by
  dropping its structure;
* PyTorch, when it is installed (never a dependency of purenet).

Prints samples/s (median of ``--rounds`` timed runs, with the spread) and the ratios
taken run by run. The bare step is a yardstick for this benchmark only; purenet's
own code never uses it.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from purenet import init
from purenet.apps import bench
from purenet.apps.allocator import tune_malloc
from purenet.cli.torchstep import torch_step_fn


def bare_step_fn(layers: list[int], batch_size: int, lr: float = 0.01):
    """The training step as a bare NumPy function: same start, same batches as ``bench.train_step_fn``."""
    params = init(layers, act="relu", rng=0)
    weights = [layer.w.copy() for layer in params.layers]
    biases = [layer.b.copy() for layer in params.layers]
    batches = bench.synthetic_batches(layers, batch_size)
    state = {"w": weights, "b": biases, "i": 0}
    last = len(layers) - 2

    def step() -> int:
        x, y = batches[state["i"] % len(batches)]
        w, b = state["w"], state["b"]
        outputs = [x]
        for i in range(last + 1):
            z = outputs[-1] @ w[i]
            z += b[i]
            if i < last:
                np.maximum(z, np.zeros(z.shape[1], z.dtype), out=z)
            outputs.append(z)
        delta = outputs[-1].T.copy()  # softmax - one-hot, laid out classes first
        delta -= delta.max(axis=0)
        np.exp(delta, out=delta)
        delta /= delta.sum(axis=0)
        delta[y, np.arange(len(y))] -= 1
        delta *= 1 / len(y)
        d = delta.T
        grad_w, grad_b = [None] * len(w), [None] * len(w)
        for i in reversed(range(last + 1)):
            if i < last:
                d = np.multiply(d, outputs[i + 1] > 0, out=d)
            grad_w[i] = outputs[i].T @ d
            grad_b[i] = np.ones(len(d), d.dtype) @ d
            if i:
                d = d @ w[i].T
        state["w"] = [_step(p, g, lr) for p, g in zip(w, grad_w)]
        state["b"] = [_step(p, g, lr) for p, g in zip(b, grad_b)]
        state["i"] += 1
        return batch_size

    return step


def _step(p: np.ndarray, g: np.ndarray, lr: float) -> np.ndarray:
    out = np.multiply(g, -lr)
    out += p
    return out


def main() -> None:
    tune_malloc()  # as `purenet` does: steps reuse freed pages (purenet.apps.allocator; PURENET_TUNE_MALLOC=0 opts out)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", default="784,200,200,10")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    layers = [int(n) for n in args.layers.split(",")]
    steps = {
        "purenet": bench.train_step_fn(layers, "relu", args.batch_size),
        "bare NumPy": bare_step_fn(layers, args.batch_size),
    }
    try:
        steps["PyTorch"] = torch_step_fn(layers, "relu", args.batch_size)
    except ImportError:
        print("(PyTorch is not installed: comparing purenet with bare NumPy only)")
    rates = bench.rates_in_turn(list(steps.values()), repeats=args.rounds)
    runs = dict(zip(steps, rates))
    print(f"{args.layers}, batch {args.batch_size}: samples/s, median of {args.rounds} (spread)")
    for name, rate in runs.items():
        print(f"  {name:>10}: {rate.median:10,.0f} ({rate.low:,.0f}-{rate.high:,.0f})")
    for a, b in (("purenet", "bare NumPy"), ("bare NumPy", "PyTorch"), ("purenet", "PyTorch")):
        if a in runs and b in runs:
            ratios = [x / y for x, y in zip(runs[a].runs, runs[b].runs)]
            print(f"  {a} / {b}: {statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})")


if __name__ == "__main__":
    main()
