"""``purenet train``: build the run from the options, feed the library's records to a view.

The loop here only renders and saves: every number comes from ``purenet.training``'s
records. A checkpoint is written (atomically) after every epoch, so a crash or a
Ctrl-C loses at most the epoch in progress.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import attrs
import numpy as np

from purenet.checkpoint import Checkpoint, CheckpointError
from purenet.checkpoint import load as load_checkpoint
from purenet.checkpoint import save as save_checkpoint
from purenet.cli.console import EXIT_INTERRUPTED, fail, plain_output, say
from purenet.cli.download import ensure_default_data
from purenet.cli.recipes import apply_preset, make_augmenter, make_run_optimizer, settings_from
from purenet.cli.state import remember_model
from purenet.cli.views import make_view
from purenet.data import DataError, Dataset, Split, default_data_dir, split_validation
from purenet.data import load as load_data
from purenet.network import init
from purenet.optim import make_optimizer
from purenet.training import EpochRecord, Progress, TrainingDiverged, evaluate, train

PROGRESS_UPDATES_PER_EPOCH = 50


@attrs.frozen
class TrainOptions:
    """How to run ``purenet train``, apart from the settings that define the run itself."""

    epochs: int
    data: Optional[Path]
    out: Path
    resume: Optional[Path]
    every: int
    show_predictions: int
    json_output: bool
    recipe: dict  # every option as given, with the preset applied: the source of the settings


@attrs.frozen
class Run:
    """Everything a training run is made of, once the options are checked."""

    settings: dict
    dataset: Dataset
    train_split: Split
    val_split: Optional[Split]
    start: Checkpoint


def run_train(given: dict, explicit: frozenset[str] = frozenset()) -> None:
    """Train as the options ``given`` say (``explicit``: those typed, which win over a preset);
    exits 2 on a user mistake, 130 on Ctrl-C."""
    try:
        recipe = apply_preset(given, given["preset"], explicit)
    except ValueError as error:
        fail(str(error))
    controls = {name: recipe[name] for name in ("epochs", "data", "out", "resume", "every", "show_predictions", "json_output")}
    options = TrainOptions(**controls, recipe=recipe)
    run = prepare_run(options)
    view = make_view(json_output=options.json_output, plain=plain_output())
    view.start(run.settings, run.start.epoch, options.epochs, len(run.train_split))
    last = _train_and_save(options, run, view)
    if options.show_predictions and run.dataset.test is not None:
        view.predictions(last.model, run.dataset.test, options.show_predictions)
    view.finish(last, options.out)


def prepare_run(options: TrainOptions) -> Run:
    """Check the options, load the data and build the starting point (fresh or resumed)."""
    start = _load_resume(options.resume) if options.resume else None
    settings = dict(start.settings) if start else _settings_from(options)
    if options.data is not None:
        settings["data"] = str(options.data)
    elif "data" not in settings:
        settings["data"] = str(default_data_dir())
        ensure_default_data(default_data_dir())
    dataset = _load_dataset(Path(settings["data"]), settings["layers"])
    train_split, val_split = _split(dataset.train, settings)
    if start is None:
        start = _fresh_start(settings)
    if start.epoch >= options.epochs:
        fail(f"{options.resume} already has {start.epoch} epochs; ask for more with --epochs")
    return Run(settings=settings, dataset=dataset, train_split=train_split, val_split=val_split, start=start)


def _settings_from(options: TrainOptions) -> dict:
    recipe = options.recipe
    for name in ("act", "loss", "init", "optimizer"):
        _check_choice(name, recipe[name])
    try:
        settings = settings_from(recipe)
    except ValueError as error:
        fail(str(error))
    settings["layers"] = parse_layers(recipe["layers"])
    return settings


def parse_layers(text: str) -> list[int]:
    """'784,200,10' -> [784, 200, 10], or a one-line error."""
    try:
        sizes = [int(part) for part in text.replace(" ", "").split(",")]
    except ValueError:
        fail(f"--layers must be comma-separated whole numbers such as 784,200,10, got {text!r}")
    if len(sizes) < 2 or min(sizes) < 1:
        fail(f"--layers needs at least an input and an output width, all positive, got {text!r}")
    return sizes


def _check_choice(option: str, value: str) -> None:
    from purenet import ACTIVATIONS, INIT_SCHEMES, LOSSES, OPTIMIZERS

    choices = {"act": ACTIVATIONS, "loss": LOSSES, "init": INIT_SCHEMES, "optimizer": OPTIMIZERS}[option]
    if value not in choices:
        fail(f"--{option} {value!r} is not one of: {', '.join(choices)}")


def _load_resume(path: Path) -> Checkpoint:
    try:
        return load_checkpoint(path)
    except CheckpointError as error:
        fail(str(error))


def _load_dataset(path: Path, layers: list[int]) -> Dataset:
    try:
        dataset = load_data(path)
    except DataError as error:
        fail(str(error))
    pixels = dataset.train.images.shape[1]
    if pixels != layers[0]:
        fail(f"{path}: images have {pixels} pixels but --layers starts with {layers[0]}")
    classes = int(dataset.train.labels.max()) + 1
    if classes > layers[-1]:
        fail(f"{path}: labels go up to {classes - 1} but --layers ends with {layers[-1]} outputs")
    return dataset


def _seeds(seed: int) -> tuple[np.random.Generator, ...]:
    """Independent generators for (init, validation split, training), all from one seed."""
    return tuple(np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))


def _split(train_split: Split, settings: dict) -> tuple[Split, Optional[Split]]:
    if not settings["val_fraction"]:
        return train_split, None
    _, split_rng, _ = _seeds(settings["seed"])
    return split_validation(train_split, settings["val_fraction"], split_rng)


def _fresh_start(settings: dict) -> Checkpoint:
    init_rng, _, train_rng = _seeds(settings["seed"])
    try:
        params = init(settings["layers"], act=settings["act"], loss=settings["loss"], init=settings["init"], rng=init_rng)
    except ValueError as error:
        fail(str(error))
    state = make_optimizer(settings["optimizer"], settings["lr"]).init(params)
    return Checkpoint(params=params, opt_state=state, epoch=0, rng_state=train_rng.bit_generator.state, settings=settings)


def _train_and_save(options: TrainOptions, run: Run, view) -> Checkpoint:
    """Run the epochs, saving after each; handles Ctrl-C and divergence."""
    settings, start = run.settings, run.start
    rng = np.random.default_rng()
    rng.bit_generator.state = start.rng_state
    steps = -(-len(run.train_split) // settings["batch_size"])
    progress_every = max(1, steps // PROGRESS_UPDATES_PER_EPOCH)
    if options.every:
        progress_every = min(progress_every, options.every)
    records = train(
        start.params, run.train_split,
        optimizer=make_run_optimizer(settings, steps), epochs=options.epochs, batch_size=settings["batch_size"],
        rng=rng, val=run.val_split, test=run.dataset.test, state=start.opt_state, start_epoch=start.epoch,
        progress_every=progress_every, dropout=settings["dropout"], augment=make_augmenter(settings),
        patience=settings["patience"] or None, best=start.best,
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
                last = _checkpoint_after(record, last, rng, settings)
                _save(options.out, last)
                view.epoch(record)
    except KeyboardInterrupt:
        _interrupted(options.out, last, start)
    except TrainingDiverged as error:
        fail(f"{error}; the last good epoch is in {options.out}. Try a smaller --lr.", code=1)
    return last


def _checkpoint_after(record: EpochRecord, previous: Checkpoint, rng, settings: dict) -> Checkpoint:
    metrics = {
        "epoch": record.epoch, "loss": record.loss, "train_acc": record.train_acc, "val_acc": record.val_acc,
        "test_acc": record.test_acc, "val_loss": record.val_loss, "test_loss": record.test_loss,
        "seconds": record.seconds, "eval_seconds": record.eval_seconds,
    }
    return Checkpoint(
        params=record.params, opt_state=record.opt_state, epoch=record.epoch,
        rng_state=rng.bit_generator.state, history=(*previous.history, metrics), settings=settings,
        best=record.best if settings["patience"] else None,
    )


def _save(out: Path, checkpoint: Checkpoint) -> None:
    try:
        save_checkpoint(out, checkpoint)
    except OSError as error:
        fail(f"{out}: cannot write the checkpoint ({error.strerror or error})")
    remember_model(out)


def _interrupted(out: Path, last: Checkpoint, start: Checkpoint) -> None:
    if last.epoch > start.epoch:
        say(f"interrupted: epoch {last.epoch} is saved in {out}; continue with --resume {out}")
    else:
        say("interrupted before the first epoch finished; nothing was saved")
    import typer

    raise typer.Exit(EXIT_INTERRUPTED)
