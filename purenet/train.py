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

import math
import time
from typing import Iterator

import attrs
import numpy as np

from purenet.data import Split, batches, to_float
from purenet.losses import get_loss
from purenet.metrics import evaluate
from purenet.network import backward, forward
from purenet.optim import Optimizer, OptState
from purenet.records import Cache, Params

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
    network saw while it learned); ``val_acc`` and ``test_acc`` are measured after the
    epoch on the held-out splits, None where there is none. ``seconds`` is training
    time, ``eval_seconds`` the time the held-out measurements took.
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


def train_step(
    params: Params, state: OptState, x: np.ndarray, y: np.ndarray, optimizer: Optimizer
) -> tuple[Params, OptState, Cache]:
    """One update on one batch: forward, backward, optimizer. Returns the cache too,
    whose logits give the batch's loss and accuracy without another forward pass."""
    cache = forward(params, x)
    params, state = optimizer.update(params, backward(params, cache, y), state)
    return params, state, cache


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
) -> Iterator[Progress | EpochRecord]:
    """Train from epoch ``start_epoch`` up to ``epochs``, yielding records as it goes.

    Each epoch draws one permutation of ``split`` from ``rng`` and takes batches of
    ``batch_size`` (1 gives per-sample SGD). With ``progress_every=k`` a ``Progress``
    record comes every k steps. Raises ``TrainingDiverged`` if the loss stops being finite.
    """
    state = optimizer.init(params) if state is None else state
    for epoch in range(start_epoch + 1, epochs + 1):
        params, state, totals = yield from _run_epoch(
            params, state, split, optimizer, batch_size, rng, epoch, progress_every
        )
        started = time.perf_counter()
        val_loss, val_acc = evaluate(params, val) if val is not None else (None, None)
        test_loss, test_acc = evaluate(params, test) if test is not None else (None, None)
        yield EpochRecord(
            epoch=epoch, params=params, opt_state=state, loss=totals.loss, train_acc=totals.accuracy,
            val_acc=val_acc, test_acc=test_acc, seconds=totals.seconds,
            eval_seconds=time.perf_counter() - started, val_loss=val_loss, test_loss=test_loss,
        )


def _run_epoch(params, state, split, optimizer, batch_size, rng, epoch, progress_every):
    """One pass over ``split``; yields Progress records, returns (params, state, last Progress)."""
    loss_of = get_loss(params.arch.loss).value
    loss_sum, correct, seen, step = 0.0, 0, 0, 0
    started = time.perf_counter()
    for step, index in enumerate(batches(len(split), batch_size, rng), start=1):
        y = split.labels[index]
        x = to_float(split.images[index], params.dtype)
        params, state, cache = train_step(params, state, x, y, optimizer)
        batch_loss = loss_of(cache.logits, y)
        if not math.isfinite(batch_loss):
            raise TrainingDiverged(f"the loss became {batch_loss} at epoch {epoch}, step {step}")
        loss_sum += batch_loss * len(index)
        correct += int(np.count_nonzero(cache.logits.argmax(axis=1) == y))
        seen += len(index)
        if progress_every and step % progress_every == 0:
            yield _progress(epoch, step, seen, len(split), loss_sum, correct, started, params)
    return params, state, _progress(epoch, step, seen, len(split), loss_sum, correct, started, params)


def _progress(epoch, step, seen, total, loss_sum, correct, started, params) -> Progress:
    return Progress(
        epoch=epoch, step=step, seen=seen, total=total, loss=loss_sum / max(seen, 1),
        accuracy=correct / max(seen, 1), seconds=time.perf_counter() - started, params=params,
    )
