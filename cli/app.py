"""The ``purenet`` command: parses options and hands them to one module per command.

Only typer is imported at start-up; numpy, rich and the library load inside the
command that needs them, so ``purenet --help`` stays fast. A run setting's default,
help and choices are the library's (``purenet.runs.settings``, a table without numpy),
never written here.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import typing
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from purenet.cli.choices import FRAMEWORKS, choice
from purenet.cli.console import PurenetGroup
from purenet.cli.state import DEFAULT_MODEL_RULE
from purenet.runs.settings import AUGMENTATION_MAGNITUDES, DEFAULTS, PRESET_ALIASES, RECIPES, SETTINGS

app = typer.Typer(
    name="purenet",
    cls=PurenetGroup,
    help="Train and use pure-NumPy neural networks on MNIST-like digits.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DEFAULT_LAYERS = ",".join(map(str, DEFAULTS["layers"]))
MODEL, OPTIMISATION, REGULARISATION, DATA, OUTPUT, SPEED = "Model", "Optimisation", "Regularisation", "Data", "Output", "Speed"
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


def _thread_count(text: str) -> str:
    """--threads as typed, checked (a whole number from 1, or ``auto`` / ``0``) and written as the library reads it."""
    from purenet.apps.threads import parse_threads

    try:
        count = parse_threads(text)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    return "auto" if count is None else str(count)


THREADS_VARIABLE = "PURENET_THREADS"
"""The default of ``--threads`` on every command that computes (the command line wins): a
setting for a whole session, a test suite, or each worker of a pool."""


def threads_option(panel: str | None = None) -> Any:
    """The ``typer.Option`` of ``--threads``, the same on every command that computes."""
    return typer.Option(
        "--threads",
        rich_help_panel=panel,
        parser=_thread_count,
        metavar="N|auto",
        envvar=THREADS_VARIABLE,
        help="BLAS threads: a number, or auto (0) for one per core idle at start (train --resume: the count the run "
             "was trained with); auto leaves the count to OPENBLAS_NUM_THREADS, OMP_NUM_THREADS or MKL_NUM_THREADS "
             "if set, a number wins over them.",
    )


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


def setting(name: str, panel: str | None = None, **more: Any) -> Any:
    """The ``typer.Option`` of the run setting ``name``: its help and choices from purenet.runs.settings,
    and a whole number's least value (``[x>=1]``); ``more`` adds, or changes, what only the command says."""
    known = SETTINGS[name]
    option: dict[str, Any] = {"help": known.help, "rich_help_panel": panel}
    if known.choices:
        option.update(choice(known.choices))
    if type(known.default) is int and known.low is not None:
        option["min"] = int(known.low)
    return typer.Option(**{**option, **more})


