"""The ``purenet`` command: parses options and hands them to one module per command.

Only typer is imported at start-up; numpy, rich and the library load inside the
command that needs them, so ``purenet --help`` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from purenet.cli.choices import (ACTIVATIONS, AUGMENTATIONS, FRAMEWORKS, INIT_SCHEMES, LOSSES, OPTIMIZERS, PRESET_ALIASES,
                                 PRESETS, SCHEDULES, choice)
from purenet.cli.console import PurenetGroup
from purenet.cli.state import DEFAULT_MODEL_RULE

app = typer.Typer(
    name="purenet",
    cls=PurenetGroup,
    help="Train and use pure-NumPy neural networks on MNIST-like digits.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DEFAULT_LAYERS = "784,200,200,10"
MODEL, OPTIMISATION, REGULARISATION, DATA, OUTPUT = "Model", "Optimisation", "Regularisation", "Data", "Output"
"""The panels of `purenet train --help`, the groups of docs/cli.md."""


def _file_to_write(text: str | Path) -> Path:
    """An output file's name as typed: a trailing slash, '.' or '..' names a folder (Path would
    drop a slash or a '.', and the file would silently take the folder's name)."""
    if isinstance(text, str) and text.endswith(("/", os.sep)):
        raise typer.BadParameter(f"{text} ends with '/', so it names a folder; give a file name (e.g. {text}model.npz)")
    if isinstance(text, str) and os.path.basename(text) in (".", ".."):
        raise typer.BadParameter(f"{text} ends with '{os.path.basename(text)}', so it names a folder; give a file name "
                                 f"(e.g. {os.path.join(text, 'model.npz')})")
    return Path(text)


def _show_version(asked: bool) -> None:
    if asked:
        from purenet import __version__  # the installed metadata's

        typer.echo(f"purenet {__version__}")
        raise typer.Exit()


@app.callback()
def purenet(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True, expose_value=False,
                                          help="Show purenet's version and exit.")] = False,
) -> None:
    """Train and use pure-NumPy neural networks on MNIST-like digits.

    Start with `purenet train`, then `purenet predict my-digit.jpg`.
    """


