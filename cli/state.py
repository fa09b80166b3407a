"""Remembering the last checkpoint ``purenet train`` wrote, for ``predict`` and ``evaluate``.

The path lives in ``$XDG_STATE_HOME/purenet/last-model`` (``~/.local/state`` by
default): one line, the absolute path, written atomically. Losing it is harmless:
commands then ask for ``--model`` or fall back to ``model.npz`` in the current folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from purenet.files import atomic_write

DEFAULT_MODEL = Path("model.npz")


def _state_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "purenet" / "last-model"


def remember_model(path: Path) -> None:
    """Record ``path`` as the last model written; failures to record are ignored."""
    try:
        state = _state_file()
        state.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(state, lambda handle: handle.write(f"{Path(path).resolve()}\n".encode()))
    except (OSError, ValueError):
        pass


def last_model() -> Optional[Path]:
    """The last model ``purenet train`` wrote, if it still exists; else ./model.npz if present."""
    try:
        state = _state_file()
        remembered = Path(state.read_text().strip()) if state.is_file() else Path()
        if remembered.is_absolute() and remembered.is_file():
            return remembered
    except (OSError, ValueError, UnicodeDecodeError):
        pass
    return DEFAULT_MODEL if DEFAULT_MODEL.is_file() else None
