"""``purenet evaluate --report DIR``: pictures a person would rather look at than read.

    confusion.png       the confusion matrix, counts in each cell
    misclassified.png   a grid of the misclassified test digits, true -> predicted
    curves.png          loss and accuracy per epoch, from the checkpoint's history

matplotlib is an optional extra (``pip install -e ".[plot]"``); without it the
command says so in one line. Each picture is written atomically.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np

from purenet.cli.console import fail
from purenet.files import atomic_write

MAX_MISTAKES = 100


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or a one-line error."""
    try:
        import matplotlib
    except ImportError:
        fail('--report needs matplotlib, an optional extra: pip install -e ".[plot]"')
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_report(folder: Path, confusion: np.ndarray, images: np.ndarray, labels: np.ndarray,
                 predicted: np.ndarray, history: Sequence[dict]) -> list[Path]:
    """Write the three pictures into ``folder`` (created if needed); returns their paths."""
    plt = pyplot()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        fail(f"{folder}: cannot create the report folder ({error.strerror or error})")
    figures = {
        "confusion.png": _confusion(plt, confusion),
        "misclassified.png": _mistakes(plt, images, labels, predicted),
        "curves.png": _curves(plt, history),
    }
    return [_save(plt, figure, folder / name) for name, figure in figures.items()]


def _save(plt, figure, path: Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def _confusion(plt, confusion: np.ndarray):
    figure, axes = plt.subplots(figsize=(6.5, 5.5))
    shown = axes.imshow(np.log1p(confusion), cmap="Blues")
    classes = len(confusion)
    for (t, p), count in np.ndenumerate(confusion):
        if count:
            axes.text(p, t, str(count), ha="center", va="center", fontsize=8,
                      color="white" if count > confusion.max() / 3 else "black")
    axes.set(xticks=range(classes), yticks=range(classes), xlabel="predicted digit", ylabel="true digit")
    accuracy = np.trace(confusion) / max(confusion.sum(), 1)
    axes.set_title(f"confusion matrix: {confusion.sum()} test digits, accuracy {100 * accuracy:.2f}%")
    figure.colorbar(shown, ax=axes, label="log(1 + count)")
    return figure


def _mistakes(plt, images: np.ndarray, labels: np.ndarray, predicted: np.ndarray):
    wrong = np.flatnonzero(labels != predicted)
    shown = wrong[:MAX_MISTAKES]
    columns = 10
    rows = max(1, -(-len(shown) // columns))
    figure, grid = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.3), squeeze=False)
    for axes in grid.flat:
        axes.axis("off")
    side = int(round(np.sqrt(images.shape[1])))
    for axes, i in zip(grid.flat, shown):
        axes.imshow(images[i].reshape(side, side), cmap="gray_r")
        axes.set_title(f"{labels[i]} → {predicted[i]}", fontsize=9, color="darkred")
    figure.suptitle(f"misclassified: {len(wrong)} of {len(labels)} (the first {len(shown)}; true → predicted)")
    return figure


def _curves(plt, history: Sequence[dict]):
    figure, (loss_axes, acc_axes) = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = [h["epoch"] for h in history]
    for key, label in (("loss", "train (running)"), ("val_loss", "validation"), ("test_loss", "test")):
        _plot_series(loss_axes, epochs, [h.get(key) for h in history], label)
    for key, label in (("train_acc", "train (running)"), ("val_acc", "validation"), ("test_acc", "test")):
        _plot_series(acc_axes, epochs, [None if h.get(key) is None else 100 * h[key] for h in history], label)
    loss_axes.set(xlabel="epoch", ylabel="loss", title="loss per epoch", yscale="log")
    acc_axes.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy per epoch")
    for axes in (loss_axes, acc_axes):
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend()
    return figure


def _plot_series(axes, epochs: list[int], values: list, label: str) -> None:
    points = [(e, v) for e, v in zip(epochs, values) if v is not None]
    if points:
        axes.plot(*zip(*points), marker="o", markersize=3, label=label)
