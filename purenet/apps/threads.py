"""How many threads BLAS runs on: one per core that is idle when the program starts.

OpenBLAS starts one thread per core and, between two products, keeps them spinning
for the next one. On a quiet machine that is the fastest choice; when other work
keeps a core busy, each product of a training step waits for a thread that waits
for its core, and an epoch takes several times as long as on one thread (6-15
times on a loaded 2-core machine: docs/performance.md, "Choosing the number of BLAS threads", and
``python benchmarks/threads.py``). Small products (a 784-200-200-10 network, batch
128) gain little from a second thread and lose a lot when it has no core of its own,
so the policy counts the cores that are really idle, over a short look at the
kernel's counters, and uses that many threads: never more than BLAS would use by
itself, never fewer than one, and a core counts only when it is (nearly) all idle.

Who decides, strongest first: a number the program passes (``purenet --threads N``),
then a thread variable in the environment (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``,
``MKL_NUM_THREADS``, ... : BLAS has already read it, and it is left alone), then the
count a resumed run was trained with (``kept``), then the policy. Like ``tune_malloc``,
this is a setting of the whole process and the program's choice, never made by importing
purenet: ``purenet`` (the command) calls ``set_blas_threads`` once, before any work; a
script of your own can too::

    from purenet.apps.threads import set_blas_threads
    choice = set_blas_threads()      # or set_blas_threads(1)

Results depend on the thread count in their last bits (OpenBLAS splits sums
differently), so a seed reproduces bit for bit with the same BLAS and thread count.
That is why the count is decided once, at start, and kept for the whole run (a count
that followed the load from epoch to epoch would make a run's bits depend on it), and
why a resumed run may pass the count it was trained with (``kept``, from its
checkpoint): it comes after the program's number and the environment's variable, before
the policy, so that the resumed run continues bit for bit.

The idle cores are read from ``/proc/stat`` (Linux: only the cores this process may
run on); elsewhere from the load average (``os.getloadavg``); where neither exists,
BLAS keeps its own count. CPU quotas of a container (cgroup ``cpu.max``) are not read.
"""

from __future__ import annotations

import math
import os
import time
from typing import Callable, Mapping, Optional

import attrs

