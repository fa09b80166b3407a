"""One trial of a sweep, run where the work is (a local worker process or a Dask worker).

    run_trial(job) -> TrialOutcome

The trial is an ordinary run (``purenet.runs.run.prepare``) of the RunConfig the driver
made, trained epoch by epoch through the library's records, its checkpoint saved
atomically after every epoch exactly as ``purenet train`` saves it (so ``purenet train
--config`` of the same settings gives the same weights, bit for bit, with the same BLAS
thread count). Each epoch's validation score is reported to the Optuna trial through
the shared storage, and the trial stops when the pruner says so. The test split is not
measured: a sweep must not see it. Every way a trial ends is an outcome, never an
exception, so that the driver records it and the sweep goes on.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from typing import Any, Mapping, Optional

import attrs
import numpy as np

from purenet.apps.allocator import tune_malloc
from purenet.core.training import EpochRecord, TrainingDiverged
from purenet.data import Dataset
from purenet.runs.checkpoint import save
from purenet.runs.config import RunConfig
from purenet.runs.run import Run, checkpoint_after, prepare

SQLITE_TIMEOUT = 60
"""Seconds a worker waits for the SQLite file's lock (several processes write to one file)."""


@attrs.frozen
class TrialJob:
    """What a worker needs to run one trial: the study (``storage`` URL, ``study_name``,
    ``pruner``), the trial (``trial_id``, ``number``), its settings (``config``, a RunConfig's
    JSON), where its checkpoint goes (``out``), what it reports (``objective``), and the
    BLAS thread count (``threads``: set in the worker when not None; ``settings`` kept in the checkpoint)."""

    storage: str
    study_name: str
    pruner: str
    trial_id: int
    number: int
    config: Mapping[str, Any]
    out: str
    objective: str
    threads: Optional[int] = None
    settings: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class TrialOutcome:
    """How a trial ended: ``state`` "complete", "pruned" or "failed" (``reason`` says why),
    its ``value`` (the objective at its last epoch), the objective ``by_epoch``, training
    ``seconds``, and the ``worker`` (host:pid) that ran it."""

    number: int
    state: str
    value: Optional[float]
    by_epoch: tuple[float, ...]
    seconds: float
    worker: str
    reason: str = ""


def make_storage(url: str):
    """The Optuna storage at ``url`` (any database URL Optuna's RDBStorage takes)."""
    from optuna.storages import RDBStorage

    engine = {"connect_args": {"timeout": SQLITE_TIMEOUT}} if url.startswith("sqlite") else None
    return RDBStorage(url, engine_kwargs=engine)


def make_pruner(name: str):
    """The pruner a sweep file names: median (Optuna's MedianPruner, after 5 finished trials) or none."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=5) if name == "median" else optuna.pruners.NopPruner()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def init_worker(threads: Optional[int]) -> None:
    """A local worker process's start: BLAS threads set once (``threads`` None: leave them), Ctrl-C
    left to the driver (which stops the workers), and, on Linux, the worker ending with the driver
    even when the driver is killed with SIGKILL."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if threads is not None:
        from purenet.apps.threads import set_blas_threads

        set_blas_threads(threads)
    tune_malloc()  # as the purenet command does: each step reuses the pages the last one freed


def on_a_dask_worker() -> bool:
    """Whether this code runs in a task on a Dask worker (only asked when distributed is loaded)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return False
    try:
        distributed.get_worker()
    except ValueError:  # not in a worker's task
        return False
    return True


def without_test(run: Run) -> Run:
    """``run`` with no test split: a trial is scored on the validation split and never sees the test set."""
    return attrs.evolve(run, dataset=Dataset(run.dataset.train, classes=run.dataset.classes))


def run_trial(job: TrialJob) -> TrialOutcome:
    """Run the trial ``job`` describes to its end; every ending is a TrialOutcome."""
    tune_malloc(dask_worker=on_a_dask_worker())  # done once a process; a local worker did it at start
    if job.threads is not None:
        from purenet.apps.threads import blas_threads, set_blas_threads

        if blas_threads() != job.threads:  # on a Dask worker: the count the driver chose
            set_blas_threads(job.threads)
    started = time.perf_counter()
    values: list[float] = []

    def ended(state: str, reason: str = "") -> TrialOutcome:
        value = values[-1] if values and state == "complete" else None
        return TrialOutcome(number=job.number, state=state, value=value, by_epoch=tuple(values),
                            seconds=round(time.perf_counter() - started, 3), worker=worker_name(), reason=reason)

    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name=job.study_name, storage=make_storage(job.storage), pruner=make_pruner(job.pruner))
        trial = optuna.trial.Trial(study, job.trial_id)
        trial.set_user_attr("worker", worker_name())  # where it runs (the driver writes where it ended)
        run = without_test(prepare(RunConfig.from_json(job.config)))
        saved = run.initial_checkpoint
        with np.errstate(all="ignore"):
            for record in run.records():
                if not isinstance(record, EpochRecord):
                    continue
                saved = attrs.evolve(checkpoint_after(record, saved), settings=dict(job.settings))
                save(job.out, saved)
                value = record.val_acc if job.objective == "val_acc" else record.val_loss
                if value is None or not np.isfinite(value):
                    return ended("failed", f"epoch {record.epoch}: no finite {job.objective}")
                values.append(float(value))
                trial.report(float(value), record.epoch)
                if trial.should_prune():
                    return ended("pruned", f"pruned after epoch {record.epoch}")
    except TrainingDiverged as error:
        return ended("failed", f"diverged: {error}")
    except Exception as error:  # a trial's failure is recorded, and the sweep goes on
        text = str(error).splitlines()[0] if str(error) else ""
        return ended("failed", f"{type(error).__name__}: {text}" if not isinstance(error, ValueError) else text)
    return ended("complete")