@app.command()
def train(
    ctx: typer.Context,
    layers: Annotated[str, typer.Option(help="The layer list, input first: widths and layer names, e.g. 784,200,200,10 or conv32k5,pool2,256,10 (docs/cli.md, Layer lists).", rich_help_panel=MODEL)] = DEFAULT_LAYERS,
    act: Annotated[str, typer.Option(help="Activation of the hidden layers.", rich_help_panel=MODEL, **choice(ACTIVATIONS))] = "relu",
    loss: Annotated[str, typer.Option(help="ce: softmax + cross-entropy; mse: sigmoid outputs + squared error.", rich_help_panel=MODEL, **choice(LOSSES))] = "ce",
    init: Annotated[str, typer.Option(help="Weight initialisation (auto: he for relu-like units, else xavier).", rich_help_panel=MODEL, **choice(INIT_SCHEMES))] = "auto",
    epochs: Annotated[int, typer.Option(min=1, help="Epochs to train (with --resume: the total to reach).", show_default="20; with --resume, the run's own", rich_help_panel=OPTIMISATION)] = 20,
    batch_size: Annotated[int, typer.Option(min=1, help="Samples per step; 1 is per-sample SGD.", rich_help_panel=OPTIMISATION)] = 128,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate (the peak, with a schedule).", show_default="sgd 0.1, momentum 0.05, adam 0.003", rich_help_panel=OPTIMISATION)] = None,
    optimizer: Annotated[str, typer.Option(help="The update rule.", rich_help_panel=OPTIMISATION, **choice(OPTIMIZERS))] = "adam",
    weight_decay: Annotated[float, typer.Option(help="L2 weight decay on the weights.", rich_help_panel=OPTIMISATION)] = 0.0,
    schedule: Annotated[str, typer.Option(help="Learning-rate schedule.", rich_help_panel=OPTIMISATION, **choice(SCHEDULES))] = "step",
    warmup: Annotated[float, typer.Option(help="Epochs of linear learning-rate warm-up.", rich_help_panel=OPTIMISATION)] = 0.0,
    decay_every: Annotated[float, typer.Option(help="With --schedule step: epochs between decays.", rich_help_panel=OPTIMISATION)] = 1.0,
    gamma: Annotated[float, typer.Option(help="With --schedule step: the factor of each decay, 0 to 1.", rich_help_panel=OPTIMISATION)] = 0.85,
    dropout: Annotated[float, typer.Option(help="Drop each hidden unit with this probability while training (0 to 0.95).", rich_help_panel=REGULARISATION)] = 0.0,
    augment: Annotated[str, typer.Option(help="Augment training batches: mild (shift 1, rotate 8, scale 0.08), affine (2, 10, 0.1) or elastic (affine + Simard's elastic distortion).", rich_help_panel=REGULARISATION, **choice(AUGMENTATIONS))] = "mild",
    shift: Annotated[Optional[float], typer.Option(help="With --augment: largest shift in pixels.", show_default="the --augment choice's", rich_help_panel=REGULARISATION)] = None,
    rotation: Annotated[Optional[float], typer.Option(help="With --augment: largest rotation in degrees.", show_default="the --augment choice's", rich_help_panel=REGULARISATION)] = None,
    scale: Annotated[Optional[float], typer.Option(help="With --augment: largest relative scaling (0 to 0.9).", show_default="the --augment choice's", rich_help_panel=REGULARISATION)] = None,
    elastic_alpha: Annotated[Optional[float], typer.Option(help="With --augment elastic: strength of the distortion.", show_default="34", rich_help_panel=REGULARISATION)] = None,
    patience: Annotated[int, typer.Option(min=0, help="Stop after N epochs without a better validation accuracy, keeping the best (0: never).", rich_help_panel=REGULARISATION)] = 0,
    preset: Annotated[str, typer.Option(help="A named recipe (docs/results.md); options you give win over its settings.", rich_help_panel=MODEL, **choice(PRESETS, PRESET_ALIASES))] = "default",
    seed: Annotated[int, typer.Option(min=0, help="Seed (>= 0) for init, split, shuffling, dropout and augmentation.", rich_help_panel=DATA)] = 0,
    data: Annotated[Optional[Path], typer.Option(help="MNIST data: IDX folder, CSV, .npz or image folders.", show_default="data/mnist of this checkout, or $PURENET_DATA", rich_help_panel=DATA)] = None,
    val_fraction: Annotated[float, typer.Option(help="Hold this fraction (0 to 0.9) of the training set out for validation.", rich_help_panel=DATA)] = 0.0,
    out: Annotated[Optional[Path], typer.Option(parser=_file_to_write, metavar="<path>", help="Checkpoint file, rewritten after every epoch; replaces only a purenet checkpoint.", show_default="model.npz; with --resume, the resumed file", rich_help_panel=OUTPUT)] = None,
    force: Annotated[bool, typer.Option("--force", help="Let --out (and --log) replace a file that is not a purenet checkpoint (log).", rich_help_panel=OUTPUT)] = False,
    log: Annotated[Optional[Path], typer.Option(parser=_file_to_write, metavar="<path>", help="Also write one CSV row per epoch, every figure, to this file; rewritten after every epoch, and continued on --resume.", rich_help_panel=OUTPUT)] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue the run saved in this checkpoint (and save into it, unless --out says otherwise).", rich_help_panel=OUTPUT)] = None,
    every: Annotated[int, typer.Option(min=0, help="Also print held-out accuracy every N steps (0: never).", rich_help_panel=OUTPUT)] = 0,
    show_predictions: Annotated[int, typer.Option(min=0, help="End by drawing K test digits with their predictions.", rich_help_panel=OUTPUT)] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object per epoch and a summary, nothing else.", rich_help_panel=OUTPUT)] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the options and show the run's settings (the preset's with yours on top), then stop without training; with --json, as one JSON object.", rich_help_panel=OUTPUT)] = False,
) -> None:
    """Train a network and save it as a checkpoint, showing progress and a table of epochs."""
    options = {name: value for name, value in locals().items() if name != "ctx"}
    explicit = frozenset(name for name in options if ctx.get_parameter_source(name).name not in ("DEFAULT", "DEFAULT_MAP"))
    from purenet.cli.train import run_train

    run_train(options, explicit)


@app.command()
def presets(
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object: each recipe's full settings.")] = False,
) -> None:
    """List the named recipes of `purenet train --preset` and the settings each one changes."""
    from purenet.cli.recipes import show_presets

    show_presets(json_output)