ENVIRONMENT_VARIABLES = ("OPENBLAS_NUM_THREADS", "OPENBLAS_DEFAULT_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS",
                         "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
"""The variables through which BLAS libraries take their thread count from the user."""

SAMPLE_SECONDS = 0.15
"""How long the policy watches the cores: 15 clock ticks per core at Linux's usual 100 Hz."""

SLACK = 0.2
"""A core counts as idle when at least ``1 - SLACK`` of it is: a second thread beside busy
work makes an epoch several times slower, while a free core left unused costs at most
the second thread's gain, a fraction of the epoch."""


@attrs.frozen
class ThreadChoice:
    """The BLAS thread count chosen and why: ``threads`` None when BLAS keeps its own count.

    ``source`` is ``"option"`` (the program's number), ``"environment"`` (a variable the user
    set), ``"checkpoint"`` (the count a resumed run was trained with), ``"policy"`` (idle
    cores) or ``"blas"`` (no way to measure; BLAS's own default);
    ``reason`` says it in a few words; ``idle`` is the idle cores measured (None if not);
    ``cores`` the cores this process may run on; ``applied`` the count BLAS reports after
    the choice (None when no BLAS library is known to threadpoolctl).
    """

    threads: Optional[int]
    source: str
    reason: str
    cores: int
    idle: Optional[float] = None
    applied: Optional[int] = None
    most: Optional[int] = None  # the policy's ceiling: BLAS's own count at start

    def to_json(self) -> dict:
        return attrs.asdict(self)

    def in_words(self) -> str:
        """E.g. ``1 (policy: 0.4 of 2 cores idle at start)``."""
        count = self.applied if self.applied is not None else self.threads
        return f"{count if count is not None else 'BLAS default'} ({self.source}: {self.reason})"


def usable_cores() -> list[int]:
    """The CPUs this process may run on (its affinity where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def cpu_times(text: str, cpus: list[int]) -> tuple[int, int]:
    """(idle, total) clock ticks of ``cpus`` summed, from the text of ``/proc/stat``.

    A ``cpuN`` line holds user, nice, system, idle, iowait, irq, softirq, steal, ... ticks;
    idle and iowait are time the core had nothing to run. guest time is already in user.
    """
    wanted = {f"cpu{n}" for n in cpus}
    idle = total = 0
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] in wanted:
            ticks = [int(v) for v in fields[1:9]]
            idle += ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
            total += sum(ticks)
    return idle, total


def _read_proc_stat() -> str:
    with open("/proc/stat", encoding="ascii") as file:
        return file.read()


def idle_cores(read: Callable[[], str] = _read_proc_stat, sleep: Callable[[float], None] = time.sleep,
               seconds: float = SAMPLE_SECONDS, cpus: Optional[list[int]] = None,
               loadavg: Optional[Callable[[], tuple[float, float, float]]] = None) -> Optional[float]:
    """How many of ``cpus`` (default: this process's) were idle over the next ``seconds``, in cores.

    From two readings of ``/proc/stat`` (``read``); without it, the cores minus the 1-minute
    load average (``loadavg``, default ``os.getloadavg``), which lags by a minute; None when
    neither can be read.
    """
    cpus = usable_cores() if cpus is None else cpus
    try:
        idle0, total0 = cpu_times(read(), cpus)
        sleep(seconds)
        idle1, total1 = cpu_times(read(), cpus)
    except (OSError, ValueError, IndexError):
        total1 = total0 = 0
    if total1 > total0:
        return len(cpus) * (idle1 - idle0) / (total1 - total0)
    loadavg = loadavg or getattr(os, "getloadavg", None)
    if loadavg is None:
        return None
    try:
        return max(0.0, len(cpus) - loadavg()[0])
    except OSError:
        return None


def policy_threads(idle: float, cores: int, blas_default: Optional[int] = None) -> int:
    """Threads for ``idle`` idle cores out of ``cores``: the cores at least ``1 - SLACK`` idle,
    at least 1, at most ``cores`` and BLAS's own default."""
    most = min(cores, blas_default) if blas_default else cores
    return max(1, min(most, math.floor(idle + SLACK)))


MAX_THREADS = 1024
"""The most threads ``parse_threads`` takes: a typo's bound, far above any core count meant."""


def parse_threads(text: str) -> Optional[int]:
    """A thread count as a person types it: a whole number from 1 to ``MAX_THREADS``, or
    ``auto`` / ``0`` for the policy (None); ValueError, in one line, for anything else."""
    word = text.strip().lower()
    if word == "auto":
        return None
    if not (word.isascii() and word.isdigit()):
        raise ValueError(f"{text!r} is not a whole number or 'auto'")
    count = int(word)
    if count > MAX_THREADS:
        raise ValueError(f"{count} is more than {MAX_THREADS} threads")
    return count or None


def user_setting(environ: Optional[Mapping[str, str]] = None) -> Optional[tuple[str, str]]:
    """The first BLAS thread variable set in the environment, as (name, value); None if none is."""
    variables = os.environ if environ is None else environ
    for name in ENVIRONMENT_VARIABLES:
        if variables.get(name, "").strip():
            return name, variables[name].strip()
    return None


def choose_threads(asked: Optional[int] = None, environ: Optional[Mapping[str, str]] = None,
                   measure: Callable[[], Optional[float]] = idle_cores, cores: Optional[int] = None,
                   blas_default: Optional[int] = None, kept: Optional[int] = None) -> ThreadChoice:
    """The choice, without applying it: ``asked`` (a number >= 1) wins, then the environment's
    variable, then ``kept`` (the count a resumed run was trained with), then the policy on the
    idle cores that ``measure`` reports."""
    cores = len(usable_cores()) if cores is None else cores
    for count in (asked, kept):
        if count is not None and count < 1:
            raise ValueError(f"the BLAS thread count must be at least 1, got {count}")
    if asked is not None:
        return ThreadChoice(threads=asked, source="option", reason="asked for", cores=cores)
    setting = user_setting(environ)
    if setting is not None:
        return ThreadChoice(threads=None, source="environment", reason=f"{setting[0]}={setting[1]}", cores=cores)
    if kept is not None:
        return ThreadChoice(threads=kept, source="checkpoint", reason="the count the run was trained with", cores=cores)
    idle = measure()
    if idle is None:
        return ThreadChoice(threads=None, source="blas", reason="idle cores unknown on this system", cores=cores)
    threads = policy_threads(idle, cores, blas_default)
    return ThreadChoice(threads=threads, source="policy", reason=f"{idle:.1f} of {cores} cores idle at start", cores=cores,
                        idle=round(idle, 2), most=blas_default)


def blas_threads() -> Optional[int]:
    """The thread count of the BLAS library NumPy uses, as threadpoolctl reports it (None if none is found)."""
    import numpy  # noqa: F401 - loads the BLAS library, so that threadpoolctl finds it
    from threadpoolctl import threadpool_info

    counts = [pool["num_threads"] for pool in threadpool_info() if pool.get("user_api") == "blas"]
    return max(counts) if counts else None


def set_blas_threads(asked: Optional[int] = None, environ: Optional[Mapping[str, str]] = None,
                     measure: Callable[[], Optional[float]] = idle_cores, kept: Optional[int] = None) -> ThreadChoice:
    """Choose the BLAS thread count (``choose_threads``) and set it for the whole process.

    Returns the choice with ``applied``, the count BLAS reports afterwards. Setting it
    changes state shared by every thread of the process (BLAS's pool), so call it once,
    at the start of a program, before any work, and keep it: the results' last bits depend on it.
    """
    return apply_threads(choose_threads(asked, environ, measure, blas_default=blas_threads(), kept=kept))


def apply_threads(choice: ThreadChoice) -> ThreadChoice:
    """Set BLAS's thread count to ``choice.threads`` (None: leave it); the choice with ``applied``."""
    from threadpoolctl import threadpool_limits

    before = blas_threads()
    if choice.threads is not None and before is not None and choice.threads != before:
        threadpool_limits(limits=choice.threads, user_api="blas")
    return attrs.evolve(choice, applied=blas_threads())
