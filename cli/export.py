"""``purenet export``: a checkpoint as an ONNX model, to run the network outside purenet.

The onnx package is an optional extra; without it the command says so in one line.
Every check (the extra, the checkpoint, the output path, every layer's export) runs
before the file is written, and the file is written atomically: a refused or failed
export leaves nothing behind, and neither does one stopped by a signal (Ctrl-C,
SIGTERM): the file appears whole, or not at all, and once it has, the export is done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from purenet.cli.console import fail, ignore_stop_signals, say
from purenet.cli.extras import needs_extra
from purenet.cli.models import open_members, open_model, trained_on


def run_export(model: Optional[Path], out: Path, force: bool) -> None:
    """Write the checkpoint ``model`` (default: ./model.npz, else the last one trained) as an ONNX model at ``out``."""
    try:
        import onnx  # noqa: F401 - only to know the extra is installed, before any other work
    except ImportError:
        fail(needs_extra("purenet export", "onnx"))
    from purenet.apps.export import OPSET, ExportError, check_output, save_onnx, to_onnx
    from purenet.io.outputs import WriteRefused, check_not_input

    path, checkpoint, note = open_model(model)
    try:
        check_not_input(out, read_by_export(path, checkpoint), option="--out")
        check_output(out, force=force)
        exported = to_onnx(checkpoint.model, classes=checkpoint.class_names, data_name=checkpoint.data_name)
    except WriteRefused as error:
        fail(str(error))
    except ExportError as error:
        fail(f"{path}: {error}")
    if note:
        say(note)
    try:
        save_onnx(out, exported, force=force)  # atomic: a signal before its rename leaves nothing of it
    except WriteRefused as error:  # the file changed since the check
        fail(str(error))
    except OSError as error:  # a full disk, a quota, a read-only file system: atomic_write left nothing
        fail(f"{out}: cannot write the ONNX model ({error.strerror or error}); nothing was written")
    ignore_stop_signals()  # written whole: a signal now would only report a finished export as stopped
    arch = checkpoint.model.arch
    network = "-".join(str(n) for n in arch.layers)
    print(f"{out}: ONNX opset {OPSET}, {network} {arch.act}, {arch.loss} loss; "
          f"input pixels (N, {arch.inputs}) float32 in [0, 1], output probabilities (N, {arch.classes})", flush=True)


def run_export_ensemble(models: Sequence[Path], out: Path, force: bool) -> None:
    """Write the checkpoints ``models`` as one ONNX model at ``out`` that averages their probabilities."""
    try:
        import onnx  # noqa: F401 - only to know the extra is installed, before any other work
    except ImportError:
        fail(needs_extra("purenet export", "onnx"))
    from purenet.apps.export import OPSET, ExportError, check_output, save_onnx, to_onnx_ensemble
    from purenet.io.outputs import WriteRefused, check_not_input

    members, checkpoints = open_members(models)
    try:
        check_not_input(out, [item for path, checkpoint in zip(models, checkpoints) for item in read_by_export(path, checkpoint)],
                        option="--out")
        check_output(out, force=force)
        exported = to_onnx_ensemble(members, classes=checkpoints[0].class_names, data_name=checkpoints[0].data_name)
    except WriteRefused as error:
        fail(str(error))
    except ExportError as error:
        fail(f"{', '.join(map(str, models))}: {error}")
    try:
        save_onnx(out, exported, force=force)
    except WriteRefused as error:
        fail(str(error))
    except OSError as error:
        fail(f"{out}: cannot write the ONNX model ({error.strerror or error}); nothing was written")
    ignore_stop_signals()
    first = members[0].arch
    print(f"{out}: ONNX opset {OPSET}, an ensemble of {len(members)} networks, their probabilities averaged; "
          f"input pixels (N, {first.inputs}) float32 in [0, 1], output probabilities (N, {first.classes})", flush=True)


def read_by_export(model: Path, checkpoint) -> list[tuple[Optional[str], str]]:
    """What the output must never be or be inside: the checkpoint exported, and its run's data."""
    return [(str(model), "the checkpoint being exported"), (trained_on(checkpoint), "the model's training data")]
