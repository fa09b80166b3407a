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

DASK_NANNY_SETTING = ("MALLOC_TRIM_THRESHOLD_", "65536")
"""What Dask's nanny puts in the environment of every worker process it starts (distributed's
``nanny.pre-spawn-environ``), to hand freed memory back to the system early. Not the user's
choice: on a worker running a sweep's trials it made a small network's trial take 2.3x as
long (docs/performance.md, "Sweeps"), so ``tune_malloc(dask_worker=True)`` raises it anyway."""

_tuned = False
"""Whether ``tune_malloc`` has changed this process's malloc settings."""


def tune_malloc(*, dask_worker: bool = False) -> bool:
    """Raise glibc's trim and mmap thresholds for the whole process; True when they
    are raised (now or by an earlier call), False when skipped.

    Idempotent: once applied, later calls return True and do nothing. Skipped, and
    False, when ``PURENET_TUNE_MALLOC=0``, when the environment sets glibc's own
    malloc thresholds (with ``dask_worker``, unless the only setting is the one Dask's
    nanny makes, ``DASK_NANNY_SETTING``), and off glibc.
    """
    global _tuned
    if _tuned:
        return True
    if os.environ.get("PURENET_TUNE_MALLOC", "1") == "0":
        return False
    if _set_by_the_user(dask_worker) or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
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


def _set_by_the_user(dask_worker: bool) -> bool:
    """Whether the environment sets glibc's thresholds, not counting, on a Dask worker, the nanny's own setting."""
    given = {name: os.environ[name] for name in _USER_SETTINGS if name in os.environ}
    if dask_worker and given == dict([DASK_NANNY_SETTING]):
        return False
    return bool(given)
