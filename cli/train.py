"""``purenet train``: check everything, then feed the library's records to a view and save.

The order is the promise: every option, the checkpoint to resume, the file to write
and the data are checked before the first step, and a mistake is one line (exit 2)
with nothing written. Then the loop only renders and saves: every number comes from
``purenet.training``'s records. The checkpoint is written atomically after every
epoch, under an advisory lock, so a crash, Ctrl-C or SIGTERM loses at most the epoch
in progress and two runs never write the same file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import attrs
import numpy as np
import typer

from purenet.checkpoint import Checkpoint, is_checkpoint
from purenet.checkpoint import save as save_checkpoint
from purenet.cli.console import EXIT_DIVERGED, Terminated, fail, plain_output, say, stopped_by
from purenet.cli.digits import image_shape as image_shape_of
from purenet.cli.download import ensure_default_data
from purenet.cli.evaluate import open_checkpoint
from purenet.cli.recipes import config_error_message, config_from_options, make_augmenter, make_run_optimizer, option_name, resumed_config
from purenet.cli.state import remember_model
from purenet.cli.views import make_view
from purenet.config import ConfigError, RunConfig, check_fits
from purenet.data import DataError, Dataset, Split, default_data_dir, split_validation
from purenet.data import load as load_data
from purenet.files import OutputLock, WriteRefused, check_target
from purenet.network import init
from purenet.optim import make_optimizer
from purenet.training import EpochRecord, Progress, TrainingDiverged, evaluate, train

PROGRESS_UPDATES_PER_EPOCH = 50


@attrs.frozen
class TrainOptions:
    """How to run ``purenet train``, apart from the settings that define the run itself."""

    epochs: int  # the total to reach
    out: Path
    force: bool
    resume: Optional[Path]
    every: int
    show_predictions: int
    json_output: bool


@attrs.frozen
class Plan:
    """A checked request: the run's config, where it goes, and the checkpoint it continues."""

    config: RunConfig
    options: TrainOptions
    resumed: Optional[Checkpoint]


@attrs.frozen
class Run:
    """Everything a training run is made of, once the data is loaded and checked."""

    config: RunConfig
    dataset: Dataset
    train_split: Split
    val_split: Optional[Split]
    image_shape: Optional[tuple[int, int]]
    start: Checkpoint


def run_train(given: dict, explicit: frozenset[str] = frozenset()) -> None:
    """Train as the options ``given`` say (``explicit``: those typed, which win over a preset);
    exits 2 on a user mistake, 3 if training diverges, 128 + the signal when stopped."""
    try:  # SIGTERM and SIGHUP arrive as Terminated (purenet.cli.console.signals_as_interrupts)
        plan = plan_run(given, explicit)
        with _locked(plan.options.out):
            _train(plan)
    except (KeyboardInterrupt, Terminated) as error:  # before the first epoch could start
        what, code = stopped_by(error)
        say(f"{what} before training started; nothing was written")
        raise typer.Exit(code) from None


def _train(plan: Plan) -> None:
    run = prepare_run(plan)
    view = make_view(json_output=plan.options.json_output, plain=plain_output())
    view.start(_described(run.config), run.start.epoch, plan.options.epochs, len(run.train_split))
    last = _train_and_save(plan.options, run, view)
    try:
        if plan.options.show_predictions and run.dataset.test is not None:
            view.predictions(last.model, run.dataset.test, plan.options.show_predictions, run.image_shape)
        view.finish(last, plan.options.out)
    except (KeyboardInterrupt, Terminated) as error:  # training is over and saved: say so, and stop
        what, code = stopped_by(error)
        say(f"{what}: training had finished; {plan.options.out} holds epoch {last.epoch}")
        raise typer.Exit(code) from None


def _described(config: RunConfig) -> dict:
    return config.to_json()


# --- checking the request, before any work ------------------------------------------------


def plan_run(given: dict, explicit: frozenset[str]) -> Plan:
    """Every check that needs no data: options, the checkpoint to resume, the file to write."""
    resumed = open_checkpoint(given["resume"]) if given["resume"] is not None else None
    try:
        config = _resumed(resumed, given, explicit) if resumed else config_from_options(given, explicit)
        if given["data"] is not None:
            config = attrs.evolve(config, data=os.path.abspath(given["data"]))
        check_fits(config)
    except ConfigError as error:
        fail(config_error_message(error))
    epochs = given["epochs"] if resumed is None or "epochs" in explicit else config.epochs
    out = given["out"] if given["out"] is not None else (given["resume"] or Path("model.npz"))
    options = TrainOptions(epochs=epochs, out=out, force=given["force"], resume=given["resume"], every=given["every"],
                           show_predictions=given["show_predictions"], json_output=given["json_output"])
    if resumed is not None and resumed.epoch >= epochs:
        fail(f"{options.resume} already has {resumed.epoch} epochs; ask for more with --epochs (the total to reach)")
    _check_out(options, config)
    return Plan(config=config, options=options, resumed=resumed)


