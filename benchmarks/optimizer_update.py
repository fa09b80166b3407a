"""The optimizer update alone: each built-in rule fused (``PerArrayRule.fused``) against the same
rule on whole arrays (its ``direction``), timed in turn.

    python benchmarks/optimizer_update.py [--layers 784,200,200,10] [--rounds 25] [--block N ...]

For Nesterov momentum and Adam (each with and without weight decay) it times
``opt.update(params, grads, state)`` on the network's params with the fused path on
and off, ``--rounds`` times in turn, 40 updates each, and prints the medians in ms and
the median of the ratios fused / whole-array. It measures the thread's CPU time, not
the wall, so that other work on a shared machine inflates the figures less; BLAS plays
no part. ``--block`` runs it for each block size (``purenet.core.optim.BLOCK``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import attrs
import numpy as np

from purenet import Adam, Nesterov, backward, forward, init
from purenet.apps.allocator import tune_malloc
from purenet.core import optim


def unfused(opt):
    """The same optimizer with its fused path off."""
    plain = attrs.make_class("Plain" + type(opt).__name__, {}, bases=(type(opt),), frozen=True)
    plain.FUSED = False
    return plain(**attrs.asdict(opt, recurse=False))


def cpu_ms(opt, params, grads, state, repeat: int = 40) -> float:
    """The thread's CPU milliseconds per ``opt.update``, over ``repeat`` updates."""
    started = time.thread_time()
    for _ in range(repeat):
        opt.update(params, grads, state)
    return (time.thread_time() - started) / repeat * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", default="784,200,200,10")
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--block", type=int, nargs="+", default=[optim.BLOCK])
    args = parser.parse_args()
    tune_malloc()
    rng = np.random.default_rng(0)
    params = init([int(n) for n in args.layers.split(",")], rng=rng)
    x = rng.random((128, params.layers[0].w.shape[0]), dtype=np.float32)
    grads = backward(params, forward(params, x), rng.integers(0, 10, 128))
    print(f"{args.layers}, {sum(a.size for a in params.arrays()):,} params, load {os.getloadavg()[0]:.2f}")
    for block in args.block:
        optim.BLOCK = block
        for opt in (Nesterov(0.05), Nesterov(0.05, weight_decay=5e-4), Adam(3e-3), Adam(3e-3, weight_decay=1e-4)):
            plain = unfused(opt)
            state = opt.update(params, grads, opt.init(params))[1]
            fused, whole = [], []
            for _ in range(args.rounds):
                fused.append(cpu_ms(opt, params, grads, state))
                whole.append(cpu_ms(plain, params, grads, state))
            ratio = statistics.median(f / w for f, w in zip(fused, whole))
            name = f"{type(opt).__name__}{' wd' if opt.weight_decay else ''}"
            print(f"block {block:>8,} {name:12s} whole arrays {statistics.median(whole):.3f} ms, fused "
                  f"{statistics.median(fused):.3f} ms, fused / whole {ratio:.3f}", flush=True)


if __name__ == "__main__":
    main()
