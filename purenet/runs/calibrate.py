"""Calibrating a trained model on held-out data: what ``purenet calibrate`` and ``purenet train`` do.

    validation_split(checkpoint)                 -> the validation Split the run held out (None: it held none)
    calibrated(checkpoint, split, score, keep)   -> the checkpoint with a Calibration fitted on ``split``

The held-out split of a run with ``val_fraction`` is drawn again from its seed
(``purenet.runs.run.seeds``), the very images training never saw, so a checkpoint can
be calibrated later without keeping them. That split also chose the best epoch under
early stopping: a small optimism, the same for every score (docs/results.md).
"""

from __future__ import annotations

from pathlib import Path

import attrs

from purenet.core.calibration import DEFAULT_KEEP, DEFAULT_SCORE, fit_calibration
from purenet.core.metrics import logits
from purenet.data import Split, default_data_dir
from purenet.data import load as load_data
from purenet.runs.checkpoint import Checkpoint, CheckpointError
from purenet.runs.run import validation_part

MIN_HELD_OUT = 100
"""The fewest held-out images a calibration is fitted on: a 99% threshold needs a hundred to mean anything."""


def validation_split(checkpoint: Checkpoint) -> Split | None:
    """The validation split ``checkpoint``'s run held out (drawn again from its seed), None when
    it held out none; ``DataError`` when its data cannot be read, ``CheckpointError`` without a config."""
    config = checkpoint.config
    if config is None:
        raise CheckpointError("holds no run configuration, so its validation split cannot be drawn again")
    if not config.val_fraction:
        return None
    path = Path(config.data) if config.data is not None else default_data_dir()
    return validation_part(config, load_data(path).train)


def calibrated(checkpoint: Checkpoint, held_out: Split, score: str = DEFAULT_SCORE, keep: float = DEFAULT_KEEP) -> Checkpoint:
    """``checkpoint`` with a temperature and an abstention threshold fitted on ``held_out``
    (images its model never trained on); ValueError when there are too few or the loss is not ce."""
    params = checkpoint.model
    if params.arch.loss != "ce":
        raise ValueError(f"calibrating needs a model trained with the ce loss (softmax outputs), not {params.arch.loss}")
    if len(held_out) < MIN_HELD_OUT:
        raise ValueError(f"calibrating needs at least {MIN_HELD_OUT} held-out images, got {len(held_out)}")
    if held_out.images.shape[1] != params.arch.inputs:
        raise ValueError(f"the held-out images have {held_out.images.shape[1]} pixels, the model reads {params.arch.inputs}")
    if int(held_out.labels.max()) >= params.arch.classes:
        raise ValueError(f"the held-out labels go up to {int(held_out.labels.max())}, "
                         f"the model has {params.arch.classes} outputs")
    z = logits(params, held_out.images)
    return attrs.evolve(checkpoint, calibration=fit_calibration(z, held_out.labels, score, keep))
