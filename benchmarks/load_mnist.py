"""How long ``purenet.data.load`` takes on MNIST, and how much memory it needs.

    python benchmarks/load_mnist.py [FOLDER] [--runs 5]

Prints the median wall time of ``load(FOLDER)`` over ``--runs`` runs (FOLDER is
data/mnist by default), then the peak extra memory of one load, measured in
fresh subprocesses (so that no earlier load has already grown the process):

    rss     growth of the peak resident set size across the load (``VmHWM`` of
            /proc/self/status; ``ru_maxrss`` where there is no /proc, but a child
            inherits its parent's ``ru_maxrss`` on Linux, hence not first choice)
    traced  peak of the allocations ``tracemalloc`` sees during the load (NumPy reports its buffers)

The figures are reported, never asserted: the test suite holds no timed test.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from purenet.data import load

ROOT = Path(__file__).resolve().parent.parent


def seconds_per_load(folder: Path, runs: int) -> list[float]:
    """Wall time of each of ``runs`` loads of ``folder`` (the first warms the file cache too)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        data = load(folder)
        times.append(time.perf_counter() - start)
        del data
    return times


def peak_rss_kib() -> int:
    """This process's peak resident set size so far, in KiB."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return int(status.split("VmHWM:")[1].split()[0])


def memory_of_one_load(folder: Path) -> dict[str, float]:
    """Peak extra memory (MiB) of one load in this process; meant to run in a fresh one."""
    before = peak_rss_kib()
    tracemalloc.start()
    data = load(folder)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    after = peak_rss_kib()
    size = data.train.images.nbytes + data.train.labels.nbytes
    size += data.test.images.nbytes + data.test.labels.nbytes if data.has_test else 0
    return {"rss": (after - before) / 1024, "traced": traced / 2**20, "data": size / 2**20}


def measure_in_subprocess(folder: Path) -> dict[str, float]:
    command = [sys.executable, __file__, str(folder), "--memory-only"]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=ROOT / "data" / "mnist")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_only:
        print(json.dumps(memory_of_one_load(args.folder)))
        return
    times = seconds_per_load(args.folder, args.runs)
    memory = [measure_in_subprocess(args.folder) for _ in range(3)]
    print(f"load({args.folder}): median {statistics.median(times):.3f} s over {args.runs} runs "
          f"(min {min(times):.3f}, max {max(times):.3f})")
    for key in ("rss", "traced"):
        print(f"peak extra memory ({key}): {statistics.median(m[key] for m in memory):.1f} MiB "
              f"(median of {len(memory)} fresh processes; the data itself is {memory[0]['data']:.1f} MiB)")


if __name__ == "__main__":
    main()
