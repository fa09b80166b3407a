"""Writing files so that nobody ever sees half of one.

``atomic_write(path, write)`` lets ``write`` fill a temporary file in the same
folder, flushes it to disk, then renames it over ``path`` in one step
(``os.replace``). If anything fails, or the process is interrupted, the temp file
is removed and ``path`` keeps its old content (or stays absent).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import BinaryIO, Callable


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Create or replace ``path`` with what ``write(handle)`` writes, atomically."""
    path = Path(path)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # os.open with 0o666 lets the umask decide the permissions, as for any new file
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path