def _resumed(checkpoint: Checkpoint, given: dict, explicit: frozenset[str]) -> RunConfig:
    """The resumed run's config; an option that would change it is refused, never ignored."""
    path = given["resume"]
    if checkpoint.config is None:
        fail(f"{path}: holds no run configuration (it was saved by a script, not by purenet train), so it cannot be resumed")
    wanted, conflicts = resumed_config(checkpoint.config, given, explicit)
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
    """--out may replace only a purenet checkpoint (any regular file with --force), never the data."""
    out = options.out
    if config.data and os.path.exists(out) and _is_within(out, Path(config.data)):
        fail(f"{out}: is part of the training data ({config.data}); choose another --out")
    try:
        check_target(out, is_checkpoint, what="a purenet checkpoint", force=options.force)
    except WriteRefused as error:
        fail(str(error))


def _is_within(path: Path, data: Path) -> bool:
    """Whether ``path`` is the data file itself or a file inside the data folder."""
    try:
        if data.is_dir():
            return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(data))
        return os.path.samefile(path, data)
    except OSError:
        return False


class _locked:
    """Hold the output lock for the run; a second run writing the same file gets one line."""

    def __init__(self, out: Path) -> None:
        self.lock = OutputLock(out)

    def __enter__(self) -> None:
        try:
            self.lock.__enter__()
        except WriteRefused as error:
            fail(str(error))

    def __exit__(self, *exc) -> None:
        self.lock.__exit__(*exc)


# --- data and the starting point --------------------------------------------------------------


def prepare_run(plan: Plan) -> Run:
    """Load and check the data, split it and build the starting point (fresh or resumed)."""
    config = plan.config
    if config.data is None:
        ensure_default_data(default_data_dir())
        config = attrs.evolve(config, data=os.path.abspath(default_data_dir()))
    if plan.resumed is not None and not os.path.exists(config.data):
        fail(f"{config.data}: no such file or folder (the data {plan.options.resume} was trained on; "
             "point --data at where it is now)")
    dataset = _load_dataset(Path(config.data), config)
    train_split, val_split = _split(dataset.train, config)
    image_shape = image_shape_of(dataset.train)
    _check_drawable(plan, config, image_shape)
    start = plan.resumed if plan.resumed is not None else _fresh_start(config)
    start = attrs.evolve(start, config=config)  # a changed --data is saved with the run
    return Run(config=config, dataset=dataset, train_split=train_split, val_split=val_split, image_shape=image_shape, start=start)


def _load_dataset(path: Path, config: RunConfig) -> Dataset:
    try:
        dataset = load_data(path)
    except DataError as error:
        fail(str(error))
    pixels, inputs, outputs = dataset.train.images.shape[1], config.layers[0], config.layers[-1]
    if pixels != inputs:
        fail(f"{path}: images have {pixels} pixels but --layers starts with {inputs}")
    for part, split in (("training", dataset.train), ("test", dataset.test)):
        if split is not None and len(split) and int(split.labels.max()) >= outputs:
            fail(f"{path}: {part} labels go up to {int(split.labels.max())} but --layers ends with {outputs} outputs "
                 f"(the network needs one output per class: end --layers with {int(split.labels.max()) + 1} or more)")
    try:
        check_fits(config, samples=len(dataset.train))
    except ConfigError as error:
        fail(config_error_message(error))
    return dataset


def _seeds(seed: int) -> tuple[np.random.Generator, ...]:
    """Independent generators for (init, validation split, training), all from one seed."""
    return tuple(np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))


def _split(train_split: Split, config: RunConfig) -> tuple[Split, Optional[Split]]:
    if not config.val_fraction:
        return train_split, None
    _, split_rng, _ = _seeds(config.seed)
    try:
        return split_validation(train_split, config.val_fraction, split_rng)
    except ValueError:
        fail(f"--val-fraction {config.val_fraction:g} of {len(train_split)} training images leaves no image "
             "for training or for validation; use more data or another fraction")


