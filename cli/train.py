"""``purenet train``: check everything, then feed the library's records to a view and save.

The order is the promise: every option, the checkpoint to resume, the file to write
and the data are checked before the first step, and a mistake is one line (exit 2)
with nothing written. Then the loop only renders and saves: every number comes from
``purenet.core.training``'s records. The checkpoint is written atomically after every
epoch, under an advisory lock, so a crash, Ctrl-C or SIGTERM loses at most the epoch
in progress and two runs never write the same file. A stop signal that comes during the
save waits for it (``signals_deferred``), so the last line names the epoch the file holds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import attrs
import numpy as np
import typer
from rich import box

from purenet.apps.threads import ThreadChoice, parse_threads, set_blas_threads
from purenet.base.words import counted
from purenet.cli.console import EXIT_DIVERGED, Terminated, fail, plain_output, say, signals_deferred, stdout_console, stopped_by
from purenet.cli.download import ensure_default_data, run_download_named
from purenet.cli.epochlog import is_epoch_log, log_rows, write_log
from purenet.cli.models import open_checkpoint
from purenet.cli.recipes import config_error_message, config_from_options, in_words, option_name, resumed_config
from purenet.cli.state import remember_model, state_file
from purenet.cli.views import make_view
from purenet.core.optim import learning_rate
from purenet.core.training import Progress, TrainingDiverged, evaluate
from purenet.data import DataError, default_data_dir
from purenet.data.named import DATASETS, data_location, data_setting
from purenet.io.lock import OutputLock
from purenet.io.outputs import WriteRefused, check_not_input, check_target
from purenet.runs.checkpoint import Checkpoint, CheckpointError, is_checkpoint
from purenet.runs.checkpoint import save as save_checkpoint
from purenet.runs.config import ConfigError, RunConfig, check_fits
from purenet.runs.run import Run, checkpoint_after, epochs_to_reach, prepare, prepare_resumed, run_schedule

if TYPE_CHECKING:
    from purenet.cli.app import TrainRequest

PROGRESS_UPDATES_PER_EPOCH = 50


@attrs.frozen
class TrainOptions:
    """How to run ``purenet train``, apart from the settings that define the run itself."""

    epochs: Optional[int]  # the total to reach (None: the run's own)
    data: Optional[Path]
    out: Path
    log: Optional[Path]
    force: bool
    resume: Optional[Path]
    every: int
    show_predictions: int
    json_output: bool
    threads: Optional[int] = None  # --threads: a number, or None for the policy


@attrs.frozen
class CheckedRequest:
    """A checked request: the run's config, where it goes, and the checkpoint it continues."""

    config: RunConfig
    options: TrainOptions
    resumed: Optional[Checkpoint]


def run_train(request: TrainRequest, explicit: frozenset[str] = frozenset()) -> None:
    """Train as the ``request`` says (``explicit``: the options typed, which win over a preset);
    exits 2 on a user mistake, 3 if training diverges, 128 + the signal when stopped."""
    if request.seeds is not None:
        from purenet.cli.seeds import run_seeds

        run_seeds(request, explicit)
        return
    try:  # SIGTERM and SIGHUP arrive as Terminated (purenet.cli.console.signals_as_interrupts)
        checked = check_request(request, explicit)
        threads = set_blas_threads(checked.options.threads, kept=_kept_threads(checked.resumed))  # before any work, once
        if request.dry_run:
            _check_memory(checked.config)  # what the run would refuse before reading its data
            show_settings(checked, threads)
            return
        with _locked(checked.options):
            _train(checked, threads)
    except (KeyboardInterrupt, Terminated) as error:  # before the first epoch could start
        what, code = stopped_by(error)
        say(f"{what} before training started; nothing was written")
        raise typer.Exit(code) from None


THREADS_SETTING = "blas_threads"
"""The key of ``Checkpoint.settings`` that holds the BLAS thread count a run was trained with."""