def augment_magnitude(help_text: str, show_default: str = "the --augment choice's") -> Any:
    """The ``typer.Option`` of one augmentation magnitude: unset, it is the --augment choice's."""
    return typer.Option(help=help_text, show_default=show_default, rich_help_panel=REGULARISATION)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainRequest:
    """``purenet train``'s options as typed: each field is one option, with its type, help and default."""

    layers: Annotated[str, setting("layers", MODEL)] = DEFAULT_LAYERS
    act: Annotated[str, setting("act", MODEL)] = DEFAULTS["act"]
    loss: Annotated[str, setting("loss", MODEL)] = DEFAULTS["loss"]
    init: Annotated[str, setting("init", MODEL)] = DEFAULTS["init"]
    epochs: Annotated[int, setting(
        "epochs", OPTIMISATION,
        show_default=f"{DEFAULTS['epochs']}; with --resume, the run's own",
    )] = DEFAULTS["epochs"]
    batch_size: Annotated[int, setting("batch_size", OPTIMISATION)] = DEFAULTS["batch_size"]
    lr: Annotated[Optional[float], setting(
        "lr", OPTIMISATION,
        show_default="the optimizer's own; --dry-run shows it",
    )] = DEFAULTS["lr"]
    optimizer: Annotated[str, setting("optimizer", OPTIMISATION)] = DEFAULTS["optimizer"]
    weight_decay: Annotated[float, setting("weight_decay", OPTIMISATION)] = DEFAULTS["weight_decay"]
    schedule: Annotated[str, setting("schedule", OPTIMISATION)] = DEFAULTS["schedule"]
    warmup: Annotated[float, setting("warmup", OPTIMISATION)] = DEFAULTS["warmup"]
    decay_every: Annotated[float, setting("decay_every", OPTIMISATION)] = DEFAULTS["decay_every"]
    gamma: Annotated[float, setting("gamma", OPTIMISATION)] = DEFAULTS["gamma"]
    dropout: Annotated[float, setting("dropout", REGULARISATION)] = DEFAULTS["dropout"]
    label_smoothing: Annotated[float, setting("label_smoothing", REGULARISATION)] = DEFAULTS["label_smoothing"]
    augment: Annotated[str, setting("augment", REGULARISATION)] = DEFAULTS["augment"]
    shift: Annotated[Optional[float], augment_magnitude("With --augment: largest shift in pixels.")] = None
    rotation: Annotated[Optional[float], augment_magnitude("With --augment: largest rotation in degrees.")] = None
    scale: Annotated[Optional[float], augment_magnitude(
        "With --augment: largest relative scaling, a fraction (0.1: up to 10% larger or smaller).")] = None
    elastic_alpha: Annotated[Optional[float], augment_magnitude(
        "With --augment elastic: strength of the distortion.",
        show_default=f"{(AUGMENTATION_MAGNITUDES['elastic'] or {})['elastic_alpha']:g}",
    )] = None
    patience: Annotated[int, setting("patience", REGULARISATION)] = DEFAULTS["patience"]
    preset: Annotated[str, typer.Option(
        help="A named recipe (docs/results.md); options you give win over its settings.",
        rich_help_panel=MODEL,
        **choice(tuple(RECIPES), PRESET_ALIASES),
    )] = "default"
    config: Annotated[Optional[Path], typer.Option(
        help="Start from the settings in this RunConfig JSON file (as `purenet sweep --show` and "
             "`purenet train --dry-run --json` write it); options you give win over them.",
        rich_help_panel=MODEL,
    )] = None
    seed: Annotated[int, setting("seed", DATA)] = DEFAULTS["seed"]
    seeds: Annotated[Optional[str], typer.Option(
        metavar="<seeds>",
        help="Train one run per seed (0,1,2 or a range 0-4), side by side in worker processes, each into its own "
             "checkpoint (--out run.npz: run-s0.npz, run-s1.npz, ...); then each seed's test accuracy, their mean and spread.",
        rich_help_panel=DATA,
    )] = None
    data: Annotated[Optional[Path], setting(
        "data", DATA,
        show_default="data/mnist of this checkout, or $PURENET_DATA",
    )] = DEFAULTS["data"]
    val_fraction: Annotated[float, setting("val_fraction", DATA)] = DEFAULTS["val_fraction"]
    out: Annotated[Optional[Path], typer.Option(
        parser=_file_to_write,
        metavar="<path>",
        help="Checkpoint file, rewritten after every epoch; replaces only a purenet checkpoint.",
        show_default="model.npz; with --resume, the resumed file",
        rich_help_panel=OUTPUT,
    )] = None
    force: Annotated[bool, typer.Option(
        "--force",
        help="Let --out (and --log) replace a file that is not a purenet checkpoint (log).",
        rich_help_panel=OUTPUT,
    )] = False
    log: Annotated[Optional[Path], typer.Option(
        parser=_file_to_write,
        metavar="<path>",
        help="Also write one CSV row per epoch, every figure, to this file; "
             "rewritten after every epoch, and continued on --resume.",
        rich_help_panel=OUTPUT,
    )] = None
    resume: Annotated[Optional[Path], typer.Option(
        help="Continue the run saved in this checkpoint (and save into it, unless --out says otherwise).",
        rich_help_panel=OUTPUT,
    )] = None
    every: Annotated[int, typer.Option(
        min=0,
        help="Also print held-out accuracy every N steps (0: never).",
        rich_help_panel=OUTPUT,
    )] = 0
    show_predictions: Annotated[int, typer.Option(
        min=0,
        help="End by drawing K test digits with their predictions.",
        rich_help_panel=OUTPUT,
    )] = 0
    json_output: Annotated[bool, typer.Option(
        "--json",
        help="Print one JSON object per epoch and a summary, nothing else.",
        rich_help_panel=OUTPUT,
    )] = False
    dry_run: Annotated[bool, typer.Option(
        "--dry-run",
        help="Check the options and show the run's settings (the preset's with yours on top), "
             "then stop without training; with --json, as one JSON object.",
        rich_help_panel=OUTPUT,
    )] = False
    threads: Annotated[str, threads_option(SPEED)] = "auto"