@app.command()
def evaluate(
    model: Annotated[Optional[Path], typer.Argument(help="Checkpoint to evaluate.", show_default=DEFAULT_MODEL_RULE)] = None,
    data: Annotated[Optional[Path], typer.Option(help="Data to evaluate on (its test part).", show_default="the data the model was trained on")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object with accuracy, loss, per-class accuracy and confusion.")] = False,
    report: Annotated[Optional[Path], typer.Option(help="Also write PNG pictures here: confusion matrix, misclassified digits, learning curves (needs matplotlib).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Let --report replace pictures purenet did not write.")] = False,
) -> None:
    """Measure a trained model: accuracy, loss, per-class accuracy and a confusion matrix."""
    from purenet.cli.evaluate import run_evaluate

    run_evaluate(model, data, json_output, report, force)


@app.command()
def predict(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders (a folder: the image files directly in it, in name order): PNG, JPEG, BMP...; photos, scans or drawings.")],
    model: Annotated[Optional[Path], typer.Option(help="Checkpoint to use.", show_default=DEFAULT_MODEL_RULE)] = None,
    show: Annotated[bool, typer.Option("--show", help="Draw the 28x28 image the network saw.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object per image.")] = False,
) -> None:
    """Read handwritten digits from images: the digit and its top-3 probabilities."""
    from purenet.cli.predict import run_predict

    run_predict(images, model, show, json_output)


@app.command()
def download(
    folder: Annotated[Optional[Path], typer.Argument(help="Where to put the four MNIST files.", show_default="the default data folder")] = None,
    mirror: Annotated[Optional[list[str]], typer.Option(help="A mirror URL to try (repeatable), instead of the public ones.", show_default="$PURENET_MIRRORS or the public mirrors")] = None,
) -> None:
    """Download MNIST from the public mirrors, verifying every file's checksum."""
    from purenet.cli.download import run_download

    run_download(folder, mirror or ())


@app.command()
def bench(
    layers: Annotated[str, typer.Option(help="The layer list of the benchmarked network (as train --layers).")] = DEFAULT_LAYERS,
    batch_size: Annotated[int, typer.Option(min=1, help="Samples per training and inference step.")] = 128,
    act: Annotated[str, typer.Option(help="Hidden activation.", **choice(ACTIVATIONS))] = "relu",
    compare: Annotated[Optional[str], typer.Option(help="Also run the same network in another framework.", **choice(FRAMEWORKS))] = None,
    seconds: Annotated[float, typer.Option(min=0.01, max=600, help="Seconds per timed run.")] = 1.0,
    repeats: Annotated[int, typer.Option(min=1, max=1000, help="Timed runs per figure (the median is reported).")] = 5,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object with every figure.")] = False,
) -> None:
    """Measure training and inference speed, the matmul peak, load time and memory."""
    from purenet.cli.bench import run_bench

    run_bench(layers, batch_size, act, compare, seconds, repeats, json_output)


@app.command()
def export(
    model: Annotated[Optional[Path], typer.Argument(help="Checkpoint to export.", show_default=DEFAULT_MODEL_RULE)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", parser=_file_to_write, metavar="<path>", help="The ONNX file to write; replaces only an ONNX model.")] = Path("model.onnx"),
    force: Annotated[bool, typer.Option("--force", help="Let --out replace a file that is not an ONNX model.")] = False,
) -> None:
    """Save a trained model as an ONNX file, to run it with onnxruntime or any ONNX runtime (needs the onnx extra)."""
    from purenet.cli.export import run_export

    run_export(model, out, force)


@app.command()
def serve(
    model: Annotated[Optional[Path], typer.Option(help="Checkpoint to serve.", show_default=DEFAULT_MODEL_RULE)] = None,
    host: Annotated[str, typer.Option(help="Address to listen on; anything but a loopback address lets other machines in.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free port, said on stderr).")] = 8000,
) -> None:
    """A web page to draw or drop a digit and see what the network reads, and its JSON API (needs the serve extra)."""
    from purenet.cli.serve import run_serve

    run_serve(model, host, port)


from purenet.cli.summary import summary  # noqa: E402 - its options live beside it; it imports only typer here

app.command()(summary)


def main() -> None:
    """What the ``purenet`` console script runs (``purenet.cli.entry`` loads it, a stop signal meanwhile ending it in one line).

    Before any command, the program makes a process-wide choice: glibc's malloc
    keeps freed memory for the next training step (``purenet.apps.allocator.tune_malloc``;
    ``PURENET_TUNE_MALLOC=0`` opts out). Importing the library never does this.
    """
    from purenet.apps.allocator import tune_malloc
    from purenet.cli.console import the_process_is_the_command
    from purenet.cli.streams import guard_output_streams

    guard_output_streams()  # a full disk, a closed stdout or stderr: one line and exit 74, not a traceback
    tune_malloc()
    the_process_is_the_command()
    app()


if __name__ == "__main__":
    main()
