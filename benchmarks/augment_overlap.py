"""Does augmenting the next batch in a background thread pay on this machine, now?

    python benchmarks/augment_overlap.py [--data data/mnist] [--pairs 3]

Trains one epoch of the default recipe's network (784-200-200-10 ReLU, Adam, batches of
128, mild augmentation) in this process, ``--pairs`` times in turn: with the serial loop
(each batch augmented just before its step) and with the background augmentation
forced on (``purenet.core.training`` augments the next batch while the step runs,
whatever ``_spare_core`` says). Prints each epoch's wall and CPU seconds (this process,
both threads), whether the two gave the same params bit for bit, the load average, and
the medians of the ratios overlapped / serial. One BLAS thread unless
OPENBLAS_NUM_THREADS says otherwise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads its BLAS

import numpy as np  # noqa: E402

from purenet import Adam, init, train  # noqa: E402
from purenet.apps.allocator import tune_malloc  # noqa: E402
from purenet.core import training  # noqa: E402
from purenet.data import load  # noqa: E402
from purenet.data.augment import Augmenter  # noqa: E402
from purenet.runs.settings import AUGMENTATION_MAGNITUDES  # noqa: E402


def epoch(mnist, overlap: bool):
    """(wall s, CPU s, params) of one epoch, with the background augmentation on or off."""
    spare = training._spare_core
    training._spare_core = lambda: overlap
    try:
        params = init([784, 200, 200, 10], rng=0)
        augment = Augmenter(**AUGMENTATION_MAGNITUDES["mild"])
        wall, cpu = time.perf_counter(), time.process_time()
        records = list(train(params, mnist.train, optimizer=Adam(1e-3), epochs=1, batch_size=128,
                             rng=np.random.default_rng(0), augment=augment))
        return time.perf_counter() - wall, time.process_time() - cpu, records[-1].params
    finally:
        training._spare_core = spare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/mnist"))
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    tune_malloc()
    mnist = load(args.data)
    walls, cpus = [], []
    for _ in range(args.pairs):
        serial_wall, serial_cpu, serial = epoch(mnist, overlap=False)
        ahead_wall, ahead_cpu, ahead = epoch(mnist, overlap=True)
        same = all(np.array_equal(a, b) for a, b in zip(serial.arrays(), ahead.arrays(), strict=True))
        print(f"serial {serial_wall:.2f} s wall, {serial_cpu:.2f} s CPU; overlapped {ahead_wall:.2f} s wall, "
              f"{ahead_cpu:.2f} s CPU; same params: {same}; load {os.getloadavg()[0]:.2f}", flush=True)
        walls.append(ahead_wall / serial_wall)
        cpus.append(ahead_cpu / serial_cpu)
    print(f"overlapped / serial: wall {statistics.median(walls):.3f}, CPU {statistics.median(cpus):.3f} (medians)")


if __name__ == "__main__":
    main()