def taking(request: type) -> Callable[[Callable[[Any, frozenset[str]], None]], Callable[..., None]]:
    """Make ``run(request, explicit)`` a command whose options are the fields of the dataclass ``request``.

    Typer reads a command's options from its function's parameters: the command made here
    has the record's fields as its parameters (name, type with its option, default), so each
    option is declared once, as a typed field, and ``run`` gets the record, not a dict of
    names. ``explicit`` names the options the user typed (which win over a preset's settings).
    """
    hints = typing.get_type_hints(request, include_extras=True)
    fields = [inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=field.default, annotation=hints[field.name])
              for field in dataclasses.fields(request)]

    def decorate(run: Callable[[Any, frozenset[str]], None]) -> Callable[..., None]:
        def command(ctx: typer.Context, **given: Any) -> None:
            typed = frozenset(name for name in given if ctx.get_parameter_source(name).name not in ("DEFAULT", "DEFAULT_MAP"))
            run(request(**given), typed)

        context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
        command.__signature__ = inspect.Signature([context, *fields])  # type: ignore[attr-defined]
        command.__name__, command.__doc__ = run.__name__, run.__doc__
        return command

    return decorate


@app.command()
@taking(TrainRequest)
def train(request: TrainRequest, explicit: frozenset[str]) -> None:
    """Train a network and save it as a checkpoint, showing progress and a table of epochs."""
    from purenet.cli.train import run_train

    run_train(request, explicit)


@app.command()
def presets(
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object: each recipe's full settings.")] = False,
) -> None:
    """List the named recipes of `purenet train --preset` and the settings each one changes."""
    from purenet.cli.recipes import show_presets

    show_presets(json_output)


@app.command()
def evaluate(
    model: Annotated[Optional[list[Path]], typer.Argument(
        help="Checkpoint to evaluate; several: their ensemble (probabilities averaged) beside each of them.",
        show_default=DEFAULT_MODEL_RULE,
    )] = None,
    data: Annotated[Optional[Path], typer.Option(
        help="Data to evaluate on (its test part).",
        show_default="the data the model was trained on",
    )] = None,
    json_output: Annotated[bool, typer.Option(
        "--json",
        help="Print one JSON object with accuracy, loss, per-class accuracy and confusion.",
    )] = False,
    report: Annotated[Optional[Path], typer.Option(
        help="Also write PNG pictures here: confusion matrix, misclassified digits, learning curves (needs matplotlib).",
    )] = None,
    force: Annotated[bool, typer.Option("--force", help="Let --report replace pictures purenet did not write.")] = False,
    threads: Annotated[str, threads_option()] = "auto",
) -> None:
    """Measure a trained model: accuracy, loss, per-class accuracy and a confusion matrix (several: an ensemble)."""
    if model and len(model) > 1:
        from purenet.cli.evaluate import run_evaluate_ensemble

        run_evaluate_ensemble(model, data, json_output, report, threads)
        return
    from purenet.cli.evaluate import run_evaluate

    run_evaluate(model[0] if model else None, data, json_output, report, force, threads)


