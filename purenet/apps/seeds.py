"""One recipe, several seeds, trained at once in worker processes: what ``purenet train --seeds 0,1,2`` runs.

    parse_seeds("0,1,2")            -> (0, 1, 2)
    seed_paths("run.npz", seeds)    -> (run-s0.npz, run-s1.npz, run-s2.npz): each seed's own checkpoint
    plan_workers(count, threads)    -> WorkerPlan: how many worker processes, and BLAS threads in each
    SeedPool(plan)                  -> the workers; ``pool.results(tasks)`` yields each SeedResult as it finishes
    train_seed(config, out, threads)-> SeedResult: one run, saved after every epoch (what a worker runs)
    mean_and_spread(values)         -> (mean, sample standard deviation)

Each worker is a fresh process (``spawn``: nothing of the parent's threads or BLAS state
is inherited) whose initializer sets its BLAS thread count with threadpoolctl
(``purenet.apps.threads.set_blas_threads``) before any work, and the run it trains is
``purenet.runs.run.prepare(config)`` saved after every epoch with the thread count in
its settings: what ``purenet train --seed S --threads N`` does in its own process, so a
seed's checkpoint holds the same weights, optimizer state and generator state, bit for bit,
as that command's with the same thread count (only the epochs' timings differ).

The cores are shared, not oversubscribed: with T threads per worker there are at most
cores // T workers (T = 1 unless asked: a small network gains little from a second
thread, and whole runs side by side use the cores better than threads inside one run).

A stop (``KeyboardInterrupt``, or any exception while the results are awaited) ends
the pool: ``SeedPool.__exit__`` terminates the workers. A worker ignores SIGINT (the
parent decides) and ends at once on SIGTERM, except while it saves a checkpoint: the
signal then waits until the file is written whole, so every file left is one the run
saved (atomically, as ``purenet train`` saves). Nothing here prints.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

import attrs

MAX_SEEDS = 1000
"""The most seeds one command takes: a typo's bound (``0-99999``), far above any ensemble meant."""


def parse_seeds(text: str) -> tuple[int, ...]:
    """Seeds as typed: whole numbers from 0 separated by commas (``0,1,2``), or a range ``A-B``
    (both included); each once. ValueError, in one line, for anything else."""
    seeds: list[int] = []
    for part in (piece.strip() for piece in str(text).split(",")):
        low, dash, high = part.partition("-")
        words = (low.strip(), high.strip()) if dash else (part,)
        if not all(word.isascii() and word.isdigit() for word in words):
            raise ValueError(f"{text!r} is not a list of seeds: whole numbers from 0, with commas (0,1,2) or a range (0-4)")
        first, last = int(words[0]), int(words[-1])
        if last < first:
            raise ValueError(f"the range {part} of seeds goes down: write it {last}-{first}")
        if last - first + len(seeds) >= MAX_SEEDS:
            raise ValueError(f"{text!r} names more than {MAX_SEEDS} seeds")
        seeds.extend(range(first, last + 1))
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise ValueError(f"seed {repeated[0]} is given twice: each seed trains one run")
    return tuple(seeds)


def seed_paths(out: str | os.PathLike, seeds: Sequence[int]) -> tuple[Path, ...]:
    """Each seed's checkpoint: ``run.npz`` -> ``run-s0.npz``, ``run-s1.npz``, ... beside it
    (a name without a suffix gets ``.npz``: ``run`` -> ``run-s0.npz``)."""
    out = Path(out)
    suffix = out.suffix or ".npz"
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return tuple(out.with_name(f"{stem}-s{seed}{suffix}") for seed in seeds)


@attrs.frozen
class WorkerPlan:
    """``workers`` processes, each running BLAS on ``threads`` threads (None: the environment's
    variable decides, as ``OPENBLAS_NUM_THREADS`` does for ``purenet train``); ``reason`` in words."""

    workers: int
    threads: Optional[int]
    reason: str

    def to_json(self) -> dict:
        return attrs.asdict(self)


