"""The driver of a sweep: Optuna's ask and tell, the trials submitted to an Executor.

    open_study(spec, storage_url)                      -> the Optuna study (created, or continued)
    run_sweep(spec, study, url, executor, jobs, ...)   -> SweepSummary, trials run until the spec's count is reached
    local_executor(jobs, threads)                      -> worker processes, each with its BLAS thread count
    trials_best_first(study)                           -> the study so far, best first (``purenet sweep --show``)

The work goes to a ``concurrent.futures.Executor``: local processes
(``ProcessPoolExecutor``) and a Dask cluster (``distributed.Client(address).get_executor()``)
are the same code. Each worker opens the study by its storage URL to report every epoch's
score and ask whether to stop (``trial.run_trial``); the driver ``tell``s each trial exactly
once, when its future completes, so a trial that Dask retries on another worker after
its first one was lost is counted once.

Nothing finished is lost when the driver is stopped: each finished trial is told at once
(a database commit). A trial the driver had running when it stopped stays RUNNING in the
store; the next driver recognises it as stale (its driver on this host is gone, or no
driver has marked it alive for ``GRACE_SECONDS``), marks it failed with the reason and
queues its settings again, so the requested number of trials still completes.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import attrs

from purenet.apps.sweep.spec import SweepSpec
from purenet.apps.sweep.trial import TrialJob, TrialOutcome, init_worker, make_pruner, make_storage, run_trial

ALIVE_SECONDS = 20.0
"""How often a driver marks its running trials alive in the store."""

GRACE_SECONDS = 120.0
"""A running trial not marked alive for this long is stale: its driver (on another machine) is gone."""

POLL_SECONDS = 0.5
"""How often the driver looks for finished trials and new epochs."""


class SweepError(ValueError):
    """A sweep cannot start or continue (one line)."""


@attrs.frozen
class SweepEvent:
    """Something that happened to a trial, for a view: ``kind`` is "start", "epoch", "end" or "requeue"."""

    kind: str
    number: int
    params: dict = attrs.field(factory=dict)
    by_epoch: tuple[float, ...] = ()
    state: str = "running"
    value: Optional[float] = None
    seconds: Optional[float] = None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class SweepSummary:
    """Where a sweep stands: trials finished by state, and the best so far (None before one completes)."""

    complete: int
    pruned: int
    failed: int
    requested: int
    best_number: Optional[int]
    best_value: Optional[float]


# --- the study --------------------------------------------------------------------------------------


def spec_key(spec: SweepSpec) -> dict[str, Any]:
    """What makes a study the spec's: continuing it with other settings would mix two sweeps."""
    return {"base": spec.base, "settings": dict(spec.settings), "vary": [d.to_json() for d in spec.vary],
            "seeds": list(spec.seeds), "objective": spec.objective, "search": spec.search}


def make_sampler(spec: SweepSpec):
    import optuna

    if spec.search == "grid":
        space = {d.name: list(d.grid()) for d in spec.dimensions}
        return optuna.samplers.GridSampler(space, seed=spec.sampler_seed)
    if spec.search == "random":
        return optuna.samplers.RandomSampler(seed=spec.sampler_seed)
    return optuna.samplers.TPESampler(seed=spec.sampler_seed)


def open_study(spec: SweepSpec, storage_url: str):
    """The spec's study in ``storage_url``: a new one, or the one a former run of the same spec began.

    SweepError when the stored study was begun by a different spec, or when a new study
    would write over trial checkpoints another sweep left in the spec's folder."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = make_storage(storage_url)
    key = json.loads(json.dumps(spec_key(spec)))
    exists = spec.study_name in {s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    if not exists:
        left = sorted(spec.folder.glob("trial-*.npz")) if spec.folder.is_dir() else []
        if left:
            raise SweepError(f"{spec.folder}: holds trial checkpoints ({left[0].name}, ...) of another study; a new study "
                             f"would write over them: move them, or give the --storage of the sweep that wrote them")
    study = optuna.create_study(study_name=spec.study_name, storage=storage, sampler=make_sampler(spec),
                                pruner=make_pruner(spec.pruner), direction=spec.direction, load_if_exists=True)
    stored = study.user_attrs.get("spec")
    if stored is None:
        study.set_user_attr("spec", key)
    elif stored != key:
        changed = next(name for name in key if stored.get(name) != key[name])
        raise SweepError(f"{spec.path.name}: its {changed} changed since the study {spec.study_name!r} began; a study holds "
                         "one sweep: put it back, or give another --storage (or rename the file) for a new sweep")
    return study


def counted(study) -> tuple[int, int, int, int]:
    """(complete, pruned, failed, running) trials; a failed trial that was queued again does not count."""
    from optuna.trial import TrialState

    complete = pruned = failed = running = 0
    for trial in study.get_trials(deepcopy=False):
        if trial.state == TrialState.COMPLETE:
            complete += 1
        elif trial.state == TrialState.PRUNED:
            pruned += 1
        elif trial.state == TrialState.FAIL and not trial.user_attrs.get("requeued"):
            failed += 1
        elif trial.state == TrialState.RUNNING:
            running += 1
    return complete, pruned, failed, running


def requeue(study, trial, reason: str) -> bool:
    """Mark the running ``trial`` failed with ``reason`` and queue its settings again; False if
    it had already ended (another driver got there first)."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage = study._storage
    try:
        storage.set_trial_user_attr(trial._trial_id, "reason", reason)
        storage.set_trial_user_attr(trial._trial_id, "requeued", True)
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    except (UpdateFinishedTrialError, RuntimeError):
        return False
    study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_trials(study, now: Optional[float] = None) -> list:
    """Running trials whose driver is gone: on this host and not alive, or not marked alive for GRACE_SECONDS."""
    from optuna.trial import TrialState

    now = time.time() if now is None else now
    host, stale = socket.gethostname(), []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        driver = trial.user_attrs.get("driver") or {}
        alive = trial.user_attrs.get("alive", 0)
        gone_here = driver.get("host") == host and driver.get("pid") != os.getpid() and not _pid_alive(driver.get("pid", 0))
        if gone_here or now - alive > GRACE_SECONDS:
            stale.append(trial)
    return stale


