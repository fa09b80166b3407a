"""How every command opens a checkpoint: the one given, else ./model.npz, else the last one ``purenet train`` wrote.

Loaded and checked by ``purenet.runs.checkpoint.load``; any problem is one line and exit 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import attrs

from purenet.cli.console import fail
from purenet.cli.state import last_model, recorded_model
from purenet.runs.checkpoint import Checkpoint, CheckpointError
from purenet.runs.checkpoint import load as load_checkpoint

if TYPE_CHECKING:
    from purenet.core.records import Params


def open_model(model: Optional[Path]) -> tuple[Path, Checkpoint, Optional[str]]:
    """The checkpoint to use: ``model``, else ./model.npz, else the last one ``purenet train`` wrote.

    Returns (its path, the checkpoint, a note to say once the command's checks have
    passed: which model was picked and why, or None). Every problem is one line.
    """
    if model is not None:
        return model, open_checkpoint(model), None
    found = last_model()
    if found is None:
        fail(_no_model())
    return found.path, open_checkpoint(found.path, f" ({found.why})"), f"using {found.path} ({found.why})"


def open_models(model: Optional[Path] | Sequence[Path]) -> tuple[Path, "Params | tuple[Params, ...]", Checkpoint, Optional[str]]:
    """One checkpoint's network (``open_model``), or, for several, the ensemble's members (checked to fit
    together: one line otherwise), with the first one's path and no note; and the checkpoint whose class
    names and calibration the answers use: the one model's, or for an ensemble the first member's without
    its calibration (its threshold was fitted on that member's scores, not on the averaged probabilities)."""
    if model is None or isinstance(model, Path) or len(model) < 2:
        one = model if model is None or isinstance(model, Path) else next(iter(model), None)
        path, checkpoint, note = open_model(one)
        return path, checkpoint.model, checkpoint, note
    members, checkpoints = open_members(model)
    return model[0], members, attrs.evolve(checkpoints[0], calibration=None), None


def open_members(paths: Sequence[Path]) -> tuple[tuple["Params", ...], list[Checkpoint]]:
    """An ensemble's networks and their checkpoints, checked to fit together (input size, classes and
    their names); any problem is one line and exit 2."""
    from purenet.core.ensemble import check_members

    checkpoints = [open_checkpoint(path) for path in paths]
    try:
        members = check_members([checkpoint.model for checkpoint in checkpoints], names=[str(path) for path in paths])
    except ValueError as error:
        fail(str(error))
    check_same_classes(paths, checkpoints)
    return members, checkpoints


def check_same_classes(paths: Sequence[Path], checkpoints: Sequence[Checkpoint]) -> None:
    """One line and exit 2 unless every member of an ensemble names its classes as the first does."""
    for path, checkpoint in zip(paths[1:], checkpoints[1:]):
        if checkpoint.class_names != checkpoints[0].class_names:
            fail(f"{path}: names its classes {', '.join(checkpoint.class_names)} but {paths[0]} names them "
                 f"{', '.join(checkpoints[0].class_names)}: an ensemble's members must read the same classes")


def open_checkpoint(path: Path, what: str = "") -> Checkpoint:
    """The one way a command opens a checkpoint: loaded and checked, or one line and exit 2."""
    try:
        return load_checkpoint(path)
    except CheckpointError as error:
        fail(f"{error}{what}")


def trained_on(checkpoint: Checkpoint) -> Optional[str]:
    """The data the checkpoint's run was trained on, as recorded in it (None: not recorded)."""
    recorded = checkpoint.config.data if checkpoint.config is not None else checkpoint.settings.get("data")
    return recorded if isinstance(recorded, str) and recorded else None


def _no_model() -> str:
    """Why there is no model to use: none trained yet, or the remembered one is gone (said by name)."""
    recorded = recorded_model()
    if recorded is None:
        return ("no model given, no model.npz in the current folder and none trained yet: "
                "run `purenet train` or give a checkpoint file")
    gone = "is no longer a file" if os.path.lexists(recorded) else "is gone (deleted or moved)"
    return (f"no model given and no model.npz in the current folder; the last model purenet train wrote, "
            f"{recorded}, {gone}: give a checkpoint file or run `purenet train`")
