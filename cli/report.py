"""``purenet evaluate --report DIR``: pictures a person would rather look at than read.

    confusion.png       the confusion matrix, counts in each cell and on the colour bar
    misclassified.png   the misclassified test digits, the most confident mistakes first
    classes.png         precision, recall, F1 and support per class, with the averages
    curves.png          loss and accuracy per epoch, from the checkpoint's history
    reliability.png     for a calibrated model: accuracy against confidence in 15 bins, before and after its temperature

matplotlib is an optional extra (plot); without it the command says so in one
line, with the command that installs it (``purenet.cli.extras``). The four pictures are drawn first, then written together
(``purenet.io.writing.atomic_write_all``): a full disk or a stop signal never leaves a report
half old, half new. Each carries a PNG text chunk ``Software: purenet``: that is how a
later report knows the file is its own to replace. A picture without it (one of the user's) is never replaced without
``--force``, and the check happens before any work.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, BinaryIO, Mapping, Optional, Sequence

import numpy as np

from purenet.cli.console import fail, signals_deferred
from purenet.cli.extras import needs_extra
from purenet.core.calibration import Reliability
from purenet.core.metrics import ClassScores
from purenet.data import Split
from purenet.io.outputs import WriteRefused, check_folder_writable, check_not_input, check_target, make_folder, remove_made
from purenet.io.reading import open_regular
from purenet.io.writing import atomic_write_all

MAX_MISTAKES = 100
PICTURES = ("confusion.png", "misclassified.png", "classes.png", "curves.png", "reliability.png")
SOFTWARE = "purenet"
"""The PNG ``Software`` text of every picture purenet writes."""


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or a one-line error."""
    try:
        import matplotlib
    except ImportError:
        fail(needs_extra("purenet evaluate --report", "plot"))
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def is_our_picture(path: Path) -> bool:
    """Whether ``path`` is a PNG whose ``Software`` text says purenet wrote it."""
    from PIL import Image

    try:
        with open_regular(path, OSError) as handle, Image.open(handle) as image:  # a FIFO is never opened
            return image.format == "PNG" and str(image.info.get("Software", "")).startswith(SOFTWARE)
    except Exception:  # not an image, unreadable: not ours either way
        return False


def check_report_folder(folder: Path, force: bool, reads: Sequence[tuple[Optional[str], str]] = ()) -> None:
    """Before any work: matplotlib is there, the folder can be made or written, no picture of the user's is in the way
    and no picture would be (or land inside) what the command reads, ``reads`` (path, what it is)."""
    pyplot()
    try:
        _check_usable(folder)
        for name in PICTURES:
            check_not_input(folder / name, reads, option="--report folder")
        if os.path.islink(folder) and not os.path.exists(folder):
            raise WriteRefused(f"{folder}: a broken symbolic link; --report needs a folder for its pictures")
        if os.path.lexists(folder) and not os.path.isdir(folder):
            raise WriteRefused(f"{folder}: exists and is not a folder; --report needs a folder for its pictures")
        if os.path.isdir(folder):
            for name in PICTURES:
                check_target(folder / name, is_our_picture, what="a picture purenet wrote", force=force)
        else:
            check_folder_writable(_nearest_existing(folder), purpose=f"create the report folder {folder}")
    except WriteRefused as error:
        fail(str(error))


def drawable_shape(split: Split) -> tuple[int, int]:
    """The images' (rows, columns), or one line saying --report cannot draw them."""
    shape = split.shape_or_square
    if shape is None:
        fail(f"--report draws the misclassified digits, but the images' height and width are unknown "
             f"({split.images.shape[1]} pixels each, not a square)")
    return shape


def _check_usable(folder: Path) -> None:
    """A name the system refuses (too long, a loop of links, through a file) is refused now."""
    try:
        os.stat(folder)
    except FileNotFoundError:
        pass
    except OSError as error:
        raise WriteRefused(f"{folder}: cannot be used as the report folder ({error.strerror or error})") from None