# --- the executor -------------------------------------------------------------------------------------


def threads_per_worker(jobs: int, cores: Optional[int] = None) -> int:
    """BLAS threads for each of ``jobs`` local workers: the cores shared out, at least one."""
    from purenet.apps.threads import usable_cores

    cores = len(usable_cores()) if cores is None else cores
    return max(1, cores // jobs)


def local_executor(jobs: int, threads: Optional[int]) -> concurrent.futures.ProcessPoolExecutor:
    """``jobs`` worker processes (started fresh, not forked from the driver's threads), each with ``threads`` BLAS threads."""
    return concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=init_worker, initargs=(threads,))


def stop_executor(executor: concurrent.futures.Executor) -> None:
    """Stop ``executor`` without waiting: queued trials cancelled, a local pool's processes ended."""
    pool = getattr(executor, "_processes", None)  # a ProcessPoolExecutor's own processes (pid -> Process)
    processes = list(pool.values()) if isinstance(pool, dict) else []
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)


# --- the driver --------------------------------------------------------------------------------------


def suggest(trial, spec: SweepSpec) -> dict[str, Any]:
    """The trial's searched settings, suggested by the study's sampler (or a queued trial's own)."""
    params = {}
    for d in spec.dimensions:
        if d.kind == "choice" or spec.search == "grid":
            params[d.name] = trial.suggest_categorical(d.name, list(d.grid()))
        elif d.whole:
            params[d.name] = trial.suggest_int(d.name, d.low, d.high, step=d.step or 1, log=d.kind == "log")
        else:
            params[d.name] = trial.suggest_float(d.name, d.low, d.high, step=d.step, log=d.kind == "log")
    return params


@attrs.define
class _Running:
    trial: Any
    params: dict
    started: float
    epochs_seen: int = 0


