"""``purenet evaluate``: accuracy, loss, per-class accuracy and a confusion matrix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from purenet.apps.threads import parse_threads, set_blas_threads
from purenet.base.words import counted
from purenet.cli.console import color_output, fail, say, stdout_console
from purenet.cli.download import ensure_default_data, run_download_named
from purenet.cli.models import open_model, trained_on
from purenet.core.losses import get_loss
from purenet.core.metrics import ClassScores, class_scores, confusion_matrix, logits, per_class_accuracy
from purenet.data import DataError, Split, default_data_dir
from purenet.data import load as load_data
from purenet.data.named import DATASETS, data_location, is_named, load_named
from purenet.runs.checkpoint import Checkpoint


def run_evaluate(model: Optional[Path], data: Optional[Path | str], json_output: bool, report: Optional[Path] = None,
                 force: bool = False, threads: str = "auto") -> None:
    model, checkpoint, note = open_model(model)
    if report is not None:
        from purenet.cli.report import check_report_folder, drawable_shape

        evaluated = _location(data) if data is not None else data_location(trained_on(checkpoint))  # may not hold the pictures
        check_report_folder(report, force, reads=[(str(model), "the model evaluated"), (str(evaluated), "the data evaluated")])
    data = _named_or_path(data) if data is not None else _trained_on(checkpoint)
    split, part = _held_out(data, checkpoint.model.arch.layers)
    if report is not None:
        drawable_shape(split)
    for line in (note, None if part == "test" else f"{data} has no test part: evaluating on its training images"):
        if line:
            say(line)  # every check has passed: now the notes
    blas = set_blas_threads(parse_threads(threads))
    z = logits(checkpoint.model, split.images)  # the one pass through the network
    loss = get_loss(checkpoint.model.arch.loss).value(z, split.labels)
    predicted = z.argmax(axis=1)
    accuracy = float(np.mean(predicted == split.labels))
    confusion = confusion_matrix(split.labels, predicted, checkpoint.model.arch.classes)
    scores = class_scores(confusion)
    if report is not None:
        from purenet.cli.report import write_report

        confidence = get_loss(checkpoint.model.arch.loss).output(z)[np.arange(len(z)), predicted]
        written = write_report(report, confusion, scores, split, predicted, confidence, checkpoint.history)
        say(f"report written: {', '.join(str(p) for p in written)}")
    if json_output:
        print(json.dumps({"model": str(model), "data": str(data), "part": part, "samples": len(split), "accuracy": accuracy,
                          "loss": loss, "per_class_accuracy": [None if np.isnan(a) else a for a in per_class_accuracy(confusion)],
                          "confusion": confusion.tolist(), "classes": scores.to_json(), "threads": blas.to_json()}))
        return
    _render(data, part, len(split), loss, accuracy, confusion, scores)


def _trained_on(checkpoint: Checkpoint) -> Path | str:
    """The data the checkpoint's run used (its absolute path, or a data set's name), else the default MNIST."""
    recorded = checkpoint.config.data if checkpoint.config is not None else checkpoint.settings.get("data")
    if isinstance(recorded, str) and recorded in DATASETS:
        run_download_named(recorded)
        return recorded
    if isinstance(recorded, str) and recorded:
        return Path(recorded)
    ensure_default_data(default_data_dir())
    return default_data_dir()


def _named_or_path(data: Path | str) -> Path | str:
    """``--data``: a data set's name (fetched on first use) when no path of that name exists, else the path."""
    if is_named(data):
        run_download_named(str(data))
        return str(data)
    return Path(data)


def _location(data: Path | str) -> Path:
    return data_location(str(data)) if is_named(data) else Path(data)


def _held_out(data: Path | str, layers: tuple[int | str, ...]) -> tuple[Split, str]:
    try:
        dataset = load_named(data) if isinstance(data, str) else load_data(data)
    except DataError as error:
        fail(str(error))
    split, part = (dataset.test, "test") if dataset.has_test else (dataset.train, "train")
    pixels, outputs = layers[0], layers[-1]
    if split.images.shape[1] != pixels:
        fail(f"{data}: images have {split.images.shape[1]} pixels but the model expects {pixels}")
    if len(split) and int(split.labels.max()) >= outputs:
        fail(f"{data}: {part} labels go up to {int(split.labels.max())} but the model has only {outputs} outputs")
    return split, part


def _render(data: Path | str, part: str, samples: int, loss: float, accuracy: float, confusion: np.ndarray,
            scores: ClassScores) -> None:
    from rich.table import Table

    console = stdout_console()
    console.print(f"{part} set of {data}: {counted(samples, 'image')}")
    console.print(f"accuracy {100 * accuracy:.2f}%   loss {loss:.4f}")
    classes = len(confusion)
    table = Table("true", *(str(k) for k in range(classes)), "acc",
                  title="confusion matrix (rows: true digit, columns: predicted)", title_justify="left")
    for column in table.columns:
        column.justify = "right"
    for true_class, (row, acc) in enumerate(zip(confusion, per_class_accuracy(confusion))):
        cells = [_cell(count, true_class == predicted, not color_output()) for predicted, count in enumerate(row)]
        table.add_row(str(true_class), *cells, "-" if np.isnan(acc) else f"{100 * acc:.1f}%")
    console.print(table)
    console.print(scores_table(scores))


def scores_table(scores: ClassScores):
    """Precision, recall, F1 and support per class, then the macro and weighted averages,
    laid out as scikit-learn's classification_report."""
    from rich.table import Table

    table = Table("class", "precision", "recall", "f1", "support", title="per class (precision: of those predicted as the "
                  "class, the right ones; recall: of the class, those found)", title_justify="left")
    for column in table.columns:
        column.justify = "right"
    for k, row in enumerate(zip(scores.precision, scores.recall, scores.f1)):
        table.add_row(str(k), *(f"{value:.4f}" for value in row), str(scores.support[k]))
    total = str(int(scores.support.sum()))
    table.add_section()
    table.add_row("macro avg", *(f"{value:.4f}" for value in scores.macro), total)
    table.add_row("weighted avg", *(f"{value:.4f}" for value in scores.weighted), total)
    return table


def _cell(count: int, diagonal: bool, plain: bool) -> str:
    if plain or count == 0:
        return str(count)
    return f"[bold green]{count}[/]" if diagonal else f"[red]{count}[/]"
