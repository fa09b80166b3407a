"""How much memory a new allocation can have: the host's, and its container's limit.

    available_memory(root="/") -> bytes, or None where nothing can be read
    shown_bytes(count)         -> "1.2 GB"

The host's ``MemAvailable`` (``/proc/meminfo``) is not the whole story: a process in a
container or a cgroup with a memory limit is killed by the kernel (exit 137, with no
message) when it passes the limit, however much the host has free. So the cgroup's
room counts too, and the smaller of the two is what a run can use: its limit less what
the group already uses (less the page cache it could drop), at its own level and at
each level above it, since every ancestor's limit applies. Both cgroup versions are
read: v2's ``memory.max`` and ``memory.current``, v1's ``memory.limit_in_bytes`` and
``memory.usage_in_bytes``. ``root`` stands for ``/``, so that tests can point the
reader at a made-up tree (``SYSTEM_ROOT`` is the default).
"""

from __future__ import annotations

import os
from pathlib import Path

SYSTEM_ROOT = "/"
"""Where /proc and /sys are: the root a reader given none reads."""

_UNLIMITED = 1 << 60
"""cgroup v1 writes "no limit" as a number near 2**63; anything this large is no limit."""


def available_memory(root: str | os.PathLike | None = None) -> int | None:
    """Bytes a new allocation can have: the smaller of the host's available memory and the
    room left under the process's cgroup limits; None when neither can be read."""
    root = Path(SYSTEM_ROOT if root is None else root)
    known = [n for n in (_host_available(root), cgroup_available(root)) if n is not None]
    return min(known) if known else None


def _host_available(root: Path) -> int | None:
    try:
        with open(root / "proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if root != Path("/"):
        return None
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def cgroup_available(root: str | os.PathLike | None = None) -> int | None:
    """Bytes left under the memory limits of this process's cgroup and its ancestors
    (v2 and v1), or None when no limit is set or none can be read."""
    root = Path(SYSTEM_ROOT if root is None else root)
    try:
        lines = (root / "proc/self/cgroup").read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    rooms = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, group = parts
        if controllers == "":  # the v2 unified hierarchy
            rooms.append(_room(root / "sys/fs/cgroup", group, "memory.max", "memory.current", "inactive_file"))
        elif "memory" in controllers.split(","):
            rooms.append(_room(root / "sys/fs/cgroup/memory", group, "memory.limit_in_bytes",
                               "memory.usage_in_bytes", "total_inactive_file"))
    known = [room for room in rooms if room is not None]
    return min(known) if known else None


def _room(mount: Path, group: str, limit_file: str, usage_file: str, cache_key: str) -> int | None:
    """The least room under a limit from the group's folder up to the hierarchy's root.

    Inside a container the group's path (as /proc/self/cgroup names it) is often not
    under the mount, which shows the container's own group at its root: then the walk
    starts at the mount itself."""
    folder = mount / group.strip("/")
    if not folder.is_dir():
        folder = mount
    rooms = []
    while True:
        room = _level_room(folder, limit_file, usage_file, cache_key)
        if room is not None:
            rooms.append(room)
        if folder == mount or mount not in folder.parents:
            break
        folder = folder.parent
    return min(rooms) if rooms else None


def _level_room(folder: Path, limit_file: str, usage_file: str, cache_key: str) -> int | None:
    limit = _number(folder / limit_file)
    if limit is None or limit >= _UNLIMITED:
        return None
    usage = _number(folder / usage_file) or 0
    reclaimable = min(_stat(folder / "memory.stat", cache_key), usage)  # page cache the kernel can drop
    return max(limit - (usage - reclaimable), 0)


def _number(path: Path) -> int | None:
    """A cgroup file's number; None when absent, unreadable or "max" (no limit)."""
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return _digits(text)


def _stat(path: Path, key: str) -> int:
    """One entry of a cgroup's memory.stat (0 when absent)."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key and (number := _digits(value.strip())) is not None:
                return number
    except (OSError, UnicodeDecodeError):
        pass
    return 0


_MAX_DIGITS = 30
"""More digits than any byte count has: a longer "number" is garbage (and int() refuses
strings of thousands of digits)."""


def _digits(text: str) -> int | None:
    """``text`` as a whole number when it is ASCII digits only, else None. Not str.isdigit():
    it accepts superscripts, which int() refuses, and other scripts' digits, which no
    kernel writes."""
    if not text or len(text) > _MAX_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def shown_bytes(count: float) -> str:
    """A byte count for a message: 512 B, 1.5 MB, 24.0 GB (powers of 1000)."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB", "EB"):
        if count < 1000 or unit == "EB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1000
    return f"{count:.1f} EB"