@app.command()
def predict(
    images: Annotated[list[Path], typer.Argument(
        help="Image files or folders (a folder: the image files directly in it, in name order): "
             "PNG, JPEG, BMP...; photos, scans or drawings.",
    )],
    model: Annotated[Optional[list[Path]], typer.Option(
        help="Checkpoint to use; repeated (--model A --model B): an ensemble, their probabilities averaged.",
        show_default=DEFAULT_MODEL_RULE,
    )] = None,
    show: Annotated[bool, typer.Option("--show", help="Draw the 28x28 image the network saw.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object per image.")] = False,
    abstain: Annotated[bool, typer.Option(
        "--abstain/--no-abstain",
        help="Answer \"not sure\" (exit 4) for an input the model's calibration refuses; --no-abstain always answers.",
    )] = True,
) -> None:
    """Read handwritten digits from images: the digit and its top-3 probabilities."""
    from purenet.cli.predict import run_predict

    run_predict(images, model, show, json_output, abstain)


@app.command()
def calibrate(
    model: Annotated[Optional[Path], typer.Argument(
        help="Checkpoint to calibrate (rewritten).", show_default=DEFAULT_MODEL_RULE)] = None,
    data: Annotated[Optional[Path], typer.Option(
        help="Held-out images to calibrate on (their training part), for a run without a validation split.",
        show_default="the run's validation split",
    )] = None,
    score: Annotated[str, typer.Option(help="The score of an input that abstention thresholds.",
                                       **choice(("energy", "maxlogit", "msp")))] = "energy",
    keep: Annotated[float, typer.Option(min=0.5, max=1.0, help="The share of held-out images the threshold keeps.")] = 0.99,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the calibrated checkpoint here.",
                                                show_default="MODEL itself")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object: the calibration.")] = False,
) -> None:
    """Fit a temperature and an abstention threshold on held-out images and keep them in the checkpoint."""
    from purenet.cli.calibrate import run_calibrate

    run_calibrate(model, data, score.lower(), keep, out, json_output)


@app.command()
def download(
    folder: Annotated[Optional[Path], typer.Argument(
        help="Where to put the data set's files.",
        show_default="the default data folder (MNIST), the per-user data folder (the others)",
    )] = None,
    mirror: Annotated[Optional[list[str]], typer.Option(
        help="A mirror URL to try (repeatable), instead of the public ones.",
        show_default="$PURENET_MIRRORS or the public mirrors",
    )] = None,
    data: Annotated[str, typer.Option(
        "--data",
        metavar="NAME",
        help="The data set to fetch, by name (purenet datasets lists them).",
    )] = "mnist",
) -> None:
    """Download MNIST (or another data set by name) from the public mirrors, verifying every file's checksum."""
    from purenet.cli.download import run_download, run_download_named

    if data == "mnist":
        run_download(folder, mirror or ())
    else:
        run_download_named(data, folder, mirror or (), say_kept=True)


@app.command()
def datasets(
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object: every data set's facts.")] = False,
) -> None:
    """List the data sets --data takes by name: classes, sizes, licence, source, and whether they are here."""
    from purenet.cli.datasets import show_datasets

    show_datasets(json_output)


@app.command()
def bench(
    layers: Annotated[str, typer.Option(help="The layer list of the benchmarked network (as train --layers).")] = DEFAULT_LAYERS,
    batch_size: Annotated[int, setting("batch_size", help="Samples per training and inference step.")] = DEFAULTS["batch_size"],
    act: Annotated[str, setting("act", help="Hidden activation.")] = DEFAULTS["act"],
    compare: Annotated[Optional[str], typer.Option(
        help="Also run the same network in another framework.",
        **choice(FRAMEWORKS),
    )] = None,
    seconds: Annotated[float, typer.Option(min=0.01, max=600, help="Seconds per timed run.")] = 1.0,
    repeats: Annotated[int, typer.Option(min=1, max=1000, help="Timed runs per figure (the median is reported).")] = 5,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object with every figure.")] = False,
    threads: Annotated[str, threads_option()] = "auto",
) -> None:
    """Measure training and inference speed, the matmul peak, load time and memory."""
    from purenet.cli.bench import run_bench

    run_bench(layers, batch_size, act, compare, seconds, repeats, json_output, threads)