def _check_drawable(plan: Plan, config: RunConfig, image_shape: Optional[tuple[int, int]]) -> None:
    """Options that handle images as pictures need their height and width."""
    if image_shape is not None:
        return
    unknown = f"{config.data}: the images' height and width are unknown (their pixel count is not a square)"
    if config.augment is not None:
        fail(f"{unknown}, and --augment needs them: add --augment none")
    if plan.options.show_predictions:
        fail(f"{unknown}, and --show-predictions needs them to draw the digits: leave it out")


def _fresh_start(config: RunConfig) -> Checkpoint:
    init_rng, _, train_rng = _seeds(config.seed)
    params = init(config.layers, act=config.act, loss=config.loss, init=config.init, rng=init_rng)
    state = make_optimizer(config.optimizer, config.lr).init(params)
    return Checkpoint(params=params, opt_state=state, epoch=0, rng_state=train_rng.bit_generator.state, config=config)


# --- the loop ------------------------------------------------------------------------------------


def _train_and_save(options: TrainOptions, run: Run, view) -> Checkpoint:
    """Run the epochs, saving after each; handles Ctrl-C, SIGTERM and divergence."""
    config, start = run.config, run.start
    rng = np.random.default_rng()
    rng.bit_generator.state = start.rng_state
    steps = -(-len(run.train_split) // config.batch_size)
    progress_every = max(1, steps // PROGRESS_UPDATES_PER_EPOCH)
    if options.every:
        progress_every = min(progress_every, options.every)
    records = train(
        start.params, run.train_split,
        optimizer=make_run_optimizer(config, steps), epochs=options.epochs, batch_size=config.batch_size,
        rng=rng, val=run.val_split, test=run.dataset.test, state=start.opt_state, start_epoch=start.epoch,
        progress_every=progress_every, dropout=config.dropout, augment=make_augmenter(config, run.image_shape),
        patience=config.patience or None, best=start.best,
    )
    last = start
    try:
        with np.errstate(all="ignore"), view.live():
            for record in records:
                if isinstance(record, Progress):
                    view.progress(record)
                    if options.every and record.step % options.every == 0:
                        view.held_out(record, *evaluate(record.params, run.val_split or run.dataset.test))
                    continue
                last = _checkpoint_after(record, last, rng, config)
                _save(options.out, last)
                view.epoch(record)
    except (KeyboardInterrupt, Terminated) as error:
        _stopped(error, options, last, start)
    except TrainingDiverged as error:
        saved = f"{options.out} holds epoch {last.epoch}, the last good one" if last.epoch > start.epoch else "nothing was saved"
        fail(f"training diverged: {error}; {saved}. Try a smaller --lr", code=EXIT_DIVERGED)
    return last


def _checkpoint_after(record: EpochRecord, previous: Checkpoint, rng, config: RunConfig) -> Checkpoint:
    metrics = {
        "epoch": record.epoch, "loss": record.loss, "train_acc": record.train_acc, "val_acc": record.val_acc,
        "test_acc": record.test_acc, "val_loss": record.val_loss, "test_loss": record.test_loss,
        "seconds": record.seconds, "eval_seconds": record.eval_seconds,
    }
    return Checkpoint(
        params=record.params, opt_state=record.opt_state, epoch=record.epoch,
        rng_state=rng.bit_generator.state, history=(*previous.history, metrics), config=config,
        best=record.best if config.patience else None,
    )


def _save(out: Path, checkpoint: Checkpoint) -> None:
    try:
        save_checkpoint(out, checkpoint)
    except OSError as error:
        fail(f"{out}: cannot write the checkpoint ({error.strerror or error}); the previous epoch's file is unchanged")
    remember_model(out)


def _stopped(error: BaseException, options: TrainOptions, last: Checkpoint, start: Checkpoint) -> None:
    """One line naming the epoch the file really holds; exit 128 + the signal."""
    what, code = stopped_by(error)
    out = options.out
    if last.epoch > start.epoch:
        more = "" if options.epochs == last.config.epochs else f" --epochs {options.epochs}"
        say(f"{what}: {out} holds epoch {last.epoch}; continue with: purenet train --resume {out}{more}")
    elif start.epoch and options.resume is not None and os.path.exists(out) and os.path.samefile(out, options.resume):
        say(f"{what} before epoch {start.epoch + 1} finished; {out} still holds epoch {start.epoch}")
    else:
        say(f"{what} before the first epoch finished; nothing was saved")
    raise typer.Exit(code)
