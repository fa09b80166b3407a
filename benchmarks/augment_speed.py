"""How much does data augmentation add to a training epoch?

    python benchmarks/augment_speed.py [--data data/mnist] [--runs 5]

Times, each as the median of ``--runs`` runs:

* a plain epoch: ``purenet.core.training`` for one epoch on MNIST's 60,000 training images,
  784-200-200-10 relu, SGD 0.1, batches of 128 (the record's ``seconds``);
* augmenting all 60,000 images in batches of 128, for ``Augmenter()`` with its
  default magnitudes (affine and elastic: heavier than ``purenet train``'s default,
  mild, augmentation) and for its parts (affine only, elastic only, and the
  full-resolution field of Simard et al. 2003);
* one epoch of the same training loop written out with and without augmenting each
  batch, which measures the two together (memory and caches included).

and prints the ratio (plain + augment) / plain; the project's target is at most 1.5
(docs/performance.md, "Augmentation's cost"). Other work on the machine inflates
every figure, so the load average is printed too.

BLAS runs on one thread unless OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS) says
otherwise: on a small shared machine a second BLAS thread that waits for a busy core
makes the small matrix products of this network many times slower
(docs/performance.md, "Threads on a busy machine").
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # before NumPy loads its BLAS

import numpy as np  # noqa: E402

from purenet import SGD, init, train  # noqa: E402
from purenet.apps.allocator import tune_malloc  # noqa: E402
from purenet.core.training import train_step  # noqa: E402
from purenet.data import Split, batches, load, to_float  # noqa: E402
from purenet.data.augment import Augmenter  # noqa: E402

BATCH = 128
LAYERS = [784, 200, 200, 10]
VARIANTS = {
    "Augmenter() (affine + elastic)": Augmenter(),
    "affine only": Augmenter(elastic_alpha=0.0),
    "elastic only": Augmenter(shift=0.0, rotation=0.0, scale=0.0),
    "elastic, full-resolution field": Augmenter(shift=0.0, rotation=0.0, scale=0.0, exact_elastic=True),
}


def plain_epoch(split: Split, seed: int) -> float:
    """Seconds of training in one ``purenet.core.training`` epoch."""
    params = init(LAYERS, act="relu", rng=np.random.default_rng(seed))
    records = train(params, split, optimizer=SGD(0.1), epochs=1, batch_size=BATCH, rng=np.random.default_rng(seed))
    return [record for record in records][-1].seconds


def augment_all(split: Split, augmenter: Augmenter, seed: int) -> float:
    """Seconds to augment every image of ``split``, a batch of BATCH at a time."""
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    for start in range(0, len(split), BATCH):
        augmenter(split.images[start : start + BATCH], rng)
    return time.perf_counter() - started


def written_out_epoch(split: Split, augmenter: Augmenter | None, seed: int) -> float:
    """Seconds for one epoch of the training loop, augmenting each batch if asked."""
    params = init(LAYERS, act="relu", rng=np.random.default_rng(seed))
    optimizer, rng = SGD(0.1), np.random.default_rng(seed)
    state = optimizer.init(params)
    started = time.perf_counter()
    for index in batches(len(split), BATCH, rng):
        images = split.images[index]
        if augmenter is not None:
            images = augmenter(images, rng)
        params, state, _ = train_step(params, state, to_float(images), split.labels[index], optimizer)
    return time.perf_counter() - started


def measure(split: Split, runs: int) -> dict[str, float]:
    """Median seconds of every measurement, taken in turn within each run so that
    changes in the machine's load over time hit them all alike."""
    jobs = {"plain epoch": lambda seed: plain_epoch(split, seed)}
    for name, augmenter in VARIANTS.items():
        jobs[name] = lambda seed, augmenter=augmenter: augment_all(split, augmenter, seed)
    jobs["written-out plain"] = lambda seed: written_out_epoch(split, None, seed)
    jobs["written-out augmented"] = lambda seed: written_out_epoch(split, Augmenter(), seed)
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for seed in range(runs):
        for name, job in jobs.items():
            times[name].append(job(seed))
    return {name: statistics.median(seconds) for name, seconds in times.items()}


def main() -> None:
    tune_malloc()  # as `purenet` does: steps reuse freed pages (purenet.apps.allocator; PURENET_TUNE_MALLOC=0 opts out)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parent.parent / "data" / "mnist")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    split = load(args.data).train
    augment_all(split, Augmenter(), 0)  # warm up: caches, the coordinate bases
    print(f"load average {os.getloadavg()[0]:.2f}, BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}; "
          f"{len(split)} images, batches of {BATCH}, median of {args.runs} runs")
    median = measure(split, args.runs)
    plain = median["plain epoch"]
    print(f"plain epoch (purenet.core.training, {'-'.join(map(str, LAYERS))} relu, SGD 0.1): {plain:.3f} s")
    for name in VARIANTS:
        seconds, per_batch = median[name], 1000 * median[name] / -(-len(split) // BATCH)
        print(f"augment all, {name:31s} {seconds:.3f} s ({per_batch:.3f} ms/batch), "
              f"(plain + augment) / plain = {(plain + seconds) / plain:.2f}")
    bare, augmented = median["written-out plain"], median["written-out augmented"]
    print(f"written-out epoch: plain {bare:.3f} s, augmented (Augmenter()) {augmented:.3f} s, ratio {augmented / bare:.2f}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
