"""The flat module paths of 0.1 still import, as the very modules of their new homes, and warn.

Each check runs in a fresh interpreter: an alias is made once per process, and the
warning is given when it is made.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

from purenet._moved import MOVED, new_home

PROBE = r"""
import importlib, json, sys, warnings
import purenet
found = {}
for old, home in zip(sys.argv[1::2], sys.argv[2::2]):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    new = importlib.import_module(home)
    found[old] = {
        "same": module is new,
        "attribute": getattr(purenet, old.split(".")[1]) is new if old.count(".") == 1 else True,
        "warnings": [str(w.message) for w in caught if w.category is DeprecationWarning],
    }
print(json.dumps(found))
"""
OLD_PATHS = sorted(f"purenet.{name}" for name in MOVED if name != "summary")


@pytest.fixture(scope="module")
def probed() -> dict:
    """Each old path (and a layer module under an old package) imported in one fresh interpreter."""
    import json

    names = [*OLD_PATHS, "purenet.layers.conv"]
    arguments = [part for old in names for part in (old, new_home(old))]
    out = subprocess.run([sys.executable, "-c", PROBE, *arguments], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


@pytest.mark.parametrize("old", OLD_PATHS)
def test_an_old_path_is_the_new_module_and_warns_naming_it(probed, old):
    assert probed[old]["same"] and probed[old]["attribute"]
    assert probed[old]["warnings"] == [f"{old} is now {new_home(old)}; the old name goes in the next release"]


def test_a_submodule_of_an_old_package_is_not_loaded_twice(probed):
    """A second copy of a layer module would register its kind twice and fail."""
    assert probed["purenet.layers.conv"]["same"]
    assert probed["purenet.layers.conv"]["warnings"] == [
        "purenet.layers.conv is now purenet.core.layers.conv; the old name goes in the next release"]


def test_old_summary_path_keeps_purenet_summary_callable():
    """purenet.summary is a function and, through the 0.1 path, a module that can be called."""
    code = ("import warnings; warnings.simplefilter('ignore'); import purenet.summary as s, purenet; "
            "print(len(purenet.summary([784, 10]).rows), s.LayerRow.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["1", "purenet.core.summary"]


def test_names_that_never_existed_are_not_found():
    assert new_home("purenet.nothing") is None and new_home("purenet.core.network") is None
    with warnings.catch_warnings(), pytest.raises(ModuleNotFoundError):
        warnings.simplefilter("ignore", DeprecationWarning)  # for the old package, purenet.layers
        importlib.import_module("purenet.layers.nothing")


def test_every_new_home_exists():
    for name, home in MOVED.items():
        assert importlib.util.find_spec(f"purenet.{home}") is not None, name
