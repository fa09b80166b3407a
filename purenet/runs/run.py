"""A whole training run, owned by the library: what ``purenet train`` does, for scripts too.

    start(config)                       -> records: Progress inside an epoch, one EpochRecord per epoch
    resume(checkpoint, epochs=None)     -> the same records, continuing where the checkpoint stopped
    checkpoint_after(record, previous)  -> the Checkpoint to save after an EpochRecord
    prepare(config), prepare_resumed(checkpoint) -> Run: data loaded and checked, the starting point

Everything that makes a run reproducible lives here: one seed split into independent
generators for the initial weights, the validation split and training (``seeds``); the
validation split; the optimizer and its schedule; the augmentation fitted to the images'
shape; the starting point, fresh or restored from a checkpoint (params, optimizer state,
the training generator's state). ``purenet train`` is this module plus a view and a save
after every epoch, so a script that does the same gets the same weights, bit for bit::

    from purenet.runs.config import preset
    from purenet.runs.run import prepare, checkpoint_after
    from purenet.runs.checkpoint import save
    from purenet.core.training import EpochRecord

    run = prepare(preset("default", epochs=2, seed=1))
    saved = run.initial_checkpoint
    for record in run.records():
        if isinstance(record, EpochRecord):
            saved = checkpoint_after(record, saved)
            save("model.npz", saved)          # what `purenet train --epochs 2 --seed 1` writes

Problems raise ``ConfigError`` (a setting does not fit the data: which one, and why),
``DataError`` (the data itself) or ``CheckpointError`` (the checkpoint to resume), each
with a one-line message; nothing is printed.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable, Iterator

import attrs
import numpy as np

from purenet.base.checks import shown
from purenet.base.words import counted
from purenet.core.layers import plan_layers
from purenet.core.layers.batchnorm import normalises_vectors
from purenet.core.network import init
from purenet.core.optim import Optimizer, make_optimizer
from purenet.core.schedules import make_schedule
from purenet.core.training import EpochRecord, Progress, train
from purenet.data import DataError, Dataset, Split, default_data_dir, split_validation
from purenet.data import load as load_data
from purenet.data.augment import Augmenter
from purenet.data.download import ensure_mnist
from purenet.data.named import DATASETS, data_location, data_setting, ensure_named, load_named
from purenet.runs.checkpoint import MAX_NAME, Checkpoint, CheckpointError
from purenet.runs.checkpoint import load as load_checkpoint
from purenet.runs.config import MAX_WHOLE, ConfigError, RunConfig, check_fits


def seeds(seed: int) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
    """Independent generators for (initial weights, validation split, training), all from one seed."""
    init_rng, split_rng, train_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    return init_rng, split_rng, train_rng


def run_optimizer(config: RunConfig, steps_per_epoch: int) -> Optimizer:
    """The run's optimizer, its learning rate following the run's schedule.

    The schedule spans the epochs the run was planned with (``config.epochs``), so a
    resumed run continues the same schedule; past its end the rate stays at its last value.
    """
    return make_optimizer(config.optimizer, run_schedule(config, steps_per_epoch), config.weight_decay)


def _steps_per_epoch(train: Split, config: RunConfig) -> int:
    """Optimizer steps in one epoch over ``train``: its batches, the last one maybe short."""
    return -(-len(train) // config.batch_size)


def run_schedule(config: RunConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """The run's learning rate as a function of the optimizer's step (counted from 0)."""
    return make_schedule(
        config.schedule, config.lr, total_steps=config.epochs * steps_per_epoch,
        steps_per_epoch=steps_per_epoch, warmup_epochs=config.warmup,
        decay_every_epochs=config.decay_every, gamma=config.gamma,
    )


@attrs.frozen
class Run:
    """A run ready to go: its config (``data`` an absolute path), the data split as training
    will use it, the images' (rows, columns) where known, the checkpoint it starts from
    (``initial_checkpoint``: epoch 0's fresh weights, or the one resumed), the epoch to
    reach, and its optimizer (``run_optimizer``: built once, here, for the starting state
    and for training). ``records()`` trains."""

    config: RunConfig
    dataset: Dataset
    train: Split
    val: Split | None
    image_shape: tuple[int, int] | None
    initial_checkpoint: Checkpoint
    epochs: int
    optimizer: Optimizer

    @property
    def start(self) -> Checkpoint:
        """The 0.1 name of ``initial_checkpoint`` (deprecated: ``start()`` is the function that trains)."""
        warnings.warn("Run.start is now Run.initial_checkpoint; the old name goes in the next release",
                      DeprecationWarning, stacklevel=2)
        return self.initial_checkpoint

    @property
    def steps_per_epoch(self) -> int:
        return _steps_per_epoch(self.train, self.config)

    @property
    def augmenter(self) -> Augmenter | None:
        """The run's augmentation, for images of this data's shape (None: no augmentation)."""
        augment = self.config.augment
        return None if augment is None else attrs.evolve(augment, shape=self.image_shape)

    def records(self, *, progress_every: int = 0) -> Iterator[Progress | EpochRecord]:
        """Train from the starting point to ``epochs``: ``Progress`` every ``progress_every``
        steps (0: never) and one ``EpochRecord`` per epoch (``purenet.core.training.train``).
        ``progress_every`` changes what is reported, never what is computed."""
        config, start = self.config, self.initial_checkpoint
        rng = np.random.default_rng()
        rng.bit_generator.state = start.rng_state
        test = self.dataset.test if self.dataset.has_test else None
        return train(
            start.params, self.train, optimizer=self.optimizer, epochs=self.epochs,
            batch_size=config.batch_size, rng=rng, val=self.val, test=test, state=start.opt_state,
            start_epoch=start.epoch, progress_every=progress_every, augment=self.augmenter,
            patience=config.patience or None, best=start.best, label_smoothing=config.label_smoothing,
        )


def prepare(config: RunConfig) -> Run:
    """A new run of ``config``: data loaded (the default MNIST fetched if it is missing) and
    checked against the network, split, and the initial weights drawn from the seed."""
    named, config = config.data, _located(config)
    dataset = _load_checked(config)
    init_rng, split_rng, train_rng = seeds(config.seed)
    params = init(config.network_layers, act=config.act, loss=config.loss, init=config.init, rng=init_rng)
    train_split, val_split = _split(dataset.train, config, split_rng)
    optimizer = run_optimizer(config, _steps_per_epoch(train_split, config))
    fresh = Checkpoint(params=params, opt_state=optimizer.init(params), epoch=0,
                       rng_state=train_rng.bit_generator.state, config=config,
                       data_name=data_name(named), classes=dataset.classes)
    return _run(config, dataset, train_split, val_split, optimizer, fresh, config.epochs)


def prepare_resumed(checkpoint: Checkpoint | str | os.PathLike, *, epochs: int | None = None,
                    data: str | os.PathLike | None = None) -> Run:
    """The run saved in ``checkpoint`` (a Checkpoint or a path to load), continued up to
    ``epochs`` in all (default: the epochs it was planned with). ``data`` gives the data's
    new place if it has moved; every other setting is the checkpoint's."""
    source = str(checkpoint) if isinstance(checkpoint, (str, os.PathLike)) else "the checkpoint"
    if isinstance(checkpoint, (str, os.PathLike)):
        checkpoint = load_checkpoint(checkpoint)
    if checkpoint.config is None:
        raise CheckpointError(f"{source}: holds no run configuration (it was saved without one, as by a script "
                              "that gives no config=), so it cannot be resumed")
    epochs = epochs_to_reach(source, checkpoint.epoch, checkpoint.config.epochs, epochs)
    config = checkpoint.config if data is None else attrs.evolve(checkpoint.config, data=data_setting(data))
    if config.data is not None and config.data not in DATASETS and not os.path.exists(config.data):
        raise DataError(f"{config.data}: no such file or folder (the data this run was trained on; give its new place)")
    config = _located(config)
    dataset = _load_checked(config)
    _, split_rng, _ = seeds(config.seed)
    train_split, val_split = _split(dataset.train, config, split_rng)
    optimizer = run_optimizer(config, _steps_per_epoch(train_split, config))
    return _run(config, dataset, train_split, val_split, optimizer, attrs.evolve(checkpoint, config=config), epochs)


def epochs_to_reach(source: str, done: int, planned: int, asked: int | None) -> int:
    """The total a resumed run trains up to: ``asked``, else the ``planned`` one; ConfigError
    unless it is a whole number above the ``done`` epochs (then there is nothing to do)."""
    total = planned if asked is None else asked
    if isinstance(total, bool) or not isinstance(total, int) or total > MAX_WHOLE:
        raise ConfigError("epochs", f"(the total to reach) must be a whole number from {done + 1} to {MAX_WHOLE}, "
                                    f"got {shown(total, 40)}")
    if total > done:
        return total
    had = f"{source} already has {counted(done, 'epoch')}"
    if asked is None:
        raise ConfigError("epochs", f"a total above {done}",
                          before=f"{had}, and its run planned {planned}: nothing to do; to train further, give ")
    raise ConfigError("epochs", f"{total} asked for): nothing to do; to train further, ask for a total above {done}",
                      before=f"{had} (")


def start(config: RunConfig, *, progress_every: int = 0) -> Iterator[Progress | EpochRecord]:
    """Train a new run of ``config``: the records ``purenet train`` renders (``prepare(config).records()``)."""
    return prepare(config).records(progress_every=progress_every)


def resume(checkpoint: Checkpoint | str | os.PathLike, *, epochs: int | None = None,
           data: str | os.PathLike | None = None, progress_every: int = 0) -> Iterator[Progress | EpochRecord]:
    """Continue the run saved in ``checkpoint``: the records of the epochs after its last one."""
    return prepare_resumed(checkpoint, epochs=epochs, data=data).records(progress_every=progress_every)


def checkpoint_after(record: EpochRecord, previous: Checkpoint) -> Checkpoint:
    """The checkpoint of a run after the epoch ``record`` reports. ``previous`` is the one
    before it: the last one saved, or the Run's ``initial_checkpoint`` for the first epoch (it carries the
    run's config; the history grows by this epoch's metrics)."""
    metrics = {
        "epoch": record.epoch, "loss": record.loss, "train_acc": record.train_acc, "val_acc": record.val_acc,
        "test_acc": record.test_acc, "val_loss": record.val_loss, "test_loss": record.test_loss,
        "seconds": record.seconds, "eval_seconds": record.eval_seconds,
    }
    config = previous.config
    return Checkpoint(
        params=record.params, opt_state=record.opt_state, epoch=record.epoch, rng_state=record.rng_state,
        history=(*previous.history, metrics), config=config,
        best=record.best if config is not None and config.patience else None,
        data_name=previous.data_name, classes=previous.classes,  # not the calibration: the weights have moved
    )


# --- checks and the pieces of a Run ----------------------------------------------------------------


def _located(config: RunConfig) -> RunConfig:
    """``config`` with the absolute path of its data; the default MNIST, fetched if missing, as is a
    named data set (``purenet.data.named``), whose name the config keeps."""
    if config.data in DATASETS:
        ensure_named(config.data)
        return config
    if config.data is not None:
        return config
    folder = default_data_dir()
    ensure_mnist(folder)
    return attrs.evolve(config, data=os.path.abspath(folder))


def _load_checked(config: RunConfig) -> Dataset:
    """The data of ``config``, once sure the network and the run fit it (else ConfigError)."""
    check_fits(config)
    path = data_location(config.data)
    dataset = load_named(config.data) if config.data in DATASETS else load_data(path)
    pixels, inputs, outputs = dataset.train.images.shape[1], config.layers[0], config.layers[-1]
    if pixels != inputs:
        raise ConfigError("layers", f"starts with {inputs}", before=f"{path}: images have {pixels} pixels but ")
    for part, split in (("training", dataset.train), ("test", dataset.test if dataset.has_test else None)):
        top = int(split.labels.max()) if split is not None and len(split) else -1
        if top >= outputs:
            raise ConfigError("layers", f"ends with {outputs} outputs (the network needs one output per class: "
                                        f"end it with {top + 1} or more)", before=f"{path}: {part} labels go up to {top} but ")
    check_fits(config, samples=len(dataset.train))
    if config.augment is not None and dataset.train.shape_or_square is None:
        raise ConfigError("augment", "needs them: make it none", before=f"{path}: the images' height and width are "
                          f"unknown ({pixels} pixels each, not a square), and ")
    return dataset


def _check_batch_statistics(config: RunConfig, n: int) -> None:
    """ConfigError when a BatchNorm layer on a vector would meet a training batch of one row,
    which has no batch variance (PyTorch refuses it too): a batch size of 1, or a last batch of 1."""
    if not normalises_vectors(plan_layers(config.network_layers)) or (config.batch_size > 1 and n % config.batch_size != 1):
        return
    last = "every batch is" if config.batch_size == 1 else f"with {counted(n, 'training image')} the last batch is"
    raise ConfigError("batch_size", f"{config.batch_size}: a bn layer on a vector needs at least two rows in each "
                                    f"training batch, and {last} one row; choose another batch size")


def _split(train_split: Split, config: RunConfig, split_rng: np.random.Generator) -> tuple[Split, Split | None]:
    fraction, n = config.val_fraction, len(train_split)
    if not fraction:
        return train_split, None
    held = round(fraction * n)  # as split_validation counts, but for its floor of one image
    of_images = f"{fraction:g} of {counted(n, 'training image')}"
    if held < 1:
        raise ConfigError("val_fraction", f"{of_images} holds out no image for validation (fewer than one); "
                                          f"give at least {1 / n:.3g}, or 0 for no validation split")
    if held > n - 1:
        raise ConfigError("val_fraction", f"{of_images} leaves no image for training")
    return split_validation(train_split, fraction, split_rng)


def validation_part(config: RunConfig, train_split: Split) -> Split | None:
    """The validation split a run of ``config`` holds out of ``train_split``, drawn from its seed as
    ``prepare`` draws it (the images training never saw); None without ``val_fraction``."""
    _, split_rng, _ = seeds(config.seed)
    return _split(train_split, config, split_rng)[1]


def data_name(data: str | os.PathLike | None) -> str | None:
    """The data set's name a checkpoint keeps: "mnist" for the default (``data`` None), else the
    folder's or file's name without its extensions; None when that is no short printable name."""
    if data is None:
        return "mnist"
    name = Path(data).name.split(".")[0] or Path(data).name
    return name if 0 < len(name) <= MAX_NAME and name.isprintable() else None


def _run(config: RunConfig, dataset: Dataset, train_split: Split, val_split: Split | None, optimizer: Optimizer,
         start_from: Checkpoint, epochs: int) -> Run:
    _check_batch_statistics(config, len(train_split))
    return Run(config=config, dataset=dataset, train=train_split, val=val_split,
               image_shape=dataset.train.shape_or_square, initial_checkpoint=start_from, epochs=epochs,
               optimizer=optimizer)
