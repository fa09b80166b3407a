"""Which model ``evaluate``, ``predict``, ``export`` and ``serve`` use when none is given: the rule users expect.

1. ``model.npz`` in the current folder, the file ``purenet train`` writes by default:
   what is in front of the user wins, as with any tool that reads a file by default;
2. else the last checkpoint ``purenet train`` wrote, wherever it was, remembered in
   the per-user state folder (platformdirs: ``$XDG_STATE_HOME/purenet/last-model``,
   ``~/.local/state`` by default, on Linux; the platform's own place elsewhere).

The state file is one line, the absolute path, written atomically. Losing it is
harmless, and a state file that is not ours to read (binary, huge, a folder, a
relative or missing path) is ignored (a FIFO or device there is not even opened): the command then
asks for a model. A remembered model that was deleted or moved since is named when the command asks for one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, NamedTuple, Optional

from purenet.io.reading import open_regular
from purenet.io.writing import atomic_write

DEFAULT_MODEL = Path("model.npz")
DEFAULT_MODEL_RULE = "model.npz in the current folder, else the last model purenet train wrote"
"""The rule above in words: every command's --help shows it as its model's default."""
MAX_STATE_BYTES = 4096
"""A longer state file is not one purenet wrote: ignored, not read whole."""


class Found(NamedTuple):
    """The model a command will use, and why that one (said in the command's note)."""

    path: Path
    why: str


def state_file() -> Path:
    """Where the last model's path is remembered."""
    from platformdirs import user_state_dir

    return Path(user_state_dir("purenet", appauthor=False)) / "last-model"


def remember_model(path: Path) -> None:
    """Record ``path`` as the last model written; failures to record are ignored."""
    try:
        state = state_file()
        if os.path.islink(state) or (os.path.lexists(state) and not os.path.isfile(state)):
            return  # a link or a special file there is not ours to write through or replace
        if os.path.lexists(state) and os.path.samefile(state, path):
            return  # the model itself was written there: never replace it with its own path
        state.parent.mkdir(parents=True, exist_ok=True)
        line = f"{Path(path).resolve()}\n".encode()

        def write(handle: BinaryIO) -> None:
            handle.write(line)

        atomic_write(state, write)
    except (OSError, ValueError):
        pass


def remembered_model() -> Optional[Path]:
    """The path in the state file, if it is one purenet wrote and the file is still there."""
    remembered = recorded_model()
    if remembered is not None and remembered.is_file():
        return remembered
    return None


def recorded_model() -> Optional[Path]:
    """The path in the state file, if it is one purenet wrote, whether or not the file is still there."""
    try:
        with open_regular(state_file()) as handle:  # never blocks: a FIFO or device there is not opened
            text = handle.read(MAX_STATE_BYTES + 1)
        if len(text) > MAX_STATE_BYTES:
            return None
        line = text.decode("utf-8").strip()
        if "\x00" in line or "\n" in line:  # one line and a path: not a file purenet wrote
            return None
        remembered = Path(line)
        if remembered.is_absolute():
            return remembered
    except (OSError, ValueError):  # missing, a folder, unreadable, not UTF-8, a NUL byte in it
        pass
    return None


def last_model() -> Optional[Found]:
    """./model.npz if there is one; else the last model ``purenet train`` wrote; else None."""
    if DEFAULT_MODEL.is_file():
        return Found(DEFAULT_MODEL, "found in the current folder")
    remembered = remembered_model()
    if remembered is not None:
        return Found(remembered, "the last model purenet train wrote; no model.npz in the current folder")
    return None
