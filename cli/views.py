"""How ``purenet train`` shows its records: rich (terminal), plain (logs), JSON (machines).

Each view has the same methods, called in this order:
start, live (a context for the epochs), progress / held_out / epoch while training,
then predictions (optional) and finish. ``progress`` receives the training loop's
``purenet.core.training.Progress`` records (where the epoch has got to) and ``epoch`` its
``EpochRecord``s; only the rich view draws a bar (rich's own ``Progress`` class,
imported here as ``RichProgress``).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from purenet.base.words import counted
from purenet.cli.console import can_show, color_output, stdout_console
from purenet.cli.digits import BLOCKS, digit_grid
from purenet.core.network import predict
from purenet.data import Split, to_float

COLUMNS = ("epoch", "loss", "train acc", "val acc", "test acc", "seconds")


def make_view(json_output: bool, plain: bool):
    """The view for this output: JSON if asked, plain when not on a colour terminal, else rich."""
    if json_output:
        return JsonView()
    return PlainView() if plain else RichView()


def describe(settings: dict) -> str:
    """One line naming the run, e.g. '784-200-10 relu, ce loss, adam lr 0.001, batch 128'."""
    network = "-".join(str(n) for n in settings["layers"])
    decay = f", weight decay {settings['weight_decay']:g}" if settings["weight_decay"] else ""
    return (
        f"{network} {settings['act']}, {settings['loss']} loss, {settings['optimizer']} lr {settings['lr']:g}"
        f"{decay}, batch {settings['batch_size']}, seed {settings['seed']}"
    )


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def epoch_cells(record) -> list[str]:
    return [
        str(record.epoch), f"{record.loss:.4f}", _percent(record.train_acc), _percent(record.val_acc),
        _percent(record.test_acc), f"{record.seconds:.1f}",
    ]


SHOW_STREAM = 7
"""Mixed with the run's seed for the digits --show-predictions draws, so that the pick is
the same for the same seed and independent of the training streams."""


def sample_predictions(params, test: Split, count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``count`` test digits drawn at random (the same for the same ``seed``): their indices
    in the test set, images, labels and the network's predictions."""
    rng = np.random.default_rng([seed, SHOW_STREAM])
    indices = rng.choice(len(test), size=min(count, len(test)), replace=False)
    part = test.take(indices)
    predicted = predict(params, to_float(part.images)).argmax(axis=1)
    return indices, part.images, part.labels, predicted


class TextView:
    """What rich and plain views share: a console, the start line, predictions, the end."""

    color = True

    def __init__(self) -> None:
        self.console = stdout_console()

    def start(self, settings: dict, start_epoch: int, epochs: int, n_train: int, threads=None) -> None:
        resumed = f", resuming after epoch {start_epoch}" if start_epoch else ""
        on = f", BLAS threads {threads.in_words()}" if threads is not None else ""
        self.console.print(f"training {describe(settings)}{on}")
        self.console.print(f"data {settings['data']}: {counted(n_train, 'training image')}, {counted(epochs, 'epoch')}{resumed}")

    def held_out(self, record, loss: float, accuracy: float) -> None:
        self.console.print(f"epoch {record.epoch} step {record.step}: held-out accuracy {_percent(accuracy)}, loss {loss:.4f}")

    def stopped_early(self, record) -> None:
        if record.stopped_early:
            self.console.print(f"stopping early: no better validation accuracy since epoch {record.best.epoch}")

    def predictions(self, params, test: Split, count: int, shape: tuple[int, int], seed: int, names=None) -> None:
        """``count`` random test images with their predictions (by class name with ``names``), then the mistakes again."""
        indices, images, labels, predicted = sample_predictions(params, test, count, seed)
        if names is not None:
            names = np.array(names, dtype=object)  # distinct names: equal exactly when the classes are
            labels, predicted = names[labels], names[predicted]
        wrong = np.flatnonzero(labels != predicted)
        self.console.print(f"{counted(len(indices), 'random test digit')} (seed {seed}): "
                           f"{len(indices) - len(wrong)} right, {len(wrong)} wrong")
        self._grid(images, [f"#{i} true {t} pred {p}" for i, t, p in zip(indices, labels, predicted)], shape)
        if len(wrong):
            self.console.print(f"the {counted(len(wrong), 'mistake')} among them:")
            self._grid(images[wrong], [f"#{indices[k]} true {labels[k]} pred {predicted[k]}" for k in wrong], shape)

    def _grid(self, images: np.ndarray, captions: list[str], shape: tuple[int, int]) -> None:
        ascii_only = not can_show(BLOCKS, self.console)
        for line in digit_grid(images, captions, self.color, self.console.width, shape, ascii_only):
            self.console.print(line)

    def finish(self, last, out: Path) -> None:
        final = last.history[-1] if last.history else {}
        if last.best is not None:
            kept = last.history[last.best.epoch - 1]
            self.console.print(f"keeping epoch {last.best.epoch}, the best on validation ({_percent(last.best.val_acc)}); "
                               f"its test accuracy {_percent(kept.get('test_acc'))}")
        test = f"test accuracy {_percent(final.get('test_acc'))}; " if final.get("test_acc") is not None else ""
        self.console.print(f"{test}model saved to {out} (epoch {last.epoch})")