def run_sweep(spec: SweepSpec, study, storage_url: str, make_executor: Callable[[], concurrent.futures.Executor], jobs: int,
              on_event: Callable[[SweepEvent], None] = lambda event: None, threads: Optional[int] = None,
              settings: Optional[dict] = None) -> SweepSummary:
    """Run trials until ``spec.trials`` have finished (complete, pruned or failed), at most ``jobs`` at a time.

    ``make_executor`` makes the executor (again, if a local pool breaks because a worker
    died); ``threads`` is the BLAS thread count a trial sets where it runs (None: the
    worker's own) and ``settings`` what its checkpoint keeps. A stop (KeyboardInterrupt or
    any exception) queues the running trials again, stops the workers and is re-raised."""
    from optuna.trial import TrialState

    spec.folder.mkdir(parents=True, exist_ok=True)
    for trial in stale_trials(study):
        if requeue(study, trial, "its driver stopped before it finished; queued again"):
            on_event(SweepEvent("requeue", trial.number, dict(trial.params), reason="its driver stopped"))
    storage, url = study._storage, storage_url
    me = {"host": socket.gethostname(), "pid": os.getpid()}
    running: dict[concurrent.futures.Future, _Running] = {}
    executor = make_executor()
    beat = threading.Event()
    heart = threading.Thread(target=_mark_alive, args=(storage, running, beat), daemon=True)
    heart.start()
    try:
        while True:
            complete, pruned, failed, others = counted(study)
            free = spec.trials - complete - pruned - failed - others
            while len(running) < jobs and free > 0:
                trial = study.ask()
                params = suggest(trial, spec)
                out = spec.folder / f"trial-{trial.number}.npz"
                try:
                    config = spec.config(params).to_json()
                except ValueError as error:  # a combination of settings that is no run
                    _tell(study, trial, TrialState.FAIL, {"reason": str(error), "params_shown": params})
                    on_event(SweepEvent("end", trial.number, params, state="failed", reason=str(error)))
                    free -= 1
                    continue
                for key, value in (("config", config), ("driver", me), ("alive", time.time()), ("checkpoint", str(out)),
                                   ("threads", threads)):
                    trial.set_user_attr(key, value)
                job = TrialJob(storage=url, study_name=study.study_name, pruner=spec.pruner, trial_id=trial._trial_id,
                               number=trial.number, config=config, out=str(out), objective=spec.objective, threads=threads,
                               settings=settings or {})
                running[executor.submit(run_trial, job)] = _Running(trial, params, time.time())
                on_event(SweepEvent("start", trial.number, params))
                free -= 1
            if not running:
                break
            done, _ = concurrent.futures.wait(list(running), timeout=POLL_SECONDS, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                entry = running.pop(future)
                try:
                    outcome = future.result()
                except concurrent.futures.process.BrokenProcessPool:
                    _broken(study, running, entry, on_event)
                    stop_executor(executor)
                    executor = make_executor()
                    break
                except Exception as error:  # the work could not run at all (a cluster's error): recorded, and on we go
                    outcome = TrialOutcome(entry.trial.number, "failed", None, (), time.time() - entry.started, "",
                                           f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
                _finish(study, entry, outcome, on_event)
            _epochs(storage, running, on_event)
    except BaseException:
        beat.set()
        for entry in running.values():
            requeue(study, study._storage.get_trial(entry.trial._trial_id), "the sweep was stopped; queued again")
        stop_executor(executor)
        raise
    beat.set()
    executor.shutdown(wait=True)
    return summary(study, spec)


def _tell(study, trial, state, attrs_: dict, value: Optional[float] = None) -> None:
    from optuna.exceptions import UpdateFinishedTrialError

    try:
        for key, item in attrs_.items():
            trial.set_user_attr(key, item)
        study.tell(trial, value if state.name == "COMPLETE" else None, state=state)
    except (UpdateFinishedTrialError, RuntimeError, ValueError):
        pass  # already ended: another driver took it as stale and queued it again


def _finish(study, entry: _Running, outcome: TrialOutcome, on_event) -> None:
    from optuna.trial import TrialState

    state = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED}.get(outcome.state, TrialState.FAIL)
    details = {"by_epoch": list(outcome.by_epoch), "seconds": outcome.seconds, "worker": outcome.worker}
    if outcome.reason:
        details["reason"] = outcome.reason
    _tell(study, entry.trial, state, details, outcome.value)
    on_event(SweepEvent("end", outcome.number, entry.params, outcome.by_epoch, outcome.state, outcome.value,
                        outcome.seconds, outcome.reason))


def _broken(study, running: dict, entry: _Running, on_event) -> None:
    """A local worker died (killed, out of memory): the pool is gone with every trial in it; queue them again."""
    for lost in (entry, *running.values()):
        requeue(study, study._storage.get_trial(lost.trial._trial_id), "its worker process died; queued again")
        on_event(SweepEvent("requeue", lost.trial.number, lost.params, reason="its worker process died"))
    running.clear()


def _epochs(storage, running: dict, on_event) -> None:
    """An "epoch" event for each epoch the workers reported since the last look."""
    for entry in running.values():
        values = storage.get_trial(entry.trial._trial_id).intermediate_values
        if len(values) > entry.epochs_seen:
            entry.epochs_seen = len(values)
            on_event(SweepEvent("epoch", entry.trial.number, entry.params, tuple(values[k] for k in sorted(values)),
                                seconds=round(time.time() - entry.started, 3)))


def _mark_alive(storage, running: dict, stop: threading.Event) -> None:
    while not stop.wait(ALIVE_SECONDS):
        for entry in list(running.values()):
            try:
                storage.set_trial_user_attr(entry.trial._trial_id, "alive", time.time())
            except Exception:  # noqa: BLE001 - a trial that just ended; the next beat marks the rest
                pass


# --- the study so far ---------------------------------------------------------------------------------


def summary(study, spec: SweepSpec) -> SweepSummary:
    complete, pruned, failed, _ = counted(study)
    best = best_trial(study)
    return SweepSummary(complete=complete, pruned=pruned, failed=failed, requested=spec.trials,
                        best_number=None if best is None else best.number, best_value=None if best is None else best.value)


def best_trial(study):
    """The best complete trial, or None."""
    ranked = [t for t in trials_best_first(study) if t.state.name == "COMPLETE"]
    return ranked[0] if ranked else None


def trials_best_first(study) -> list:
    """Every trial that counts (the re-queued failures left out): complete ones best first, then
    pruned ones by their last score, then failed ones; ties by trial number."""
    sign = -1.0 if study.direction.name == "MAXIMIZE" else 1.0
    order = {"COMPLETE": 0, "PRUNED": 1, "RUNNING": 2, "WAITING": 3, "FAIL": 4}

    def score(trial) -> float:
        values = trial.intermediate_values
        value = trial.value if trial.value is not None else (values[max(values)] if values else None)
        return sign * value if value is not None else float("inf")

    trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("requeued")]
    return sorted(trials, key=lambda t: (order.get(t.state.name, 5), score(t), t.number))


def write_config(path: Path, config: dict) -> Path:
    """Write a RunConfig's JSON (the best trial's) atomically."""
    from purenet.io.writing import atomic_write

    text = (json.dumps(config, indent=2) + "\n").encode()
    return atomic_write(path, lambda handle: handle.write(text))