def _kept_threads(resumed: Optional[Checkpoint]) -> Optional[int]:
    """The BLAS thread count the resumed run was trained with (None: not kept, or not a count)."""
    count = resumed.settings.get(THREADS_SETTING) if resumed is not None else None
    return count if isinstance(count, int) and not isinstance(count, bool) and count >= 1 else None


def _settings_kept(threads: ThreadChoice) -> dict:
    """The checkpoint's free-form settings: the BLAS thread count the run trains with when purenet
    chose or was told it (a later --resume reuses it, so that the run continues bit for bit);
    nothing when BLAS keeps a count of its own (the environment's)."""
    count = threads.applied if threads.applied is not None else threads.threads
    return {THREADS_SETTING: count} if threads.threads is not None and count is not None else {}


def _check_memory(config: RunConfig) -> None:
    try:
        check_fits(config)
    except ConfigError as error:
        fail(config_error_message(error))


def _train(checked: CheckedRequest, threads: ThreadChoice) -> None:
    run = _prepared(checked)
    options = checked.options
    view = make_view(json_output=options.json_output, plain=plain_output())
    view.start(run.config.to_json(), run.initial_checkpoint.epoch, run.epochs, len(run.train), threads)
    last = _train_and_save(options, run, view, _settings_kept(threads))
    try:
        last = _calibrate(options, run, last)
        if options.show_predictions and run.dataset.has_test:
            view.predictions(last.model, run.dataset.test, options.show_predictions, run.image_shape, run.config.seed,
                             names=last.class_names if last.classes is not None else None)
        view.finish(last, options.out)
    except (KeyboardInterrupt, Terminated) as error:  # training is over and saved: say so, and stop
        what, code = stopped_by(error)
        say(f"{what}: training had finished; {options.out} holds epoch {last.epoch}")
        raise typer.Exit(code) from None


def _calibrate(options: TrainOptions, run: Run, last: Checkpoint) -> Checkpoint:
    """With a validation split (--val-fraction), the saved model calibrated on it: a temperature and an
    abstention threshold (``purenet.runs.calibrate``), saved in the same file. The split is there and
    one pass over it costs little, so every run that holds one out ends with a model that can say
    "not sure"; a run without one is left as it is (``purenet calibrate`` can do it later)."""
    from purenet.runs.calibrate import MIN_HELD_OUT, calibrated

    if run.val is None or len(run.val) < MIN_HELD_OUT or last.model.arch.loss != "ce" or last.epoch == 0:
        return last
    with signals_deferred():
        fitted = calibrated(last, run.val)
        _save(options.out, fitted, last)
    said = fitted.calibration
    say(f"calibrated on {counted(said.samples, 'held-out image')}: temperature {said.temperature:.3f}, "
        f"{said.score} threshold {said.threshold:.3f} keeps {100 * said.keep:g}% of them")
    return fitted


