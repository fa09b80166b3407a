"""The module paths of purenet 0.1, before the package was grouped into floors.

``import purenet.checkpoint`` (or ``from purenet.optim import Adam``) still works for
one release: the old name is an alias of the module's new home, the same module
object, and importing it warns (``DeprecationWarning``) with the path to use instead.
Nothing in purenet imports these names; they exist for scripts written against 0.1.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType

# old name under purenet -> its home now (docs/design.md says what each floor holds)
MOVED = {
    "words": "base.words",
    "memory": "base.memory",
    "files": "io.writing",  # split in four (reading, writing, outputs, lock): atomic_write's home, the name docs showed
    "npzfile": "io.archive",
    "download": "data.download",
    "augment": "data.augment",
    "activations": "core.activations",
    "arrays": "core.arrays",
    "records": "core.records",
    "losses": "core.losses",
    "network": "core.network",
    "optim": "core.optim",
    "schedules": "core.schedules",
    "training": "core.training",
    "metrics": "core.metrics",
    "summary": "core.summary",
    "layers": "core.layers",
    "image": "photo.prepare",
    "imaging": "photo.ops",
    "pictures": "photo.grid",
    "recognise": "photo.recognise",
    "config": "runs.config",
    "run": "runs.run",
    "checkpoint": "runs.checkpoint",
    "export": "apps.export",
    "serve": "apps.serve",
    "bench": "apps.bench",
    "allocator": "apps.allocator",
}


def new_home(old: str) -> str | None:
    """'purenet.layers.conv' -> 'purenet.core.layers.conv'; None for a name that did not move."""
    parts = old.split(".")
    if len(parts) < 2 or parts[0] != "purenet" or parts[1] not in MOVED:
        return None
    return ".".join(["purenet", MOVED[parts[1]], *parts[2:]])


def moved_module(old: str) -> ModuleType:
    """The module that ``old`` names now, with the warning a script sees once per name."""
    home = new_home(old)
    assert home is not None
    warnings.warn(f"{old} is now {home}; the old name goes in the next release", DeprecationWarning, stacklevel=3)
    return importlib.import_module(home)


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module name and hands back the module of its new home."""

    def find_spec(self, fullname, path=None, target=None):
        home = new_home(fullname)
        if home is None or importlib.util.find_spec(home) is None:  # not an old name: not ours to find
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        module = moved_module(spec.name)
        sys.modules[spec.name] = module
        return module

    def exec_module(self, module):
        pass  # the new home already ran


def install() -> None:
    if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Alias())  # before the path finder, which would load a second copy
