"""``purenet evaluate``: accuracy, loss, per-class accuracy and a confusion matrix, by class name;
for a calibrated model, the expected calibration error (15 bins) before and after its temperature
and the share of the test images its abstention threshold keeps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from purenet.apps.threads import parse_threads, set_blas_threads
from purenet.base.words import counted
from purenet.cli.console import color_output, fail, say, stdout_console
from purenet.cli.download import ensure_default_data, run_download_named
from purenet.cli.models import open_members, open_model, trained_on
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
    names = checkpoint.class_names
    calibration = calibration_figures(checkpoint, z, split.labels)
    if report is not None:
        from purenet.cli.report import write_report

        confidence = get_loss(checkpoint.model.arch.loss).output(z)[np.arange(len(z)), predicted]
        written = write_report(report, confusion, scores, split, predicted, confidence, checkpoint.history, names=names,
                               reliability=calibration.pop("diagrams", ()))
        say(f"report written: {', '.join(str(p) for p in written)}")
    calibration.pop("diagrams", None)
    if json_output:
        print(json.dumps({"model": str(model), "data": str(data), "part": part, "samples": len(split), "accuracy": accuracy,
                          "loss": loss, "per_class_accuracy": [None if np.isnan(a) else a for a in per_class_accuracy(confusion)],
                          "confusion": confusion.tolist(), "classes": scores.to_json(), "threads": blas.to_json(),
                          "data_name": checkpoint.data_name, "class_names": list(names), "calibration": calibration or None}))
        return
    _render(data, part, len(split), loss, accuracy, confusion, scores, names)
    if calibration:
        _render_calibration(calibration)


def calibration_figures(checkpoint: Checkpoint, z: np.ndarray, labels: np.ndarray) -> dict:
    """For a calibrated model: its temperature, score and threshold, the ECE (15 bins) before and after
    the temperature, and the share of these images the threshold keeps; {} for a model without one."""
    calibration = checkpoint.calibration
    if calibration is None:
        return {}
    from purenet.core.calibration import BINS, Calibration, reliability

    before = reliability(Calibration(temperature=1.0).probabilities(z), labels)
    after = reliability(calibration.probabilities(z), labels)
    return {**calibration.to_json(), "bins": BINS, "ece_before": before.ece, "ece_after": after.ece,
            "kept": float(calibration.accepts(z).mean()) if len(z) else None, "diagrams": (before, after)}


def _render_calibration(figures: dict) -> None:
    console = stdout_console()
    console.print(f"calibration: temperature {figures['temperature']:.3f}; expected calibration error "
                  f"({figures['bins']} bins) {100 * figures['ece_before']:.2f}% before, {100 * figures['ece_after']:.2f}% after")
    if figures["threshold"] is not None:
        console.print(f"abstention: {figures['score']} >= {figures['threshold']:.3f} keeps "
                      f"{100 * figures['kept']:.2f}% of these images (set to keep {100 * figures['keep']:g}% of held-out ones)")


def run_evaluate_ensemble(models: Sequence[Path], data: Optional[Path], json_output: bool, report: Optional[Path] = None,
                          threads: str = "auto") -> None:
    """``purenet evaluate A.npz B.npz ...``: the ensemble (the members' probabilities averaged) beside each member."""
    from purenet.core.ensemble import evaluate_ensemble

    if report is not None:
        fail("--report draws one model's pictures: give it one checkpoint, not an ensemble")
    members, checkpoints = open_members(models)
    data = data or _trained_on(checkpoints[0])
    split, part = _held_out(data, members[0].arch.layers)
    if part != "test":
        say(f"{data} has no test part: evaluating on its training images")
    blas = set_blas_threads(parse_threads(threads))
    result = evaluate_ensemble(members, split)
    confusion = confusion_matrix(split.labels, result.predicted, members[0].arch.classes)
    scores = class_scores(confusion)
    if json_output:
        print(json.dumps({"models": [str(path) for path in models], "data": str(data), "part": part, "samples": len(split),
                          "members": [{"model": str(path), "accuracy": accuracy, "loss": loss} for path, accuracy, loss
                                      in zip(models, result.member_accuracy, result.member_loss)],
                          "accuracy": result.accuracy, "loss": result.loss,
                          "per_class_accuracy": [None if np.isnan(a) else a for a in per_class_accuracy(confusion)],
                          "confusion": confusion.tolist(), "classes": scores.to_json(), "threads": blas.to_json()}))
        return
    _render_members(models, result)
    _render(data, part, len(split), result.loss, result.accuracy, confusion, scores)


def _render_members(models: Sequence[Path], result) -> None:
    """Each member's accuracy and loss, then the ensemble's, the best accuracy in bold."""
    from rich.table import Table

    table = Table("model", "accuracy", "loss", title=f"an ensemble of {len(models)} models: their probabilities averaged "
                  "(the ensemble's confusion matrix below)", title_justify="left")
    for column in table.columns[1:]:
        column.justify = "right"
    for path, accuracy, loss in zip(models, result.member_accuracy, result.member_loss):
        table.add_row(str(path), f"{100 * accuracy:.2f}%", f"{loss:.4f}", style=None)
    table.add_section()
    table.add_row("ensemble", f"{100 * result.accuracy:.2f}%", f"{result.loss:.4f}")
    stdout_console().print(table)


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
            scores: ClassScores, names: tuple[str, ...] | None = None) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = stdout_console()
    console.print(f"{part} set of {data}: {counted(samples, 'image')}")
    console.print(f"accuracy {100 * accuracy:.2f}%   loss {loss:.4f}")
    classes = len(confusion)
    shown = [escape(name) for name in (names or [str(k) for k in range(classes)])]
    digits = names is None or list(names) == [str(k) for k in range(classes)]
    table = Table("true", *shown, "acc", title=f"confusion matrix (rows: true {'digit' if digits else 'class'}, columns: "
                  "predicted)", title_justify="left")
    for column in table.columns:
        column.justify = "right"
    for true_class, (row, acc) in enumerate(zip(confusion, per_class_accuracy(confusion))):
        cells = [_cell(count, true_class == predicted, not color_output()) for predicted, count in enumerate(row)]
        table.add_row(shown[true_class], *cells, "-" if np.isnan(acc) else f"{100 * acc:.1f}%")
    console.print(table)
    console.print(scores_table(scores, names))


def scores_table(scores: ClassScores, names: tuple[str, ...] | None = None):
    """Precision, recall, F1 and support per class (by ``names``, else number), then the macro
    and weighted averages, laid out as scikit-learn's classification_report."""
    from rich.markup import escape
    from rich.table import Table

    table = Table("class", "precision", "recall", "f1", "support", title="per class (precision: of those predicted as the "
                  "class, the right ones; recall: of the class, those found)", title_justify="left")
    for column in table.columns:
        column.justify = "right"
    for k, row in enumerate(zip(scores.precision, scores.recall, scores.f1)):
        table.add_row(escape(names[k]) if names else str(k), *(f"{value:.4f}" for value in row), str(scores.support[k]))
    total = str(int(scores.support.sum()))
    table.add_section()
    table.add_row("macro avg", *(f"{value:.4f}" for value in scores.macro), total)
    table.add_row("weighted avg", *(f"{value:.4f}" for value in scores.weighted), total)
    return table


def _cell(count: int, diagonal: bool, plain: bool) -> str:
    if plain or count == 0:
        return str(count)
    return f"[bold green]{count}[/]" if diagonal else f"[red]{count}[/]"
