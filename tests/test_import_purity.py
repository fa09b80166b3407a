"""Importing purenet changes nothing outside it: glibc's malloc is tuned only when a
program asks (``purenet.apps.allocator.tune_malloc()``), and the ``purenet`` command asks
at its entry point.

Each check runs in a fresh interpreter, since the setting is the whole process's.
glibc has no call that reads its malloc thresholds back, so the probe watches the
only way Python can change them: it records every lookup of ``mallopt`` through
ctypes, installed before purenet is imported, and asks the allocator module whether
it has tuned.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = r'''
import ctypes, importlib, json, pkgutil, sys

looked_up = []


class RecordingCDLL(ctypes.CDLL):
    """ctypes.CDLL, noting each lookup of mallopt (the one call that retunes malloc)."""

    def __getattr__(self, name):
        if name == "mallopt":
            looked_up.append(name)
        return super().__getattr__(name)

    def __getitem__(self, name):
        if name == "mallopt":
            looked_up.append(name)
        return super().__getitem__(name)


ctypes.CDLL = RecordingCDLL
ctypes.cdll = ctypes.LibraryLoader(RecordingCDLL)

import purenet
import purenet.cli

names = ["purenet", "purenet.cli"]
for package in (purenet, purenet.cli):
    names += [info.name for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
for name in names:
    importlib.import_module(name)
for name in purenet.__all__ if hasattr(purenet, "__all__") else dir(purenet):
    getattr(purenet, name)  # the lazily loaded public names too

import purenet.apps.allocator


def state():
    is_tuned = getattr(purenet.apps.allocator, "is_tuned", lambda: None)
    return {"mallopt_lookups": len(looked_up), "is_tuned": is_tuned()}


after_imports = state()
sys.argv = ["purenet", "--help"]
from purenet.cli.app import main

try:
    main()
except SystemExit:
    pass
print("\nPROBE " + json.dumps({"modules": names, "after_imports": after_imports, "after_main": state()}))
'''

MALLOC_VARIABLES = ("PURENET_TUNE_MALLOC", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")
ON_GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def probe(**env: str) -> dict:
    """Import every purenet module in a fresh interpreter, then run the command's main()."""
    clean = {k: v for k, v in os.environ.items() if k not in MALLOC_VARIABLES}
    result = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent)
    assert result.returncode == 0, result.stderr
    line = [line for line in result.stdout.splitlines() if line.startswith("PROBE ")][-1]
    return json.loads(line.removeprefix("PROBE "))


def test_importing_every_module_leaves_malloc_alone_and_the_command_tunes_it():
    found = probe()
    assert found["after_imports"] == {"mallopt_lookups": 0, "is_tuned": False}
    # the probe really imported the library, the command and the modules that time steps
    assert {"purenet.core.network", "purenet.core.training", "purenet.runs.run", "purenet.runs.checkpoint", "purenet.apps.bench",
            "purenet.data", "purenet.cli.app", "purenet.cli.bench", "purenet.cli.torchstep"} <= set(found["modules"])
    if not ON_GLIBC:
        pytest.skip("tuning malloc (mallopt) exists only in glibc, the C library of most Linux systems; this one has another")
    assert found["after_main"]["mallopt_lookups"] > 0
    assert found["after_main"]["is_tuned"] is True


def test_the_command_honours_the_opt_out():
    found = probe(PURENET_TUNE_MALLOC="0")
    assert found["after_imports"] == {"mallopt_lookups": 0, "is_tuned": False}
    assert found["after_main"] == {"mallopt_lookups": 0, "is_tuned": False}


def test_the_core_library_never_mentions_torch():
    """PyTorch belongs to the command that compares against it (purenet.cli.torchstep)."""
    package = Path(__file__).resolve().parent.parent / "purenet"
    mentions = [f"{path.relative_to(package)}:{number}" for path in sorted(package.rglob("*.py"))
                for number, line in enumerate(path.read_text().splitlines(), 1) if "torch" in line]
    assert mentions == []


@pytest.mark.parametrize("environment, dask_worker, respected", [
    ({}, False, False),
    ({"MALLOC_TRIM_THRESHOLD_": "65536"}, False, True),  # the user's, or Dask's outside a trial: left alone
    ({"MALLOC_TRIM_THRESHOLD_": "65536"}, True, False),  # Dask's nanny's own setting, in a trial on its worker
    ({"MALLOC_TRIM_THRESHOLD_": "1000000"}, True, True),  # a value of the user's, even on a Dask worker
    ({"MALLOC_TRIM_THRESHOLD_": "65536", "MALLOC_MMAP_THRESHOLD_": "4096"}, True, True),
])
def test_a_dask_nannys_malloc_setting_is_not_taken_for_the_users(monkeypatch, environment, dask_worker, respected):
    from purenet.apps import allocator

    for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert allocator._set_by_the_user(dask_worker) is respected
