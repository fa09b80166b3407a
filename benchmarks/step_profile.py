"""Where one training step's time goes, and what each optimisation in docs/performance.md buys.

    python benchmarks/step_profile.py [--layers 784,200,200,10] [--batch-size 128]

Prints, as medians of 5 timed loops (microseconds per call):

* the whole public step ``sgd(p, backward(p, forward(p, x), y), lr)``, with glibc's
  malloc tuned (``purenet.apps.allocator.tune_malloc()``, which ``purenet train`` calls)
  and untuned (PURENET_TUNE_MALLOC=0), each in a fresh process, since the setting
  is per process;
* its parts: forward, backward, sgd, and the bare matrix products alone;
* the batch-1 weight gradient as a matrix product with k = 1 against the
  broadcast outer product purenet uses.

Run it with OPENBLAS_NUM_THREADS=1 to see the single-core picture.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def per_call_us(fn, loops: int = 200, repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(loops):
            fn()
        times.append((time.perf_counter() - started) / loops)
    return 1e6 * statistics.median(times)


def measure(layers: list[int], batch_size: int, act: str) -> dict:
    """The step and its parts, in this process (whatever its malloc setting; the child run of main() sets it)."""
    from purenet import backward, forward, init, sgd

    rng = np.random.default_rng(0)
    params = init(layers, act=act, rng=0)
    x = rng.random((batch_size, layers[0]), dtype=np.float32)
    y = rng.integers(0, layers[-1], batch_size)
    state = {"p": params}

    def step():
        p = state["p"]
        state["p"] = sgd(p, backward(p, forward(p, x), y), 0.01)

    cache = forward(params, x)
    grads = backward(params, cache, y)
    weights = [layer.w for layer in params.layers]

    def products():
        # the step's matrix products and nothing else: forward, weight grads, input grads
        outs, a = [], x
        for w in weights:
            a = a @ w
            outs.append(a)
        d = np.ones_like(outs[-1])
        for i in reversed(range(len(weights))):
            (x if i == 0 else outs[i - 1]).T @ d
            if i:
                d = d @ weights[i].T

    return {
        "step": per_call_us(step),
        "forward": per_call_us(lambda: forward(params, x)),
        "backward": per_call_us(lambda: backward(params, cache, y)),
        "sgd": per_call_us(lambda: sgd(params, grads, 0.01)),
        "matmuls_only": per_call_us(products),
    }


def outer_product_us(layers: list[int]) -> dict:
    """Batch-1 weight gradient of the first layer: x^T dz by matmul (k = 1) and by broadcast."""
    rng = np.random.default_rng(0)
    x = rng.random((1, layers[0]), dtype=np.float32)
    dz = rng.random((1, layers[1]), dtype=np.float32)
    return {"matmul_k1": per_call_us(lambda: x.T @ dz, loops=2000),
            "broadcast": per_call_us(lambda: np.multiply(x.T, dz), loops=2000)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", default="784,200,200,10")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--act", default="relu")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    layers = [int(n) for n in args.layers.split(",")]
    if args.child:
        from purenet.apps.allocator import tune_malloc

        tune_malloc()  # as `purenet` does; PURENET_TUNE_MALLOC=0 (the untuned run) makes it do nothing
        print(json.dumps(measure(layers, args.batch_size, args.act)))
        return
    runs = {}
    for label, tune in (("malloc tuned", "1"), ("malloc untuned", "0")):
        command = [sys.executable, __file__, "--child",
                   "--layers", args.layers, "--batch-size", str(args.batch_size), "--act", args.act]
        out = subprocess.run(command, env={**os.environ, "PURENET_TUNE_MALLOC": tune}, capture_output=True, text=True, check=True)
        runs[label] = json.loads(out.stdout)
    print(f"{args.layers} {args.act}, batch {args.batch_size}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print(f"{'us per call':>16} " + " ".join(f"{k:>12}" for k in runs["malloc tuned"]))
    for label, figures in runs.items():
        print(f"{label:>16} " + " ".join(f"{v:12.0f}" for v in figures.values()))
    tuned, untuned = runs["malloc tuned"]["step"], runs["malloc untuned"]["step"]
    print(f"step: {args.batch_size / tuned * 1e6:,.0f} samples/s tuned, "
          f"{args.batch_size / untuned * 1e6:,.0f} untuned ({untuned / tuned:.2f}x)")
    outer = outer_product_us(layers)
    print(f"batch-1 weight gradient {layers[0]}x{layers[1]}: matmul {outer['matmul_k1']:.1f} us, "
          f"broadcast {outer['broadcast']:.1f} us ({outer['matmul_k1'] / outer['broadcast']:.1f}x)")


if __name__ == "__main__":
    main()