class RichView(TextView):
    """A live progress bar (samples/s, ETA, running loss) under a table that grows per epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.color = color_output()  # NO_COLOR: the same display, without colour

    def start(self, settings: dict, start_epoch: int, epochs: int, n_train: int, threads=None) -> None:
        from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress
        from rich.table import Table

        super().start(settings, start_epoch, epochs, n_train, threads)
        self.table = Table(*COLUMNS, title="training", title_justify="left")
        for column in self.table.columns[1:]:
            column.justify = "right"
        self.bar = RichProgress(
            TextColumn("epoch {task.fields[epoch]}/" + str(epochs)), BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"), TextColumn("{task.fields[rate]:>8,.0f} samples/s"),
            TimeRemainingColumn(), TextColumn("loss {task.fields[loss]}"), console=self.console,
        )
        self.task = self.bar.add_task("train", total=n_train, epoch=start_epoch + 1, rate=0.0, loss="-")

    @contextlib.contextmanager
    def live(self):
        from rich.console import Group
        from rich.live import Live

        with Live(Group(self.table, self.bar), console=self.console, refresh_per_second=8) as self._live:
            yield
            self._live.update(self.table)  # the finished run leaves just the table

    def progress(self, record) -> None:
        """Move the bar to where a ``purenet.core.training.Progress`` record says the epoch is."""
        rate = record.seen / record.seconds if record.seconds > 0 else 0.0
        self.bar.update(self.task, completed=record.seen, epoch=record.epoch, rate=rate, loss=f"{record.loss:.4f}")

    def held_out(self, record, loss: float, accuracy: float) -> None:
        self._live.console.print(f"epoch {record.epoch} step {record.step}: "
                                 f"held-out accuracy {_percent(accuracy)}, loss {loss:.4f}")

    def epoch(self, record) -> None:
        self.table.add_row(*epoch_cells(record))
        self.bar.reset(self.task, epoch=record.epoch + 1, rate=0.0, loss="-")  # no step yet: no running loss
        self.stopped_early(record)


PLAIN_PROGRESS_SECONDS = 30.0
"""In plain output, the longest silence inside an epoch: a progress line on stderr after so long."""


class PlainView(TextView):
    """Plain lines for logs and pipes: a header, then one aligned line per epoch, and inside a long
    epoch a progress line on stderr every ``PLAIN_PROGRESS_SECONDS`` (``clock``: seconds, monotonic)."""

    color = False

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self.interval = PLAIN_PROGRESS_SECONDS
        self.last_line = clock()

    @contextlib.contextmanager
    def live(self):
        self.console.print("  ".join(f"{c:>9}" for c in COLUMNS))
        self.last_line = self.clock()
        yield

    def progress(self, record) -> None:
        """A line such as ``epoch 3: 45% (27,000 of 60,000 images), loss 0.1234, 2,345 samples/s``,
        once the last line is ``PLAIN_PROGRESS_SECONDS`` old."""
        now = self.clock()
        if now - self.last_line < self.interval:
            return
        self.last_line = now
        rate = record.seen / record.seconds if record.seconds > 0 else 0.0
        print(f"epoch {record.epoch}: {100 * record.seen / max(record.total, 1):.0f}% ({record.seen:,} of "
              f"{record.total:,} images), loss {record.loss:.4f}, {rate:,.0f} samples/s", file=sys.stderr, flush=True)

    def epoch(self, record) -> None:
        self.console.print("  ".join(f"{c:>9}" for c in epoch_cells(record)))
        self.last_line = self.clock()
        self.stopped_early(record)


class JsonView:
    """One JSON object per line: one per epoch ("event": "epoch"), one at the end ("summary")."""

    def start(self, settings: dict, start_epoch: int, epochs: int, n_train: int, threads=None) -> None:
        self.settings = settings
        self.extra: dict = {} if threads is None else {"threads": threads.to_json()}

    @contextlib.contextmanager
    def live(self):
        yield

    def progress(self, record) -> None:
        pass

    def held_out(self, record, loss: float, accuracy: float) -> None:
        _emit({"event": "step", "epoch": record.epoch, "step": record.step, "held_out_acc": accuracy, "held_out_loss": loss})

    def epoch(self, record) -> None:
        _emit({"event": "epoch", **dict(zip(("epoch", "loss", "train_acc", "val_acc", "test_acc", "seconds"), (
            record.epoch, record.loss, record.train_acc, record.val_acc, record.test_acc, record.seconds))),
               "stopped_early": record.stopped_early})

    def predictions(self, params, test: Split, count: int, shape: tuple[int, int], seed: int, names=None) -> None:
        indices, _, labels, predicted = sample_predictions(params, test, count, seed)
        self.extra["predictions"] = [{"index": int(i), "true": int(t), "predicted": int(p),
                                      **({} if names is None else {"true_label": names[t], "predicted_label": names[p]})}
                                     for i, t, p in zip(indices, labels, predicted)]

    def finish(self, last, out: Path) -> None:
        final = last.history[-1] if last.history else {}
        best = None if last.best is None else {"epoch": last.best.epoch, "val_acc": last.best.val_acc,
                                                "test_acc": last.history[last.best.epoch - 1].get("test_acc")}
        _emit({"event": "summary", "model": str(out), "epochs": last.epoch, "test_acc": final.get("test_acc"),
               "val_acc": final.get("val_acc"), "best": best, "settings": self.settings, **self.extra})


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
