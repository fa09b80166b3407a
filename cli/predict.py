"""``purenet predict``: photos of handwritten digits -> the digit and its probabilities.

Every input is answered or reported, in the order given, and nothing stops at a bad
one: each readable image gets its answer on stdout (a line, or one JSON object with
--json), each one that cannot be read one line ``purenet: error: PATH: problem`` on
stderr, and the exit code is 2 if any failed. A folder stands for the regular,
non-hidden image files directly in it, in name order. Nothing that is not a regular
file (a FIFO, a socket, a device) is opened for reading, so nothing blocks.
Something odd about an image that was read all the same (damaged EXIF data, a very
large image) is one line ``purenet: warning: PATH: message``.

A model with a calibration (``purenet calibrate``, or ``purenet train --val-fraction``)
answers "not sure", with its best guess and its probability, for an input that scores
below its threshold; the exit code is then 4 (2 still wins when an image failed).
``--no-abstain`` answers every input as before, exit 0.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Iterator, Optional, Sequence

from purenet.base.mnist import SIDE, check_reads_digits
from purenet.cli.console import EXIT_USER_ERROR, color_output, fail, say, stdout_console
from purenet.cli.models import open_models
from purenet.core.records import Params
from purenet.photo.prepare import ImageError
from purenet.photo.recognise import DigitPrediction, predict_image
from purenet.runs.checkpoint import is_checkpoint

TOP = 3
EXIT_NOT_SURE = 4
"""The exit code when every image was read but at least one was answered "not sure"."""


def run_predict(images: Sequence[Path], model: Optional[Path] | Sequence[Path], show: bool, json_output: bool,
                abstain: bool = True) -> None:
    """Answer every readable image; each one that cannot be read gets one line on stderr, and exit 2 at the end.

    The model is checked before any image is read, and a checkpoint among the images
    (``purenet predict model.npz photo.png``) is a mistake said at once. Several models
    (``--model A --model B``) read each image as an ensemble: their probabilities averaged."""
    for given in images:
        if _is_checkpoint_file(given):
            fail(f"{given} is a purenet checkpoint, not an image; give it with --model: "
                 f"purenet predict --model {given} IMAGE...")
    path, params, checkpoint, note = open_models(model)
    problem = check_reads_digits((params if isinstance(params, Params) else params[0]).arch.inputs)
    if problem is not None:
        fail(f"{path}: {problem} (give --model a checkpoint trained on {SIDE}x{SIDE} images)")
    if note:
        say(note)
    console = None if json_output else stdout_console()
    calibration = checkpoint.calibration if abstain else None
    failed = unsure = False
    for path, problem in _inputs(images):
        if problem is not None:
            _say("error", problem)
            failed = True
            continue
        warned: list[str] = []
        try:
            answer = predict_image(params, path, warned=warned, calibration=calibration, classes=checkpoint.class_names)
        except ImageError as error:
            _say("error", str(error))
            failed = True
            continue
        for message in warned:
            _say("warning", message)
        _report(console, path, answer, show)
        unsure = unsure or not answer.sure
    if failed or unsure:
        import typer

        raise typer.Exit(EXIT_USER_ERROR if failed else EXIT_NOT_SURE)


def _inputs(images: Sequence[Path]) -> Iterator[tuple[Path, Optional[str]]]:
    """Each image to read, with None, or with the problem that keeps it from being read.

    A folder gives the image files directly in it (``_folder_images``); anything else is
    given as it is, for ``load_digit_image`` to read or refuse (it stats before opening)."""
    for path in images:
        try:
            is_folder = stat.S_ISDIR(os.stat(path).st_mode)
        except (OSError, ValueError):
            is_folder = False  # missing or unusable: load_digit_image says which
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


def _is_checkpoint_file(path: Path) -> bool:
    """Whether ``path`` is a regular file holding a purenet checkpoint (nothing else is opened)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode) and is_checkpoint(path)
    except (OSError, ValueError):
        return False


def _report(console, path: Path, answer: DigitPrediction, show: bool) -> None:
    ranked = answer.top(TOP)
    if console is None:
        print(json.dumps(answer_json(path, answer, ranked)), flush=True)
        return
    alternatives = ", ".join(f"{answer.name(k)} {100 * p:.1f}%" for k, p in ranked)
    said = answer.label if answer.sure else f"not sure (best guess {answer.label}, {100 * ranked[0][1]:.1f}%)"
    console.print(f"{_printable(str(path))}: {said}   ({alternatives})", markup=False)
    digit = answer.image
    if show:
        from purenet.cli.console import can_show
        from purenet.cli.digits import BLOCKS, digit_rows

        for line in digit_rows(digit, color=color_output(), ascii_only=not can_show(BLOCKS, console)):
            console.print(line)


def answer_json(path: Path, answer: DigitPrediction, ranked: list[tuple[int, float]]) -> dict:
    """One image's --json object: ``digit`` the best guess's index, ``label`` its name, ``sure``
    false for "not sure", ``score`` the calibration's score of the input (null without one)."""
    return {"file": str(path), "digit": answer.digit, "label": answer.label, "sure": answer.sure, "score": answer.score,
            "probabilities": [float(p) for p in answer.probabilities],
            "top": [{"digit": k, "label": answer.name(k), "probability": p} for k, p in ranked]}
