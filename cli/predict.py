"""``purenet predict``: photos of handwritten digits -> the digit and its probabilities."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from purenet.cli.console import EXIT_USER_ERROR, fail, plain_output, stdout_console
from purenet.cli.evaluate import open_checkpoint, resolve_model
from purenet.image import ImageError, load_digit
from purenet.network import predict

TOP = 3


def run_predict(images: Sequence[Path], model: Optional[Path], show: bool, json_output: bool) -> None:
    """Read every image; a file that cannot be read gets one line on stderr and exit 2 at the end."""
    params = open_checkpoint(resolve_model(model)).model
    if params.arch.sizes[0] != 784:
        fail(f"the model reads {params.arch.sizes[0]} pixels per image; predict prepares 28x28 = 784")
    console = None if json_output else stdout_console()
    failed = False
    for path in images:
        try:
            digit = load_digit(path)
        except ImageError as error:
            print(f"purenet: error: {error}", file=sys.stderr, flush=True)
            failed = True
            continue
        probabilities = predict(params, digit.reshape(1, -1).astype(np.float32) / 255)[0]
        _report(console, path, digit, probabilities, show)
    if failed:
        import typer

        raise typer.Exit(EXIT_USER_ERROR)


def _report(console, path: Path, digit: np.ndarray, probabilities: np.ndarray, show: bool) -> None:
    ranked = np.argsort(probabilities)[::-1][:TOP]
    if console is None:
        print(json.dumps({"file": str(path), "digit": int(ranked[0]), "probabilities": [float(p) for p in probabilities],
                          "top": [{"digit": int(k), "probability": float(probabilities[k])} for k in ranked]}), flush=True)
        return
    alternatives = ", ".join(f"{k} {100 * probabilities[k]:.1f}%" for k in ranked)
    console.print(f"{path}: {ranked[0]}   ({alternatives})")
    if show:
        from purenet.cli.digits import digit_rows

        for line in digit_rows(digit, color=not plain_output()):
            console.print(line)