def plan_workers(count: int, threads: Optional[int] = None, cores: Optional[int] = None,
                 environment: Optional[str] = None) -> WorkerPlan:
    """Workers and threads for ``count`` runs on ``cores`` cores (default: those this process may
    use): ``threads`` per worker (default 1, or none set when ``environment`` names the variable
    that sets them), and as many workers as runs, at most cores // threads, at least one."""
    from purenet.apps.threads import usable_cores

    cores = len(usable_cores()) if cores is None else cores
    if threads is not None and threads < 1:
        raise ValueError(f"the BLAS thread count must be at least 1, got {threads}")
    if threads is None and environment is not None:
        workers = max(1, min(count, cores))
        return WorkerPlan(workers=workers, threads=None, reason=f"{workers} of {cores} cores; BLAS threads from {environment}")
    per_worker = threads or 1
    workers = max(1, min(count, cores // per_worker))
    return WorkerPlan(workers=workers, threads=per_worker,
                      reason=f"{workers} worker{'s' if workers > 1 else ''} x {per_worker} BLAS thread"
                             f"{'s' if per_worker > 1 else ''} on {cores} core{'s' if cores > 1 else ''}")


@attrs.frozen
class SeedResult:
    """What one seed's run came to. ``epoch``: the last epoch saved in ``out`` (0: none);
    ``test_acc``, ``val_acc``: that epoch's (None when the run had no such split);
    ``diverged``: why training stopped, when it diverged (the file then holds the last good
    epoch); ``error``: a one-line problem that kept the run from training (bad data, say)."""

    seed: int
    out: str
    epoch: int = 0
    test_acc: Optional[float] = None
    val_acc: Optional[float] = None
    seconds: float = 0.0
    threads: Optional[int] = None
    diverged: Optional[str] = None
    error: Optional[str] = None

    @property
    def finished(self) -> bool:
        return self.diverged is None and self.error is None

    def to_json(self) -> dict:
        return attrs.asdict(self)


THREADS_SETTING = "blas_threads"
"""The key of ``Checkpoint.settings`` holding the BLAS thread count (``purenet train`` writes the same)."""


def train_seed(config, out: str | os.PathLike, threads: Optional[int] = None) -> SeedResult:
    """Train the run ``config`` (a ``RunConfig``) and save it to ``out`` after every epoch, with
    ``threads`` (the BLAS count it trains with; None: not recorded) in its settings, as
    ``purenet train --seed S --threads N --out OUT`` does. Call it in a process whose BLAS
    thread count is set (``SeedPool``'s workers are)."""
    import numpy as np

    from purenet.core.training import EpochRecord, TrainingDiverged
    from purenet.data import DataError
    from purenet.runs.checkpoint import CheckpointError
    from purenet.runs.checkpoint import save as save_checkpoint
    from purenet.runs.config import ConfigError
    from purenet.runs.run import checkpoint_after, prepare

    began = time.perf_counter()
    settings = {THREADS_SETTING: threads} if threads is not None else {}
    result = SeedResult(seed=config.seed, out=str(out), threads=threads)
    try:
        run = prepare(config)
    except (ConfigError, DataError, CheckpointError) as error:
        return attrs.evolve(result, error=str(error))
    last = run.initial_checkpoint
    try:
        with np.errstate(all="ignore"):
            for record in run.records():
                if not isinstance(record, EpochRecord):
                    continue
                candidate = attrs.evolve(checkpoint_after(record, last), settings=settings)
                with _stop_deferred():
                    save_checkpoint(out, candidate)
                last = candidate
    except TrainingDiverged as error:
        result = attrs.evolve(result, diverged=str(error))
    except OSError as error:
        result = attrs.evolve(result, error=f"{out}: cannot write the checkpoint ({error.strerror or error})")
    final = last.history[-1] if last.history else {}
    return attrs.evolve(result, epoch=last.epoch, test_acc=final.get("test_acc"), val_acc=final.get("val_acc"),
                        seconds=time.perf_counter() - began)


@contextlib.contextmanager
def _stop_deferred() -> Iterator[None]:
    """SIGTERM held (pending, not lost) while a checkpoint is written: the file appears whole first."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _worker_start(threads: Optional[int]) -> None:
    """Each worker, before any task: the parent alone answers Ctrl-C; SIGTERM (the pool's end)
    ends the worker at once, without a traceback; BLAS on ``threads`` threads; malloc tuned
    as the ``purenet`` command tunes it (speed only: results do not depend on it)."""
    from purenet.apps.allocator import tune_malloc
    from purenet.apps.threads import set_blas_threads

    global _applied
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, _frame: os._exit(128 + signum))
    tune_malloc()
    if threads is not None:
        choice = set_blas_threads(threads)
        _applied = choice.applied if choice.applied is not None else threads


_applied: Optional[int] = None
"""The BLAS thread count this worker runs with (None: not set by purenet), recorded in each checkpoint."""


def _task(task: tuple) -> SeedResult:
    config, out = task
    return train_seed(config, out, _applied)


class SeedPool:
    """``plan.workers`` worker processes; ``results(tasks)`` runs each (config, out) task on one and
    yields its ``SeedResult`` as it finishes (in the order they finish). Leaving the ``with``
    block ends the workers: at once (terminated) when an exception is on its way out."""

    def __init__(self, plan: WorkerPlan) -> None:
        self.plan = plan
        self._pool = None

    def __enter__(self) -> SeedPool:
        context = multiprocessing.get_context("spawn")
        self._pool = context.Pool(self.plan.workers, initializer=_worker_start, initargs=(self.plan.threads,))
        return self

    def results(self, tasks: Iterable[tuple]) -> Iterator[SeedResult]:
        """Each task (config, out) trained by a worker; its result as soon as it is done."""
        assert self._pool is not None, "use SeedPool in a with block"
        yield from self._pool.imap_unordered(_task, [(config, str(out)) for config, out in tasks])

    def __exit__(self, kind, *_exc) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if kind is None:
            pool.close()
        else:
            pool.terminate()
        pool.join()


def mean_and_spread(values: Sequence[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation (n - 1 in the denominator; 0 for one value)."""
    values = [float(v) for v in values]
    if not values:
        return math.nan, math.nan
    mean = math.fsum(values) / len(values)
    if len(values) == 1:
        return mean, 0.0
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
