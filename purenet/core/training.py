"""The training loop as a pure generator of records.

    train_step(params, state, x, y, optimizer) -> (params, state, cache)
    train(params, split, optimizer=..., epochs=..., batch_size=..., rng=...)
        yields Progress records inside an epoch (when asked) and one EpochRecord per epoch

Nothing here prints: the CLI renders the records, a script consumes them as it
likes. The only state that moves is the ``numpy.random.Generator`` the caller
passes in (one permutation per epoch), so the same inputs give the same records,
bit for bit (timings aside).

>>> for record in train(params, mnist.train, optimizer=SGD(0.1), epochs=3,   # doctest: +SKIP
...                     batch_size=64, rng=np.random.default_rng(0), test=mnist.test):
...     print(record.epoch, record.test_acc)
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import attrs
import numpy as np

from purenet.core.losses import loss_terms
from purenet.core.metrics import evaluate
from purenet.core.network import backward, forward
from purenet.core.optim import Optimizer, OptState
from purenet.core.records import Best, Cache, Params
from purenet.data import Split, batches, to_float


class TrainingDiverged(ArithmeticError):
    """The loss became NaN or infinite; lower the learning rate."""


@attrs.frozen
class Progress:
    """Where an epoch has got to: ``seen`` of ``total`` samples, with running averages."""

    epoch: int
    step: int
    seen: int
    total: int
    loss: float
    accuracy: float
    seconds: float
    params: Params


@attrs.frozen
class EpochRecord:
    """One finished epoch: the params and optimizer state after it, and how it went.

    ``loss`` and ``train_acc`` are running averages over the epoch's batches (what the
    network saw while it learned, with dropout and augmentation if any); ``val_acc``
    and ``test_acc`` are measured after the epoch on the held-out splits, None where
    there is none. ``seconds`` is training time, ``eval_seconds`` the time the held-out
    measurements took. ``best`` is the best epoch on the validation split so far (None
    without one); ``stopped_early`` says early stopping ended the run after this epoch.
    ``rng_state`` is the training generator's ``bit_generator.state`` after the epoch: with
    the params and optimizer state, all a checkpoint needs to continue bit for bit.
    """

    epoch: int
    params: Params
    opt_state: OptState
    loss: float
    train_acc: float
    val_acc: float | None
    test_acc: float | None
    seconds: float
    eval_seconds: float
    val_loss: float | None = None
    test_loss: float | None = None
    best: Best | None = None
    stopped_early: bool = False
    rng_state: dict | None = attrs.field(default=None, eq=False, repr=False)


Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]
"""A batch transform: uint8 images (N, pixels) and a generator -> new uint8 images (N, pixels)."""


def train_step(
    params: Params, state: OptState, x: np.ndarray, y: np.ndarray, optimizer: Optimizer,
    *, dropout: float = 0.0, rng: np.random.Generator | None = None, label_smoothing: float = 0.0,
) -> tuple[Params, OptState, Cache]:
    """One update on one batch: forward (with dropout drawn from ``rng``), backward (with
    ``label_smoothing``), optimizer. Returns the cache too, whose logits give the batch's
    loss and accuracy without another forward pass."""
    cache = forward(params, x, dropout=dropout, rng=rng, training=True)
    params, state = optimizer.update(params, backward(params, cache, y, label_smoothing=label_smoothing), state)
    return params, state, cache


@attrs.frozen
class _EpochSettings:
    """How every epoch of one ``train`` call runs (its keyword arguments, bundled)."""

    split: Split
    optimizer: Optimizer
    batch_size: int
    rng: np.random.Generator
    progress_every: int
    dropout: float
    augment: Augment | None
    label_smoothing: float = 0.0


def train(
    params: Params,
    split: Split,
    *,
    optimizer: Optimizer,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    val: Split | None = None,
    test: Split | None = None,
    state: OptState | None = None,
    start_epoch: int = 0,
    progress_every: int = 0,
    dropout: float = 0.0,
    augment: Augment | None = None,
    patience: int | None = None,
    best: Best | None = None,
    label_smoothing: float = 0.0,
) -> Iterator[Progress | EpochRecord]:
    """Train from epoch ``start_epoch`` up to ``epochs``, yielding records as it goes.

    Each epoch draws one permutation of ``split`` from ``rng`` and takes batches of
    ``batch_size`` (1 gives per-sample SGD); ``augment`` transforms each uint8 batch
    and ``dropout`` drops hidden units, both drawing from ``rng``. With
    ``progress_every=k`` a ``Progress`` record comes every k steps. With a ``val``
    split and ``patience=k``, training stops once k epochs pass without a better
    validation accuracy (``best`` carries the best so far across a resume).
    ``label_smoothing`` e trains the ce loss against (1 - e) onehot + e / K; the epoch's
    ``loss`` is then that smoothed loss, the held-out losses stay the plain one. Raises
    ``TrainingDiverged`` if the loss stops being finite.

    With ``augment``, a step that draws nothing from ``rng`` (no dropout) and a core that looks
    free at the epoch's start, each next batch is augmented in a background thread while the
    step runs; the generator is
    still used by one thread at a time, in the same order, so the records are the same,
    bit for bit. Do not draw from ``rng`` while the generator is paused at a ``Progress``.
    """
    state = optimizer.init(params) if state is None else state
    loss_terms(params.arch.loss, label_smoothing)  # a bad setting fails before the first epoch
    plan = _EpochSettings(split, optimizer, batch_size, rng, progress_every, dropout, augment, label_smoothing)
    for epoch in range(start_epoch + 1, epochs + 1):
        params, state, totals = yield from _run_epoch(params, state, plan, epoch)
        started = time.perf_counter()
        val_loss, val_acc = evaluate(params, val) if val is not None else (None, None)
        test_loss, test_acc = evaluate(params, test) if test is not None else (None, None)
        if val_acc is not None and (best is None or val_acc > best.val_acc):
            best = Best(epoch=epoch, val_acc=val_acc, params=params)
        stop = patience is not None and best is not None and epoch - best.epoch >= patience
        yield EpochRecord(
            epoch=epoch, params=params, opt_state=state, loss=totals.loss, train_acc=totals.accuracy,
            val_acc=val_acc, test_acc=test_acc, seconds=totals.seconds, eval_seconds=time.perf_counter() - started,
            val_loss=val_loss, test_loss=test_loss, best=best, stopped_early=stop, rng_state=rng.bit_generator.state,
        )
        if stop:
            return


def _run_epoch(params: Params, state: OptState, plan: _EpochSettings, epoch: int):
    """One pass over the split; yields Progress records, returns (params, state, last Progress).

    With ``augment`` and a spare core (``_spare_core``), the next batch is augmented in a
    background thread while the step runs (NumPy releases the GIL), once the epoch's first
    step has shown that the step draws nothing from the generator (no dropout): then the
    generator is used by one thread at a time and in the serial loop's order, so the numbers
    are the same, bit for bit.
    """
    loss_of = loss_terms(params.arch.loss, plan.label_smoothing)[0]
    loss_sum, correct, seen, step = 0.0, 0, 0, 0
    started = time.perf_counter()
    parts = list(batches(len(plan.split), plan.batch_size, plan.rng))  # the epoch's one draw: its permutation
    with _helper(plan.augment is not None and _spare_core()) as helper:
        pending, overlap = None, False
        for step, index in enumerate(parts, start=1):
            x = pending.result() if pending is not None else _batch(plan, index, params.dtype)
            pending = helper.submit(_batch, plan, parts[step], params.dtype) if overlap and step < len(parts) else None
            before = plan.rng.bit_generator.state if helper is not None and step == 1 else None
            y = plan.split.labels[index]
            params, state, cache = train_step(params, state, x, y, plan.optimizer, dropout=plan.dropout, rng=plan.rng,
                                              label_smoothing=plan.label_smoothing)
            if before is not None:
                overlap = plan.rng.bit_generator.state == before  # the step drew nothing: augment ahead
            batch_loss = loss_of(cache.logits, y)
            if not math.isfinite(batch_loss):
                raise TrainingDiverged(f"the loss became {batch_loss} at epoch {epoch}, step {step}")
            loss_sum += batch_loss * len(index)
            correct += int(np.count_nonzero(cache.logits.argmax(axis=1) == y))
            seen += len(index)
            if plan.progress_every and step % plan.progress_every == 0:
                yield _progress(epoch, step, seen, len(plan.split), loss_sum, correct, started, params)
    return params, state, _progress(epoch, step, seen, len(plan.split), loss_sum, correct, started, params)


def _batch(plan: _EpochSettings, index: np.ndarray, dtype) -> np.ndarray:
    """The network's input for the samples ``index``: augmented (drawing from the generator) if asked."""
    images = plan.split.images[index]
    if plan.augment is not None:
        images = plan.augment(images, plan.rng)
    return to_float(images, dtype)


def _spare_core() -> bool:
    """Whether a core looks free for the background augmentation: the CPUs this process may use
    less the load average (this process's own thread counted in it) leave at least half a core.

    On a busy machine a second thread costs more than it saves: measured on 2 cores at load 6,
    an augmented epoch took 1.17x the wall time and 1.09x the CPU time of the serial loop, the
    two threads waiting on each other for the GIL (docs/performance.md, "The whole default run").
    Either way the numbers are the same; only the time differs.
    """
    try:
        cores = len(os.sched_getaffinity(0))
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no affinity or load average on this system: do not guess
        return False
    return cores - load >= 0.5


@contextlib.contextmanager
def _helper(wanted: bool) -> Iterator[ThreadPoolExecutor | None]:
    """One background thread for the epoch, when ``wanted``; it is joined when the epoch ends or stops."""
    if not wanted:
        yield None
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="purenet-augment") as pool:
        yield pool


def _progress(epoch, step, seen, total, loss_sum, correct, started, params) -> Progress:
    return Progress(
        epoch=epoch, step=step, seen=seen, total=total, loss=loss_sum / max(seen, 1),
        accuracy=correct / max(seen, 1), seconds=time.perf_counter() - started, params=params,
    )
