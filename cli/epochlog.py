"""``purenet train --log run.csv``: one CSV row per epoch with every figure of the epoch.

The rows come from the run's history, the metrics the checkpoint keeps of every epoch
(``purenet.runs.run.checkpoint_after``), with the step count and learning rate added. The
file is rewritten whole after every save of the checkpoint, atomically, like the
checkpoint itself: a run stopped or killed at any moment leaves a whole file with a
row for every epoch the checkpoint holds (at most the last one missing, after a
``kill -9`` between the two writes). A resumed run's log starts with the epochs of its
checkpoint, so resuming with the same ``--log`` appends the new rows to the old.

Written with Python's ``csv`` module: a header line, then plain numbers (full
precision), an empty cell where a figure does not exist (no validation split).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import BinaryIO, Callable, Mapping, Sequence

from purenet.io.reading import open_regular
from purenet.io.writing import atomic_write

FIELDS = ("epoch", "step", "lr", "loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
          "seconds", "eval_seconds", "best_epoch", "stopped_early")
"""The columns: an EpochRecord's figures; ``step`` counts the optimizer's updates since the
run began, ``lr`` is the rate of the epoch's last step, ``best_epoch`` the epoch with the
best validation accuracy so far (empty without a validation split)."""

HEADER = ",".join(FIELDS)


def is_epoch_log(path: Path) -> bool:
    """Whether ``path`` is a log this command wrote (its first line is the header): one it may replace."""
    try:
        with open_regular(path, OSError) as handle:  # a FIFO or device is not ours, and never opened
            first = handle.read(len(HEADER) + 2)
    except OSError:
        return False
    return first.decode("utf-8", "replace").splitlines()[:1] == [HEADER]


def log_rows(history: Sequence[Mapping], steps_per_epoch: int, lr_at: Callable[[int], float],
             stopped_early: bool = False) -> list[dict]:
    """The rows of a run whose checkpoint history is ``history``; ``lr_at(step)`` the rate at
    a step (counted from 0); ``stopped_early``: early stopping ended the run after the last row."""
    rows, best, best_acc = [], None, None
    for entry in history:
        epoch, val_acc = entry["epoch"], entry.get("val_acc")
        if val_acc is not None and (best_acc is None or val_acc > best_acc):  # as purenet.core.training keeps its best
            best, best_acc = epoch, val_acc
        step = epoch * steps_per_epoch
        rows.append({**{name: entry.get(name) for name in FIELDS}, "step": step, "lr": lr_at(step - 1),
                     "best_epoch": best, "stopped_early": False})
    if rows and stopped_early:
        rows[-1]["stopped_early"] = True
    return rows


def write_log(path: Path, rows: list[dict]) -> None:
    """Replace ``path`` with ``rows`` under the header, atomically."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: _cell(row[name]) for name in FIELDS})
    data = text.getvalue().encode("utf-8")

    def write(handle: BinaryIO) -> None:
        handle.write(data)

    atomic_write(path, write)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(float(value)) if isinstance(value, float) else str(int(value))
