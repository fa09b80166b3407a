"""``purenet calibrate``: fit a model's temperature and abstention threshold on held-out images, and keep them in it.

The held-out images are the validation split the run held out (``--val-fraction``),
drawn again from its seed; a run that held none out needs ``--data`` naming images the
model never trained on (their training part is used; never calibrate on the test part
``evaluate`` reports on). The checkpoint is rewritten atomically (or written to ``--out``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from purenet.base.words import counted
from purenet.cli.console import fail, say, stdout_console
from purenet.cli.models import open_model
from purenet.data import DataError
from purenet.data import load as load_data
from purenet.runs.calibrate import calibrated, validation_split
from purenet.runs.checkpoint import CheckpointError, save


def run_calibrate(model: Optional[Path], data: Optional[Path], score: str, keep: float, out: Optional[Path],
                  json_output: bool) -> None:
    path, checkpoint, note = open_model(model)
    try:
        held_out = load_data(data).train if data is not None else validation_split(checkpoint)
    except (DataError, CheckpointError) as error:
        fail(str(error))
    if held_out is None:
        fail(f"{path}: its run held out no validation split, and its training images are no held-out data: "
             "give --data with images it never trained on, or train with --val-fraction 0.1")
    if note:
        say(note)
    try:
        fitted = calibrated(checkpoint, held_out, score, keep)
    except ValueError as error:
        fail(f"{path}: {error}")
    target = out or path
    try:
        save(target, fitted)
    except OSError as error:
        fail(f"{target}: cannot write the checkpoint ({error.strerror or error}); nothing was changed")
    result = fitted.calibration
    if json_output:
        print(json.dumps({"model": str(target), **result.to_json()}))
        return
    stdout_console().print(
        f"{target}: calibrated on {counted(result.samples, 'held-out image')}: temperature {result.temperature:.3f}, "
        f"{result.score} threshold {result.threshold:.3f} keeps {100 * keep:g}% of them", markup=False)
