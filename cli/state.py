"""Remembering the last checkpoint ``purenet train`` wrote, for ``predict`` and ``evaluate``.

The path lives in ``$XDG_STATE_HOME/purenet/last-model`` (``~/.local/state`` by
default): one line, the absolute path. Losing it is harmless: commands then ask
for ``--model`` or fall back to ``model.npz`` in the current folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

DEFAULT_MODEL = Path("model.npz")


def _state_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "purenet" / "last-model"


def remember_model(path: Path) -> None:
    """Record ``path`` as the last model written; failures to record are ignored."""
    try:
        state = _state_file()
        state.parent.mkdir(parents=True, exist_ok=True)
        temp = state.with_suffix(".tmp")
        temp.write_text(str(Path(path).resolve()) + "\n")
        os.replace(temp, state)
    except OSError:
        pass


def last_model() -> Optional[Path]:
    """The last model ``purenet train`` wrote, if it still exists; else ./model.npz if present."""
    try:
        remembered = Path(_state_file().read_text().strip())
        if remembered.is_file():
            return remembered
    except OSError:
        pass
    return DEFAULT_MODEL if DEFAULT_MODEL.is_file() else None
