"""Keep glibc's malloc from handing freed memory back to the system after every step.

A pure training step allocates its result: new params and gradients, hundreds of
kilobytes to megabytes each, while the old ones are freed. glibc's malloc trims the
top of its heap back to the kernel whenever more than ``M_TRIM_THRESHOLD`` (by
default about twice the largest freed block) lies free there, so the next step
gets fresh pages and pays a page fault and a zero-fill for every 4 KiB it touches.
What that costs depends on the machine: a share of the step on some, more for wide
networks and on a busy machine, nothing measurable on others (docs/performance.md,
"What each optimisation bought" and "Small operations behind the code's choices";
``python benchmarks/step_profile.py`` times the step with and without this setting).
Raising the trim and mmap thresholds keeps those pages in the process, where the
next step reuses them; peak memory is unchanged, only memory returned to the system
later.

It is a setting of the whole process, not state any function reads: results are bit
for bit the same with or without it. So it is the program's choice, never made by
importing purenet: ``purenet`` (the command) and the scripts in benchmarks/ call
``tune_malloc()`` once at start; a script of your own opts in the same way::

    from purenet.apps.allocator import tune_malloc
    tune_malloc()

From then on every allocation of the process, purenet's or not, lives under the
raised thresholds: blocks below 32 MiB come from the heap rather than an mmap of
their own (and glibc stops adjusting that threshold by itself), and up to 256 MiB of
free memory at the top of the heap stays in the process instead of going back to
the system. ``PURENET_TUNE_MALLOC=0`` in the environment makes the call do
nothing; glibc's own ``MALLOC_TRIM_THRESHOLD_`` / ``MALLOC_MMAP_THRESHOLD_`` /
``GLIBC_TUNABLES`` settings are respected as given. Elsewhere (macOS, musl, Windows)
nothing happens.
"""

from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 256 << 20
"""Free memory kept at the heap's top before trimming: room for the churn of a
1024-wide network's params, gradients and optimizer state."""
MMAP_THRESHOLD = 32 << 20
"""Blocks below this come from the heap (reusable) rather than a fresh mmap; 32 MiB is
glibc's own ceiling for its dynamic threshold."""

_USER_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")

_tuned = False
"""Whether ``tune_malloc`` has changed this process's malloc settings."""


def tune_malloc() -> bool:
    """Raise glibc's trim and mmap thresholds for the whole process; True when they
    are raised (now or by an earlier call), False when skipped.

    Idempotent: once applied, later calls return True and do nothing. Skipped, and
    False, when ``PURENET_TUNE_MALLOC=0``, when the environment sets glibc's own
    malloc thresholds, and off glibc.
    """
    global _tuned
    if _tuned:
        return True
    if os.environ.get("PURENET_TUNE_MALLOC", "1") == "0":
        return False
    if any(name in os.environ for name in _USER_SETTINGS) or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success
    _tuned = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return _tuned


def is_tuned() -> bool:
    """True once ``tune_malloc`` has raised this process's thresholds (importing
    purenet never does)."""
    return _tuned
