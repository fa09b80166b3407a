"""Benchmarks of the training step, measured the way a user runs it.

    matmul_peak()                         -> Rate   float32 GFLOP/s of a large square matmul
    train_rate(layers, act, batch_size)   -> Rate   samples/s of sgd(p, backward(p, forward(p, x), y), lr)
    train_step_fn(layers, act, batch_size) -> step  a function doing one such step per call
    infer_rate(layers, act, batch_size)   -> Rate   samples/s of predict(p, x)
    load_seconds(path)                    -> Rate   seconds to load a data set
    paired_rates(step_a, step_b)          -> (Rate, Rate, Rate)  two steps timed in turn, and their ratio run by run
    rates_in_turn(steps)                  -> [Rate, ...]  several steps timed in turn

Each figure is the median of ``repeats`` timed runs after a warm-up, with the
spread (min, max), because the machines it runs on are often shared and noisy. Timing happens
here; rendering is the CLI's (``purenet bench``). Data is synthetic unless
given, which matters little: the cost of a dense step does not depend on values.

Nothing here changes the process: the figures are those of the process as its
program set it up. ``purenet bench`` and the scripts in benchmarks/ tune glibc's
malloc first (``purenet.apps.allocator.tune_malloc``), as ``purenet train`` does; a
script that times these functions and wants the same figures calls it too. A step
of another framework, to time beside purenet's with ``paired_rates``, is built by
the caller (``purenet bench --compare`` builds its own, in the CLI package).
"""

from __future__ import annotations

import math
import resource
import statistics
import time
from typing import Callable, Sequence

import attrs
import numpy as np

from purenet.core.layers import canonical_layers, plan_layers, with_input_width
from purenet.core.network import backward, forward, init, predict
from purenet.core.optim import sgd
from purenet.data import load


@attrs.frozen
class Rate:
    """A measured figure: its median over the runs, and the smallest and largest run."""

    median: float
    low: float
    high: float
    runs: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Rate:
        return cls(median=statistics.median(values), low=min(values), high=max(values), runs=tuple(values))


def train_flops_per_sample(layers: Sequence[int | str]) -> int:
    """FLOPs of one sample's forward + backward in the products: ``2 * w.size`` per output
    position for each layer with weights (once for a dense layer, OH*OW times for a
    convolution), the same again for the weight gradient and for the input gradient,
    which the first layer skips (backward never computes it)."""
    forward_flops = []
    for planned in plan_layers(_input_first(layers)):
        if "w" in planned.plan.shapes:
            positions = math.prod(planned.plan.out_shape[:-1])
            forward_flops.append(2 * math.prod(planned.plan.shapes["w"]) * positions)
    return 3 * sum(forward_flops) - forward_flops[0]


def timed_rates(step: Callable[[], int], seconds: float, repeats: int) -> Rate:
    """Run ``step`` (which returns how many samples it did) for about ``seconds``,
    ``repeats`` times after one warm-up, and return samples/s per run."""
    _run_for(step, seconds / 2)  # warm-up: caches, allocator, BLAS threads
    return Rate.of([_run_for(step, seconds) for _ in range(repeats)])


def _run_for(step: Callable[[], int], seconds: float) -> float:
    done, started = 0, time.perf_counter()
    while True:
        done += step()
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return done / elapsed


def matmul_peak(n: int = 2048, seconds: float = 0.5, repeats: int = 5) -> Rate:
    """float32 GFLOP/s of an n x n by n x n product, the machine's practical BLAS peak."""
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    rate = timed_rates(lambda: (np.matmul(a, b, out=out), 1)[1], seconds, repeats)
    return Rate.of([r * 2 * n**3 / 1e9 for r in rate.runs])


def synthetic_batches(layers: Sequence[int | str], batch_size: int, count: int = 8, seed: int = 0):
    """``count`` batches of inputs in [0, 1) and labels, as a training step sees them."""
    rng = np.random.default_rng(seed)
    inputs, classes = _input_first(layers)[0], layers[-1]
    return [
        (rng.random((batch_size, inputs), dtype=np.float32), rng.integers(0, classes, batch_size))
        for _ in range(count)
    ]


def _input_first(layers: Sequence[int | str]) -> tuple[int | str, ...]:
    """The layer list as ``init`` reads it: canonical, the input's width first (a list that
    starts with a layer reads 28x28x1 images)."""
    return canonical_layers(with_input_width(layers)[0])


def train_step_fn(layers: Sequence[int | str], act: str, batch_size: int, *, lr: float = 0.01) -> Callable[[], int]:
    """One training step per call, through the public composition a user writes:
    ``params = sgd(params, backward(params, forward(params, x, training=True), y), lr)``."""
    params = init(layers, act=act, rng=0)
    batches = synthetic_batches(layers, batch_size)
    state = {"params": params, "i": 0}

    def step() -> int:
        x, y = batches[state["i"] % len(batches)]
        p = state["params"]
        state["params"] = sgd(p, backward(p, forward(p, x, training=True), y), lr)
        state["i"] += 1
        return batch_size

    return step


def train_rate(
    layers: Sequence[int | str], act: str, batch_size: int, *, lr: float = 0.01, seconds: float = 1.0, repeats: int = 5
) -> Rate:
    """Training samples/s through the public composition a user writes."""
    return timed_rates(train_step_fn(layers, act, batch_size, lr=lr), seconds, repeats)


def infer_rate(layers: Sequence[int | str], act: str, batch_size: int, *, seconds: float = 1.0, repeats: int = 5) -> Rate:
    """Inference samples/s of ``predict`` on batches of ``batch_size``."""
    params = init(layers, act=act, rng=0)
    batches = synthetic_batches(layers, batch_size)
    counter = iter(range(1 << 62))

    def step() -> int:
        predict(params, batches[next(counter) % len(batches)][0])
        return batch_size

    return timed_rates(step, seconds, repeats)


def load_seconds(path, repeats: int = 3) -> Rate:
    """Seconds to load the data set at ``path`` (after one warm-up load)."""
    load(path)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        load(path)
        times.append(time.perf_counter() - started)
    return Rate.of(times)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def paired_rates(
    step_a: Callable[[], int], step_b: Callable[[], int], seconds: float = 1.0, repeats: int = 5, settle: float = 0.3
) -> tuple[Rate, Rate, Rate]:
    """Samples/s of two steps timed in turn (a, b, a, b, ...) and the ratio a/b run by
    run: pairing keeps the ratio fair when the machine's speed drifts."""
    a, b = rates_in_turn([step_a, step_b], seconds, repeats, settle)
    return a, b, Rate.of([x / y for x, y in zip(a.runs, b.runs)])


def rates_in_turn(
    steps: Sequence[Callable[[], int]], seconds: float = 1.0, repeats: int = 5, settle: float = 0.3
) -> list[Rate]:
    """Samples/s of several steps, timed in turn ``repeats`` times (run k of each step
    falls in the same stretch of time, so ratios of run k compare like with like).

    Each timed run starts after ``settle`` seconds of rest, so that the worker threads
    the other library left spinning (OpenBLAS's, OpenMP's) have gone to sleep and do
    not take its cores.
    """
    for step in steps:
        _run_for(step, seconds / 2)
    runs: list[list[float]] = [[] for _ in steps]
    for _ in range(repeats):
        for step, rates in zip(steps, runs):
            time.sleep(settle)
            rates.append(_run_for(step, seconds))
    return [Rate.of(rates) for rates in runs]
