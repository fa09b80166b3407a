"""``purenet predict``: photos of handwritten digits -> the digit and its probabilities.

Every input is answered or reported, in the order given, and nothing stops at a bad
one: each readable image gets its answer on stdout (a line, or one JSON object with
--json), each one that cannot be read one line ``purenet: error: PATH: problem`` on
stderr, and the exit code is 2 if any failed. A folder stands for the regular,
non-hidden image files directly in it, in name order. Nothing that is not a regular
file (a FIFO, a socket, a device) is opened for reading, so nothing blocks.
Something odd about an image that was read all the same (damaged EXIF data, a very
large image) is one line ``purenet: warning: PATH: message``.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np

from purenet.cli.console import EXIT_USER_ERROR, fail, plain_output, say, stdout_console
from purenet.cli.models import open_model
from purenet.image import ImageError, load_digit
from purenet.network import predict

TOP = 3


def run_predict(images: Sequence[Path], model: Optional[Path], show: bool, json_output: bool) -> None:
    """Answer every readable image; each one that cannot be read gets one line on stderr, and exit 2 at the end.

    The model is checked before any image is read."""
    path, checkpoint, note = open_model(model)
    params = checkpoint.model
    if params.arch.inputs != 784:
        fail(f"{path}: the model reads {params.arch.inputs} pixels per image; predict prepares 28x28 = 784 "
             "(give --model a checkpoint trained on 28x28 images)")
    if note:
        say(note)
    console = None if json_output else stdout_console()
    failed = False
    for path, problem in _inputs(images):
        if problem is not None:
            _say("error", problem)
            failed = True
            continue
        warned: list[str] = []
        try:
            digit = load_digit(path, warned)
        except ImageError as error:
            _say("error", str(error))
            failed = True
            continue
        for message in warned:
            _say("warning", message)
        probabilities = predict(params, digit.reshape(1, -1).astype(np.float32) / 255)[0]
        _report(console, path, digit, probabilities, show)
    if failed:
        import typer

        raise typer.Exit(EXIT_USER_ERROR)


def _inputs(images: Sequence[Path]) -> Iterator[tuple[Path, Optional[str]]]:
    """Each image to read, with None, or with the problem that keeps it from being read.

    A folder gives the image files directly in it (``_folder_images``); anything else is
    given as it is, for ``load_digit`` to read or refuse (it stats before opening)."""
    for path in images:
        try:
            is_folder = stat.S_ISDIR(os.stat(path).st_mode)
        except (OSError, ValueError):
            is_folder = False  # missing or unusable: load_digit says which
        if not is_folder:
            yield path, None
            continue
        try:
            found = _folder_images(path)
        except OSError as error:
            yield path, f"{path}: cannot list this folder ({error.strerror or error})"
            continue
        if not found:
            yield path, f"{path}: a folder with no image files in it (PNG, JPEG, BMP, GIF, TIFF, WebP...)"
        for name in found:
            yield path / name, None


def _folder_images(folder: Path) -> list[str]:
    """The names, sorted, of the regular, non-hidden files directly in ``folder`` whose
    extension is one Pillow reads (others, like a README or a manifest, are left out)."""
    suffixes = _image_suffixes()
    with os.scandir(folder) as entries:
        return sorted(entry.name for entry in entries
                      if not entry.name.startswith(".") and os.path.splitext(entry.name)[1].lower() in suffixes
                      and entry.is_file())  # a regular file, or a link to one: no FIFO, socket, device or folder


def _image_suffixes() -> frozenset[str]:
    """The file extensions (".png", ".jpg"...) of the formats Pillow can open."""
    from PIL import Image

    Image.init()
    return frozenset(suffix for suffix, kind in Image.registered_extensions().items() if kind in Image.OPEN)


def _say(kind: str, message: str) -> None:
    """One line ``purenet: KIND: message`` on stderr."""
    print(f"purenet: {kind}: {_printable(message)}", file=sys.stderr, flush=True)


def _printable(text: str) -> str:
    """``text`` on one line and encodable: line breaks in file names shown as \\n, bytes of
    names that are not UTF-8 as \\xNN."""
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that no file name decodes to
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _report(console, path: Path, digit: np.ndarray, probabilities: np.ndarray, show: bool) -> None:
    ranked = np.argsort(probabilities)[::-1][:TOP]
    if console is None:
        print(json.dumps({"file": str(path), "digit": int(ranked[0]), "probabilities": [float(p) for p in probabilities],
                          "top": [{"digit": int(k), "probability": float(probabilities[k])} for k in ranked]}), flush=True)
        return
    alternatives = ", ".join(f"{k} {100 * probabilities[k]:.1f}%" for k in ranked)
    console.print(f"{_printable(str(path))}: {ranked[0]}   ({alternatives})", markup=False)
    if show:
        from purenet.cli.digits import digit_rows

        for line in digit_rows(digit, color=not plain_output()):
            console.print(line)
