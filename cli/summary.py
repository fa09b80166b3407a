"""``purenet summary``: a network's layers, output shapes, parameter counts and memory.

The command of a model file (``purenet summary model.npz``) or of a layer list
(``purenet summary --layers 784,200,10``, nothing drawn); the numbers are
``purenet.core.summary``'s record, rendered with rich or printed as one JSON object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer


def summary(
    model: Annotated[Optional[Path], typer.Argument(help="Checkpoint to describe.", show_default="model.npz here, else the last model purenet train wrote")] = None,
    layers: Annotated[Optional[str], typer.Option(help="Describe this layer list instead of a model, e.g. 784,200,10 or conv32k5,pool2,256,10 (as train --layers).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object: the totals and one object per layer.")] = False,
) -> None:
    """Show a network's layers, output shapes, parameter counts and memory (as Keras' model.summary())."""
    run_summary(model, layers, json_output)


def run_summary(model: Optional[Path], layers: Optional[str], json_output: bool) -> None:
    from purenet.cli.console import fail, say

    if model is not None and layers is not None:
        fail("give a model or --layers, not both")
    described, about, note = _layer_list(layers) if layers is not None else _model(model)
    if note:
        say(note)
    if json_output:
        print(json.dumps({"model": about.get("model"), "act": about.get("act"), "loss": about.get("loss"),
                          **described.to_json()}))
        return
    _render(described, about)


def _layer_list(layers: str):
    """The summary of ``--layers``, checked as ``purenet train --layers`` checks it."""
    from purenet.cli.console import fail
    from purenet.cli.recipes import config_error_message
    from purenet.core.summary import summary as summarise
    from purenet.runs.config import ConfigError, parse_layers

    try:
        tokens = parse_layers(layers)
    except ConfigError as error:
        fail(config_error_message(error))
    return summarise(tokens), {}, None


def _model(model: Optional[Path]):
    """The summary of a checkpoint: the one given, else the one every command picks."""
    from purenet.cli.models import open_model
    from purenet.core.summary import summary as summarise

    path, checkpoint, note = open_model(model)
    arch = checkpoint.model.arch
    return summarise(checkpoint.model), {"model": str(path), "act": arch.act, "loss": arch.loss}, note


def _render(described, about: dict) -> None:
    from rich.table import Table

    from purenet.cli.console import stdout_console
    from purenet.runs.settings import DEFAULTS

    console = stdout_console()
    network = ",".join(str(token) for token in described.layers)
    if about:
        console.print(f"{about['model']}: {network}, {about['act']} hidden units, {about['loss']} loss, {described.dtype}")
    else:
        console.print(f"{network} ({described.dtype} weights)")
    table = Table("#", "layer", "output shape", "parameters", "output per sample", title_justify="left")
    for column in table.columns[3:]:
        column.justify = "right"
    table.add_row("", "input", _shape(described.input_shape), "", "")
    for number, row in enumerate(described.rows, start=1):
        name = f"{row.kind} (inserted)" if row.token is None else f"dense {row.token}" if isinstance(row.token, int) else row.token
        table.add_row(str(number), name, _shape(row.output_shape), f"{row.parameters:,}", _bytes(row.output_bytes))
    console.print(table)
    console.print(f"parameters: {described.parameters:,} ({_bytes(described.parameter_bytes)})")
    batch = DEFAULTS["batch_size"]  # purenet train's
    console.print(f"activations: {_bytes(described.activation_bytes)} per sample in a forward pass "
                  f"({_bytes(batch * described.activation_bytes)} for a batch of {batch})")


def _shape(shape: tuple[int, ...]) -> str:
    return "(N, " + ", ".join(str(n) for n in shape) + ")"


def _bytes(count: int) -> str:
    """Binary units, as memory is counted: 3.3 MiB."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"
