"""The convolutional training step against PyTorch's, in alternating fresh processes.

    python benchmarks/conv_vs_torch.py [--network cnn|cnn-best] [--pairs 7] [--threads 2]
                                       [--steps 30] [--batch-size 128] [--clock wall|cpu]

Each pair starts two processes in turn, one timing purenet's step
``params = sgd(params, backward(params, forward(params, x), y), lr)`` (``purenet.apps.bench.train_step_fn``),
the other the same network, loss and SGD step in PyTorch on the CPU (``cli/torchstep.py``, the
twin ``purenet bench --compare torch`` builds); which side goes first alternates pair by pair.
Each process sets its threads before importing anything (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS,
MKL_NUM_THREADS and ``torch.set_num_threads``), runs 5 warm-up steps, then times ``--steps``
steps one by one and reports their median. The ratio of a pair is PyTorch's median step time
over purenet's (above 1: purenet is faster); the figure to read is the median of the pairs'
ratios, which a machine's drifting load moves less than either side's own times.
``--clock cpu`` times each step with ``time.process_time`` instead of the wall clock: with
``--threads 1`` that is the work each side does, which a busy machine hardly changes (with
more threads it would count the time worker threads spend spinning). Needs PyTorch
installed beside purenet (never a dependency of purenet).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

WORKER = r"""
import json, statistics, sys, time
side, network, batch_size, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
clock = time.process_time if sys.argv[6] == "cpu" else time.perf_counter
from purenet.apps.allocator import tune_malloc
from purenet.runs.settings import RECIPES
tune_malloc()  # as the purenet command does; the same for both sides
layers, act = list(RECIPES[network]["layers"]), RECIPES[network]["act"]
if side == "torch":
    import torch
    torch.set_num_threads(threads)
    from purenet.cli.torchstep import torch_step_fn
    step = torch_step_fn(layers, act, batch_size)
else:
    from purenet.apps.bench import train_step_fn
    step = train_step_fn(layers, act, batch_size)
for _ in range(5):
    step()
times = []
for _ in range(steps):
    started = clock()
    step()
    times.append(clock() - started)
print(json.dumps({"median": statistics.median(times), "min": min(times)}))
"""

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def run_side(side: str, args) -> dict:
    env = dict(os.environ, **{name: str(args.threads) for name in THREAD_VARIABLES})
    command = [sys.executable, "-c", WORKER, side, args.network, str(args.batch_size), str(args.steps), str(args.threads),
               args.clock]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"the {side} process failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", choices=("cnn", "cnn-best"), default="cnn", help="a recipe of purenet.runs.settings")
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2, help="BLAS / OpenMP / PyTorch threads of both sides")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per process, after 5 warm-up steps")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="cpu: time.process_time (use with --threads 1)")
    args = parser.parse_args()
    print(f"{args.network}, batch {args.batch_size}, {args.threads} threads, {args.clock} clock, {args.steps} steps per process; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    ratios = []
    for pair in range(args.pairs):
        order = ("ours", "torch") if pair % 2 == 0 else ("torch", "ours")
        figures = {side: run_side(side, args) for side in order}
        ratio = figures["torch"]["median"] / figures["ours"]["median"]
        ratios.append(ratio)
        print(f"pair {pair + 1} ({order[0]} first): purenet {1000 * figures['ours']['median']:.1f} ms, "
              f"PyTorch {1000 * figures['torch']['median']:.1f} ms per step; ratio {ratio:.3f} "
              f"(load {os.getloadavg()[0]:.2f})", flush=True)
    print(f"median ratio PyTorch time / purenet time over {len(ratios)} pairs: {statistics.median(ratios):.3f} "
          f"(range {min(ratios):.3f}-{max(ratios):.3f}); above 1: purenet is faster")


if __name__ == "__main__":
    main()