def show_settings(checked: CheckedRequest, threads: Optional[ThreadChoice] = None) -> None:
    """``--dry-run``: the settings the run would have, as a table (or, with --json, the
    ``RunConfig.to_json()`` object that ``RunConfig.from_json`` reads back; the BLAS
    threads, not a setting of the run, only in the table)."""
    settings, options = checked.config.to_json(), checked.options
    if options.json_output:
        print(json.dumps(settings))
        return
    rows = [(name, _setting_shown(name, value)) for name, value in settings.items()]
    if checked.resumed is not None:
        rows.append(("resumes", f"{options.resume} at epoch {checked.resumed.epoch}, up to epoch "
                                f"{options.epochs or checked.config.epochs}"))
    rows.append(("out", str(options.out)))
    if options.log is not None:
        rows.append(("log", str(options.log)))
    if threads is not None:
        rows.append(("threads", threads.in_words()))
    title = "the run's settings (--dry-run: nothing trained, nothing written)"
    if plain_output():  # one line a setting, never wrapped or cut: for logs and grep
        print(title)
        width = max(len(name) for name, _ in rows)
        for name, shown in rows:
            print(f"{name:<{width}} {shown}")
        return
    from rich.table import Table

    table = Table("setting", "value", title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.columns[1].overflow = "fold"
    for row in rows:
        table.add_row(*row)
    stdout_console().print(table)


def _setting_shown(name: str, value) -> str:
    """A setting of ``RunConfig.to_json()`` in words: ``784,200,10``, ``(shift 1, rotation 8, ...)``, ``none``."""
    if name == "data" and value is None:
        return f"{default_data_dir()} (the default)"
    if name == "data" and value in DATASETS:
        return f"{value} ({DATASETS[value].title}, in {data_location(value)})"
    return in_words(value)


# --- checking the request, before any work ------------------------------------------------


def check_request(request: TrainRequest, explicit: frozenset[str]) -> CheckedRequest:
    """Every check that needs no data: options, the checkpoint to resume, the file to write."""
    resumed = open_checkpoint(request.resume) if request.resume is not None else None
    if request.config is not None and (resumed is not None or "preset" in explicit):
        other = "--resume" if resumed is not None else "--preset"
        fail(f"--config {request.config} gives the run's settings, and so does {other}: give one of them")
    try:
        if request.config is not None:
            config = config_from_file(request.config, request, explicit)
        else:
            config = _resumed(resumed, request, explicit) if resumed else config_from_options(request, explicit)
    except ConfigError as error:
        fail(config_error_message(error))
    if request.data is not None:
        config = attrs.evolve(config, data=data_setting(request.data))
        if resumed is None and "layers" not in explicit:
            config = _one_output_per_class(config)
    epochs = request.epochs if resumed is None or "epochs" in explicit else None
    if resumed is not None and resumed.config is not None:
        try:  # nothing left to do is said before any data is read, and by --dry-run too
            epochs_to_reach(str(request.resume), resumed.epoch, resumed.config.epochs, epochs)
        except ConfigError as error:
            fail(config_error_message(error))
    out = request.out if request.out is not None else (request.resume or Path("model.npz"))
    options = TrainOptions(epochs=epochs, data=request.data, out=out, log=request.log, force=request.force, resume=request.resume,
                           every=request.every, show_predictions=request.show_predictions, json_output=request.json_output,
                           threads=parse_threads(request.threads))
    _check_out(options, config)
    _check_log(options, config)
    return CheckedRequest(config=config, options=options, resumed=resumed)


def config_from_file(path: Path, request: TrainRequest, explicit: frozenset[str]) -> RunConfig:
    """--config: the RunConfig JSON in ``path`` with the options typed on top (ConfigError names a bad setting)."""
    try:
        with open(path, encoding="utf-8") as file:
            settings = json.load(file)
    except OSError as error:
        fail(f"--config {path}: cannot read it ({error.strerror or error})")
    except (ValueError, UnicodeDecodeError) as error:
        fail(f"--config {path}: not a JSON file ({str(error).splitlines()[0]})")
    try:
        config = RunConfig.from_json(settings)
    except (ConfigError, TypeError) as error:
        fail(f"--config {path}: {error}")
    wanted, _ = resumed_config(config, request, explicit)  # the typed options applied, as on a resumed run's settings
    return attrs.evolve(wanted, epochs=request.epochs) if "epochs" in explicit else wanted


def _one_output_per_class(config: RunConfig) -> RunConfig:
    """A named data set's network ends with one output per class (26 for emnist-letters), unless --layers says otherwise."""
    classes = DATASETS[config.data].class_count if config.data in DATASETS else None
    last = config.layers[-1]
    if classes is None or not isinstance(last, int) or last == classes:
        return config
    try:
        return attrs.evolve(config, layers=(*config.layers[:-1], classes))
    except ConfigError as error:
        fail(config_error_message(error))


def _resumed(checkpoint: Checkpoint, request: TrainRequest, explicit: frozenset[str]) -> RunConfig:
    """The resumed run's config; an option that would change it is refused, never ignored."""
    path = request.resume
    if checkpoint.config is None:  # the library refuses it, naming the file; no settings to compare
        return RunConfig()
    wanted, conflicts = resumed_config(checkpoint.config, request, explicit)
    if conflicts:
        name = conflicts[0]
        fail(f"{option_name(name)} {_shown(getattr(wanted, name))} conflicts with {path}, whose run has "
             f"{name} {_shown(getattr(checkpoint.config, name))}; a resumed run keeps its settings "
             "(start a new run to change them)")
    return checkpoint.config


def _shown(value) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return "none" if value is None else str(value)


def _check_out(options: TrainOptions, config: RunConfig) -> None:
    """--out may replace only a purenet checkpoint (any regular file with --force), never
    the data: not its file, and nothing inside its folder, where the loader would read it."""
    out, data = options.out, data_location(config.data)
    try:
        check_not_input(out, [(data, "the training data"), _state_record()], option="--out")
        check_target(out, is_checkpoint, what="a purenet checkpoint", force=options.force)
    except WriteRefused as error:
        fail(str(error))


def _check_log(options: TrainOptions, config: RunConfig) -> None:
    """--log may replace only a log purenet wrote (any regular file with --force); never the
    checkpoint, the one resumed or the data, and it may not go inside the data folder."""
    log, data = options.log, data_location(config.data)
    if log is None:
        return
    try:
        check_not_input(log, [(data, "the training data"), (options.out, "the checkpoint (--out)"),
                              (options.resume, "the resumed checkpoint (--resume)"), _state_record()], option="--log")
        check_target(log, is_epoch_log, what="a purenet epoch log (CSV)", force=options.force)
    except WriteRefused as error:
        fail(str(error))


def _state_record() -> tuple[str, str]:
    """The state file, as an input no output may be: after each save it is rewritten with the
    checkpoint's path, which would replace a checkpoint (or log) written there."""
    return str(state_file()), "where purenet remembers the last model trained"


class held_locks:
    """Hold output locks for a command (a run's checkpoint and log, every seed's checkpoint); a second
    command writing the same file gets one line, and the locks taken so far are let go."""

    def __init__(self, locks: list[OutputLock]) -> None:
        self.locks = locks
        self.held: list[OutputLock] = []

    def __enter__(self) -> None:
        try:
            for lock in self.locks:
                lock.__enter__()
                self.held.append(lock)
        except WriteRefused as error:
            self.__exit__(None, None, None)
            fail(str(error))

    def __exit__(self, *exc) -> None:
        while self.held:
            self.held.pop().__exit__(*exc)


def _locked(options: TrainOptions) -> held_locks:
    """The run's output locks: the checkpoint's, and the log's when there is one."""
    return held_locks([OutputLock(options.out)] + ([OutputLock(options.log, "--log")] if options.log else []))


# --- data and the starting point: the library's -------------------------------------------


def _prepared(checked: CheckedRequest) -> Run:
    """The library's Run (data loaded and checked, the starting point), or one line."""
    config, options = checked.config, checked.options
    if config.data is None and checked.resumed is None:
        ensure_default_data(default_data_dir())  # the library's own fetch, with progress shown
    elif config.data in DATASETS:
        run_download_named(config.data)  # the first use of --data NAME fetches it, with progress shown
    try:
        if checked.resumed is None:
            run = prepare(config)
        else:
            run = prepare_resumed(options.resume, epochs=options.epochs, data=options.data)
    except ConfigError as error:
        fail(config_error_message(error))
    except (DataError, CheckpointError) as error:
        fail(str(error))
    if options.show_predictions and run.image_shape is None:
        fail(f"{run.config.data}: the images' height and width are unknown (their pixel count is not a square), "
             "and --show-predictions needs them to draw the digits: leave it out")
    if options.every and run.val is None and not run.dataset.has_test:
        fail(f"{run.config.data}: has no test part and the run holds out no validation split, so --every has "
             "nothing to measure: add --val-fraction or leave --every out")
    return run


# --- the loop ------------------------------------------------------------------------------------


def _train_and_save(options: TrainOptions, run: Run, view, settings: dict) -> Checkpoint:
    """Run the epochs, saving after each with ``settings``; handles Ctrl-C, SIGTERM and divergence.
    The BLAS thread count stays as chosen at start: the results' last bits depend on it."""
    bar_every = max(1, run.steps_per_epoch // PROGRESS_UPDATES_PER_EPOCH)
    start = last = run.initial_checkpoint
    try:
        with np.errstate(all="ignore"), view.live():
            for record in run.records(progress_every=progress_interval(bar_every, options.every)):
                if isinstance(record, Progress):
                    view.progress(record)
                    if options.every and record.step % options.every == 0:
                        view.held_out(record, *evaluate(record.params, run.val or run.dataset.test))
                    continue
                previous, candidate = last, attrs.evolve(checkpoint_after(record, last), settings=settings)
                with signals_deferred():  # a stop signal waits until the file and `last` agree
                    _save(options.out, candidate, previous if previous is not start else None)
                    _write_log(options, run, candidate, record.stopped_early)
                    last = candidate
                view.epoch(record)
    except (KeyboardInterrupt, Terminated) as error:
        _stopped(error, options, run, last)
    except TrainingDiverged as error:
        saved = f"{options.out} holds epoch {last.epoch}, the last good one" if last.epoch > start.epoch else "nothing was saved"
        fail(f"training diverged: {error}; {saved}. Try a smaller --lr", code=EXIT_DIVERGED)
    return last


def progress_interval(bar_every: int, every: int) -> int:
    """Steps between the loop's Progress records: those the bar needs (every ``bar_every``
    steps) and, with ``--every N``, every Nth step too: the largest divisor of N not above
    ``bar_every``, so that no multiple of N falls between two records."""
    if not every:
        return bar_every
    return next(d for d in range(min(bar_every, every), 0, -1) if every % d == 0)


def _save(out: Path, checkpoint: Checkpoint, saved: Optional[Checkpoint]) -> None:
    """Write the checkpoint, or one line saying what ``out`` still holds (``saved``: what this
    run saved last, None before its first save); a failed write leaves nothing behind."""
    try:
        save_checkpoint(out, checkpoint)
    except OSError as error:
        if saved is not None:
            kept = f"{out} still holds epoch {saved.epoch}"
        else:
            kept = f"{out} is unchanged" if os.path.lexists(out) else "nothing was saved"
        fail(f"{out}: cannot write the checkpoint of epoch {checkpoint.epoch} ({error.strerror or error}); {kept}")
    remember_model(out)


def _write_log(options: TrainOptions, run: Run, saved: Checkpoint, stopped_early: bool) -> None:
    """--log: the rows of every epoch ``saved`` holds (one line if the file cannot be written)."""
    if options.log is None:
        return
    schedule = run_schedule(run.config, run.steps_per_epoch)
    rows = log_rows(saved.history, run.steps_per_epoch, lambda step: learning_rate(schedule, step), stopped_early)
    try:
        write_log(options.log, rows)
    except OSError as error:
        fail(f"{options.log}: cannot write the log ({error.strerror or error}); {options.out} holds epoch {saved.epoch}")


def _stopped(error: BaseException, options: TrainOptions, run: Run, last: Checkpoint) -> None:
    """One line naming the epoch the file really holds; exit 128 + the signal."""
    what, code = stopped_by(error)
    out, start = options.out, run.initial_checkpoint
    if last.epoch > start.epoch:
        more = "" if run.epochs == run.config.epochs else f" --epochs {run.epochs}"
        say(f"{what}: {out} holds epoch {last.epoch}; continue with: purenet train --resume {out}{more}")
    elif start.epoch and options.resume is not None and os.path.exists(out) and os.path.samefile(out, options.resume):
        say(f"{what} before epoch {start.epoch + 1} finished; {out} still holds epoch {start.epoch}")
    else:
        say(f"{what} before the first epoch finished; nothing was saved")
    raise typer.Exit(code)