@app.command()
def export(
    model: Annotated[Optional[list[Path]], typer.Argument(
        help="Checkpoint to export; several: one graph averaging their probabilities (an ensemble).",
        show_default=DEFAULT_MODEL_RULE,
    )] = None,
    out: Annotated[Path, typer.Option(
        "--out", "-o",
        parser=_file_to_write,
        metavar="<path>",
        help="The ONNX file to write; replaces only an ONNX model.",
    )] = Path("model.onnx"),
    force: Annotated[bool, typer.Option("--force", help="Let --out replace a file that is not an ONNX model.")] = False,
) -> None:
    """Save a trained model as an ONNX file, to run it with onnxruntime or any ONNX runtime (needs the onnx extra)."""
    if model and len(model) > 1:
        from purenet.cli.export import run_export_ensemble

        run_export_ensemble(model, out, force)
        return
    from purenet.cli.export import run_export

    run_export(model[0] if model else None, out, force)


@app.command()
def serve(
    model: Annotated[Optional[list[Path]], typer.Option(
        help="Checkpoint to serve; repeated (--model A --model B): an ensemble, their probabilities averaged.",
        show_default=DEFAULT_MODEL_RULE,
    )] = None,
    host: Annotated[str, typer.Option(
        help="Address to listen on; anything but a loopback address lets other machines in.",
    )] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free port, said on stderr).")] = 8000,
    threads: Annotated[str, threads_option()] = "auto",
    abstain: Annotated[bool, typer.Option(
        "--abstain/--no-abstain", help="Answer \"not sure\" for an input the model's calibration refuses.")] = True,
) -> None:
    """A web page to draw or drop a digit and see what the network reads, and its JSON API (needs the serve extra)."""
    from purenet.cli.serve import run_serve

    run_serve(model, host, port, threads, abstain)


@app.command()
def sweep(
    spec: Annotated[Path, typer.Argument(help="The sweep file (TOML): the base preset, the settings to search, the trials "
                                              "(docs/cli.md, purenet sweep).")],
    storage: Annotated[Optional[str], typer.Option(
        help="Where the study lives: any database URL Optuna takes (sqlite:///..., postgresql://...); several "
             "sweeps given the same URL share one study.",
        show_default="sqlite:///SPEC.db beside the sweep file",
    )] = None,
    jobs: Annotated[Optional[int], typer.Option(
        min=1, max=4096,
        help="Trials at a time: local worker processes (with --scheduler: tasks on the cluster).",
        show_default="one per core here; the cluster's threads with --scheduler",
    )] = None,
    scheduler: Annotated[Optional[str], typer.Option(
        metavar="ADDRESS",
        help="Run the trials on a Dask cluster (tcp://host:8786) instead of local processes.",
    )] = None,
    show: Annotated[bool, typer.Option("--show", help="Print the study so far, best first, and write the best trial's "
                                                      "settings (a RunConfig JSON for train --config); run nothing.")] = False,
    plot: Annotated[Optional[Path], typer.Option(
        parser=_file_to_write, metavar="<path>",
        help="Also draw the objective against each searched setting into this picture (.png, .svg, .pdf; needs the plot extra).",
    )] = None,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object per event (with --show: one for the study).")] = False,
    threads: Annotated[str, typer.Option(
        "--threads", parser=_thread_count, metavar="N|auto", envvar=THREADS_VARIABLE,
        help="BLAS threads in each worker (auto: the cores shared out among the local workers, at least 1; "
             "1 on a Dask cluster).",
    )] = "auto",
) -> None:
    """Search a recipe's settings: many training runs scored on a validation split, on Optuna (needs the sweep extra)."""
    from purenet.cli.sweep import run_sweep_command

    run_sweep_command(spec, storage, jobs, scheduler, json_output, show, plot, threads)


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
