"""``purenet evaluate``: accuracy, loss, per-class accuracy and a confusion matrix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from purenet.checkpoint import Checkpoint, CheckpointError
from purenet.checkpoint import load as load_checkpoint
from purenet.cli.console import fail, plain_output, say, stdout_console
from purenet.cli.download import ensure_default_data
from purenet.cli.state import last_model
from purenet.data import DataError, Split, default_data_dir
from purenet.data import load as load_data
from purenet.metrics import confusion_matrix, evaluate, logits, per_class_accuracy


def resolve_model(model: Optional[Path]) -> Path:
    """The model to use: the one given, else the last one ``purenet train`` wrote (said on stderr)."""
    if model is not None:
        return model
    found = last_model()
    if found is None:
        fail("no model given and none trained yet: run `purenet train` or pass a checkpoint file")
    say(f"using {found} (the last model purenet train wrote)")
    return found


def open_checkpoint(path: Path) -> Checkpoint:
    try:
        return load_checkpoint(path)
    except CheckpointError as error:
        fail(str(error))


def run_evaluate(model: Optional[Path], data: Optional[Path], json_output: bool, report: Optional[Path] = None) -> None:
    model = resolve_model(model)
    checkpoint = open_checkpoint(model)
    if data is None and not checkpoint.settings.get("data"):
        ensure_default_data(default_data_dir())
    data = data or Path(checkpoint.settings.get("data") or default_data_dir())
    split, part = _held_out(data, checkpoint.params.arch.sizes[0])
    if report is not None:
        from purenet.cli.report import pyplot

        pyplot()  # say at once, before any work, if matplotlib is missing
    loss, accuracy = evaluate(checkpoint.model, split)
    predicted = logits(checkpoint.model, split.images).argmax(axis=1)
    confusion = confusion_matrix(split.labels, predicted, checkpoint.params.arch.sizes[-1])
    if report is not None:
        from purenet.cli.report import write_report

        written = write_report(report, confusion, split.images, split.labels, predicted, checkpoint.history)
        say(f"report written: {', '.join(str(p) for p in written)}")
    if json_output:
        print(json.dumps({"model": str(model), "data": str(data), "part": part, "samples": len(split), "accuracy": accuracy,
                          "loss": loss, "per_class_accuracy": [None if np.isnan(a) else a for a in per_class_accuracy(confusion)],
                          "confusion": confusion.tolist()}))
        return
    _render(data, part, len(split), loss, accuracy, confusion)


def _held_out(data: Path, pixels: int) -> tuple[Split, str]:
    try:
        dataset = load_data(data)
    except DataError as error:
        fail(str(error))
    split, part = (dataset.test, "test") if dataset.test is not None else (dataset.train, "train")
    if split.images.shape[1] != pixels:
        fail(f"{data}: images have {split.images.shape[1]} pixels but the model expects {pixels}")
    if part == "train":
        say(f"{data} has no test part: evaluating on its training images")
    return split, part


def _render(data: Path, part: str, samples: int, loss: float, accuracy: float, confusion: np.ndarray) -> None:
    from rich.table import Table

    console = stdout_console()
    console.print(f"{part} set of {data}: {samples} images")
    console.print(f"accuracy {100 * accuracy:.2f}%   loss {loss:.4f}")
    classes = len(confusion)
    table = Table("true", *(str(k) for k in range(classes)), "acc", title="confusion matrix (rows: true digit, columns: predicted)", title_justify="left")
    for column in table.columns:
        column.justify = "right"
    for true_class, (row, acc) in enumerate(zip(confusion, per_class_accuracy(confusion))):
        cells = [_cell(count, true_class == predicted, plain_output()) for predicted, count in enumerate(row)]
        table.add_row(str(true_class), *cells, "-" if np.isnan(acc) else f"{100 * acc:.1f}%")
    console.print(table)


def _cell(count: int, diagonal: bool, plain: bool) -> str:
    if plain or count == 0:
        return str(count)
    return f"[bold green]{count}[/]" if diagonal else f"[red]{count}[/]"
