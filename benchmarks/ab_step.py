"""The dense training step of two builds, timed in turn in fresh processes: did a change cost speed?

    python benchmarks/ab_step.py OLD_PYTHON NEW_PYTHON [--rounds 15] [--threads 1 default]

OLD_PYTHON and NEW_PYTHON are the interpreters of two virtual environments, each with
one build of purenet installed (e.g. a ``git worktree`` of the commit before a change,
docs/performance.md). Each round starts one process per build, in turn (the order
alternates round by round), and each process times ``sgd(params, backward(params,
forward(params, x), y), lr)`` for the 784-200-200-10 relu network on batches of 128:
after 30 warm-up steps, seven blocks of 100 steps, whose median gives samples/s.
Quick rounds in turn put the two builds under the same load, which on a shared
machine moves more than most changes do; the median of the round-by-round ratios
new/old is the figure to read (above 1: the new build is faster).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess

from ab import ROOT, environment  # benchmarks/ab.py, beside this script

PROBE = r"""
import statistics, time
try:
    from purenet.apps.allocator import tune_malloc
    from purenet.apps.bench import train_step_fn
except ImportError:  # a build from before the package's floors
    from purenet.allocator import tune_malloc
    from purenet.bench import train_step_fn
tune_malloc()  # as the purenet command does
step = train_step_fn([784, 200, 200, 10], "relu", 128)
for _ in range(30):
    step()
blocks = []
for _ in range(7):
    started = time.perf_counter()
    for _ in range(100):
        step()
    blocks.append(time.perf_counter() - started)
print(128 * 100 / statistics.median(blocks))
"""


def rate(python: str, threads: str) -> float:
    env = environment(threads, ROOT / "data" / "mnist")  # the step reads no data; ab.py's BLAS setting
    return float(subprocess.run([python, "-c", PROBE], env=env, capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="the old build's python")
    parser.add_argument("new", help="the new build's python")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", nargs="+", default=["1", "default"], help="BLAS thread settings: default, or a number")
    args = parser.parse_args()
    for threads in args.threads:
        old, new = [], []
        for round_ in range(args.rounds):
            order = [("old", args.old), ("new", args.new)]
            for name, python in order if round_ % 2 == 0 else order[::-1]:
                (old if name == "old" else new).append(rate(python, threads))
            print(f"threads={threads} round {round_ + 1}: old {old[-1]:,.0f} new {new[-1]:,.0f} samples/s, "
                  f"new/old {new[-1] / old[-1]:.3f} (load {os.getloadavg()[0]:.2f})", flush=True)
        ratios = [n / o for o, n in zip(old, new)]
        print(f"threads={threads}: old median {statistics.median(old):,.0f}, new median {statistics.median(new):,.0f} "
              f"samples/s; new/old median {statistics.median(ratios):.3f} "
              f"(quartiles {statistics.quantiles(ratios, n=4)[0]:.3f}-{statistics.quantiles(ratios, n=4)[2]:.3f})",
              flush=True)


if __name__ == "__main__":
    main()