def _nearest_existing(folder: Path) -> Path:
    for candidate in (folder, *folder.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(".")


def write_report(folder: Path, confusion: np.ndarray, scores: ClassScores, split: Split, predicted: np.ndarray,
                 confidence: np.ndarray, history: Sequence[Mapping[str, Any]], *, names: Sequence[str] | None = None,
                 reliability: Sequence[Reliability] = ()) -> list[Path]:
    """Write the pictures into ``folder`` (created if needed); returns their paths.

    ``confidence``: the probability the network gave its prediction of each image, which
    orders the mistakes (a confident mistake says more than a coin toss). ``names``: the
    class names (None: the class numbers); ``reliability``: before and after calibration,
    drawn as reliability.png when given.

    A folder created here is removed again if writing fails before any picture is in it.
    """
    plt = pyplot()
    shape = drawable_shape(split)
    try:
        created = make_folder(folder)
    except WriteRefused as error:
        fail(str(error))
    names = list(names) if names is not None else [str(k) for k in range(len(confusion))]
    figures = {
        "confusion.png": lambda: _confusion(plt, confusion, names),
        "misclassified.png": lambda: _mistakes(plt, split.images, split.labels, predicted, confidence, shape, names),
        "classes.png": lambda: _scores(plt, scores, names),
        "curves.png": lambda: _curves(plt, history),
    }
    if reliability:
        figures["reliability.png"] = lambda: _reliability(plt, reliability)
    try:
        pictures = {name: _png(plt, figure()) for name, figure in figures.items()}  # drawn first: nothing written yet
        with signals_deferred():  # a stop signal waits for the four files, then stops the command
            return atomic_write_all([(folder / name, _writer(data)) for name, data in pictures.items()])
    except OSError as error:  # none of the pictures was replaced, no temporary file is left
        remove_made(created)
        fail(f"{folder}: cannot write the report ({error.strerror or error}); no picture was written")
    except BaseException:
        remove_made(created)
        raise


def _png(plt, figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": SOFTWARE})
    plt.close(figure)
    return buffer.getvalue()


def _writer(data: bytes):
    def write(handle: BinaryIO) -> None:
        handle.write(data)

    return write


def _confusion(plt, confusion: np.ndarray, names: Sequence[str]):
    from matplotlib.colors import SymLogNorm

    figure, axes = plt.subplots(figsize=(6.5, 5.5))
    # a logarithmic colour scale (the diagonal is ~100 times the mistakes), linear below 1 so
    # that 0 has a colour; the colour bar's ticks are counts
    shown = axes.imshow(confusion, cmap="Blues", norm=SymLogNorm(linthresh=1, vmin=0, vmax=max(int(confusion.max()), 1)))
    classes = len(confusion)
    for (t, p), count in np.ndenumerate(confusion):
        if count:
            axes.text(p, t, str(count), ha="center", va="center", fontsize=8,
                      color="white" if count > confusion.max() / 3 else "black")
    axes.set(xticks=range(classes), yticks=range(classes), xlabel="predicted class", ylabel="true class")
    axes.set_xticklabels(names, rotation=90 if max(map(len, names)) > 2 else 0)
    axes.set_yticklabels(names)
    accuracy = np.trace(confusion) / max(confusion.sum(), 1)
    axes.set_title(f"confusion matrix: {confusion.sum()} test images, accuracy {100 * accuracy:.2f}%")
    ticks = [0] + [10**k for k in range(len(str(max(int(confusion.max()), 1))))]  # 0, 1, 10, 100... up to the largest
    figure.colorbar(shown, ax=axes, ticks=ticks, format="%d", label="images (count, logarithmic scale)")
    return figure


def most_confident_mistakes(labels: np.ndarray, predicted: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """The indices of the misclassified images, the most confident prediction first (ties: in order)."""
    wrong = np.flatnonzero(labels != predicted)
    return wrong[np.argsort(-confidence[wrong], kind="stable")]


def _mistakes(plt, images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, confidence: np.ndarray,
              shape: tuple[int, int], names: Sequence[str]):
    wrong = most_confident_mistakes(labels, predicted, confidence)
    shown = wrong[:MAX_MISTAKES]
    columns = 10
    rows = max(1, -(-len(shown) // columns))
    figure, grid = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.3), squeeze=False)
    for axes in grid.flat:
        axes.axis("off")
    for axes, i in zip(grid.flat, shown):
        axes.imshow(images[i].reshape(shape), cmap="gray_r")
        axes.set_title(f"{names[labels[i]]} → {names[predicted[i]]} {100 * confidence[i]:.0f}%", fontsize=9, color="darkred")
    figure.suptitle(f"misclassified: {len(wrong)} of {len(labels)}, the {len(shown)} most confident first "
                    "(true → predicted, its probability)")
    return figure


def _scores(plt, scores: ClassScores, names: Sequence[str]):
    """The per-class table of ``purenet evaluate`` as a picture."""
    rows = [[names[k], f"{p:.4f}", f"{r:.4f}", f"{f:.4f}", str(n)]
            for k, (p, r, f, n) in enumerate(zip(scores.precision, scores.recall, scores.f1, scores.support))]
    total = str(int(scores.support.sum()))
    rows += [["macro avg", *(f"{v:.4f}" for v in scores.macro), total],
             ["weighted avg", *(f"{v:.4f}" for v in scores.weighted), total]]
    figure, axes = plt.subplots(figsize=(6, 0.3 * len(rows) + 0.4))
    axes.axis("off")
    table = axes.table(cellText=rows, colLabels=["class", "precision", "recall", "F1", "support"], loc="center",
                       cellLoc="right", colLoc="right")
    table.scale(1, 1.2)
    if len(scores.f1):  # the weakest class stands out
        table[int(np.argmin(scores.f1)) + 1, 3].set_facecolor("#f4cccc")
    axes.set_title("per class: precision (of those predicted as the class, the right ones), recall (of the class, "
                   "those found), F1", fontsize=8)
    return figure


def _curves(plt, history: Sequence[Mapping[str, Any]]):
    figure, (loss_axes, acc_axes) = plt.subplots(1, 2, figsize=(10, 3.8))
    history = [h for h in history if isinstance(h.get("epoch"), int)]  # a script's history may lack epochs
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


def _reliability(plt, diagrams: Sequence[Reliability]):
    """Accuracy against confidence per bin, before and after the temperature; the diagonal is perfect calibration."""
    figure, grid = plt.subplots(1, len(diagrams), figsize=(5 * len(diagrams), 4.6), squeeze=False)
    for axes, diagram, when in zip(grid.flat, diagrams, ("before calibration (T = 1)", "after calibration")):
        centres = (diagram.edges[:-1] + diagram.edges[1:]) / 2
        filled = diagram.counts > 0
        width = np.diff(diagram.edges)
        axes.bar(centres[filled], diagram.accuracy[filled], width=width[filled], edgecolor="black", color="#9fc5e8",
                 label="accuracy")
        axes.bar(centres[filled], (diagram.confidence - diagram.accuracy)[filled], bottom=diagram.accuracy[filled],
                 width=width[filled], color="#f4cccc", edgecolor="darkred", alpha=0.7, label="gap to confidence")
        axes.plot([0, 1], [0, 1], "k--", linewidth=1)
        axes.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy",
                 title=f"{when}: ECE {100 * diagram.ece:.2f}% ({len(diagram.counts)} bins)")
        axes.legend(loc="upper left", fontsize=8)
    return figure
