"""Imports only point down: every module sits on a floor and imports only its own floor or lower.

``FLOORS`` below is the table of floors, from the bottom, with what each holds
(docs/design.md says more, and where new code goes). The checker reads every module's
source (AST), so an import inside a function, under ``if TYPE_CHECKING:``, relative
(``from ..core import records``), of the facade (``from purenet import RunConfig``) or
by ``importlib.import_module("...")`` counts as much as one at the top. Two runtime
checks, in fresh interpreters, guard the loads the floors were made for: loading a
checkpoint does not load the training loop, and reading data loads nothing of the core.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FLOORS = (
    # floor 0 up to 8: the package, and what it holds
    ("purenet.base", "facts and small helpers any floor may use (standard library and NumPy only): MNIST's "
                     "geometry, counted words, available memory, read-only arrays, value checks, the version"),
    ("purenet.io", "files: atomic writes, opening a user's file safely, reading .npz archives"),
    ("purenet.data", "data sets: Split and Dataset, a reader per format, the download, augmentation"),
    ("purenet.core", "the functional core: arrays, records, layers, activations, losses, network, "
                     "optimizers, schedules, the training loop, metrics, summary"),
    ("purenet.photo", "the photo pipeline: a photo of a digit -> an MNIST digit -> a prediction"),
    ("purenet.runs", "a whole run: its settings (RunConfig), checkpoints, prepare/start/resume"),
    ("purenet.apps", "applications: ONNX export, the web server, the benchmark, the allocator and BLAS thread settings"),
    ("purenet", "the facade: purenet/__init__.py (the public names) and purenet/_moved.py (the 0.1 paths)"),
    ("purenet.cli", "the command line (the checkout's cli/ folder): the only floor that imports Typer and rich"),
)
PACKAGES = [package for package, _ in FLOORS]
FACADE_FLOOR, CLI_FLOOR = PACKAGES.index("purenet"), PACKAGES.index("purenet.cli")

FACADE = ("purenet", "purenet._moved")
"""The modules of the facade's floor (any other purenet.X outside a floor's package is on none)."""

COMMAND_LINE_ONLY = ("typer", "rich", "click")
"""Libraries only the command line imports (click is typer's)."""

ALLOWED_UPWARD: dict[tuple[str, str], str] = {}
"""Upward imports known and due to go; each entry must still be needed (see the test below)."""


def floor_of(module: str) -> int | None:
    """The floor of a purenet module, or None for one on no floor (a 0.1 path, a typo)."""
    if module in FACADE:
        return FACADE_FLOOR
    for number, package in enumerate(PACKAGES):
        if number != FACADE_FLOOR and (module == package or module.startswith(package + ".")):
            return number
    return None


def floor_name(number: int) -> str:
    return PACKAGES[number]


def module_of(path: Path, root: Path) -> str:
    """'purenet/data/idx.py' -> 'purenet.data.idx'; the checkout's 'cli/app.py' -> 'purenet.cli.app'."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[0] == "cli":
        parts.insert(0, "purenet")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, is_package: bool) -> list[tuple[str, int]]:
    """Every module ``source`` imports, absolute, with its line: each import statement
    wherever it is, and each ``importlib.import_module`` of a literal name."""
    found = []
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                # `from purenet import data` imports a subpackage; `from purenet import RunConfig` the facade
                candidate = f"{base}.{alias.name}"
                is_module = base == "purenet" and (floor_of(candidate) is not None or candidate in FACADE)
                found.append((candidate if is_module or not node.module else base, node.lineno))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.args[0].value, node.lineno))
    return found


def modules_under(root: Path) -> list[tuple[Path, str]]:
    """(path, module name) of every module of the package at ``root``: purenet/ (without
    its link to cli/) and cli/ (installed as purenet.cli)."""
    found = []
    for top in ("purenet", "cli"):
        for folder, subfolders, files in os.walk(root / top):  # never follows purenet/cli, a link
            subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
            found += [(Path(folder) / name, module_of(Path(folder) / name, root)) for name in sorted(files)
                      if name.endswith(".py")]
    return found


def problems(root: Path) -> tuple[list[str], set[tuple[str, str]]]:
    """What breaks the rules in the package at ``root``, one line each; and the allowed
    upward imports that were met."""
    found, allowed_met = [], set()
    for path, module in modules_under(root):
        where = path.relative_to(root)
        floor = floor_of(module)
        if floor is None:
            found.append(f"{where}: {module} is on no floor (put it in one of {', '.join(PACKAGES)})")
            continue
        for target, line in imports_of(path.read_text(encoding="utf-8"), module, path.name == "__init__.py"):
            top = target.split(".")[0]
            if top in COMMAND_LINE_ONLY and floor < CLI_FLOOR:
                found.append(f"{where}:{line} imports {target}, which only the command line may import")
            if top != "purenet":
                continue
            target_floor = floor_of(target)
            if target_floor is None:
                found.append(f"{where}:{line} imports {target}, which is on no floor (a 0.1 path? use the new one)")
            elif target_floor > floor:
                if (module, target) in ALLOWED_UPWARD:
                    allowed_met.add((module, target))
                    continue
                found.append(f"{where}:{line} imports {target} (floor {target_floor}, {floor_name(target_floor)}) "
                             f"from floor {floor} ({floor_name(floor)}): imports only point down")
    return found, allowed_met


# --- the package as it is --------------------------------------------------------------------


@functools.cache
def problems_here() -> tuple[list[str], set[tuple[str, str]]]:
    return problems(ROOT)


def test_every_import_points_down_or_stays_on_its_floor():
    found, _ = problems_here()
    assert found == []


def test_every_allowed_upward_import_is_still_there():
    """An allowance whose import has gone must go too, or it would let a new one through."""
    _, met = problems_here()
    assert set(ALLOWED_UPWARD) - met == set(), "remove these from ALLOWED_UPWARD: the imports are gone"


def test_the_walk_sees_every_floor_and_the_command_line():
    modules = {module for _, module in modules_under(ROOT)}
    assert {"purenet", "purenet._moved", "purenet.cli.app", "purenet.base.mnist", "purenet.runs.checkpoint",
            "purenet.core.layers.dense"} <= modules
    assert {floor_of(module) for module in modules} == set(range(len(FLOORS)))


def test_the_bottom_floor_needs_only_the_standard_library_and_numpy():
    outside = []
    for path, module in modules_under(ROOT):
        if floor_of(module) != 0:
            continue
        for target, line in imports_of(path.read_text(encoding="utf-8"), module, path.name == "__init__.py"):
            top = target.split(".")[0]
            if top not in sys.stdlib_module_names and top not in ("numpy", "purenet"):
                outside.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert outside == []


def loaded_after(statement: str) -> list[str]:
    """The purenet modules a fresh interpreter has loaded after ``statement``."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith('purenet'))))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT / "tests")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_loading_a_checkpoint_does_not_load_the_training_loop():
    loaded = loaded_after("import purenet.runs.checkpoint")
    assert "purenet.runs.checkpoint" in loaded  # the probe did import it
    assert "purenet.core.training" not in loaded


def test_reading_data_loads_nothing_of_the_core():
    loaded = loaded_after("import purenet.data")
    assert "purenet.data.idx" in loaded
    assert [m for m in loaded if m == "purenet.core" or m.startswith("purenet.core.")] == []


# --- the checker itself fails on what it is for -----------------------------------------------


def write_package(root: Path, modules: dict[str, str]) -> Path:
    """A made-up package tree: {'purenet/data/x.py': source, ...}, with the __init__.py files."""
    for name, source in modules.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for folder in path.relative_to(root).parents:
            if folder != Path("."):
                (root / folder / "__init__.py").touch()
        path.write_text(source)
    return root


@pytest.mark.parametrize("name, source, culprit", [
    ("purenet/data/reader.py", "from purenet.core.records import readonly\n", "purenet.core.records (floor 3, purenet.core)"),
    ("purenet/data/reader.py", "import purenet.runs.config\n", "purenet.runs.config (floor 5"),
    ("purenet/data/reader.py", "def f():\n    from ..core import records\n", "purenet.core (floor 3"),
    ("purenet/data/__init__.py", "from .. import photo\n", "purenet.photo (floor 4"),
    ("purenet/runs/checkpoint.py", "from purenet import RunConfig\n", "purenet (floor 7, purenet)"),
    ("purenet/io/archive.py", "import importlib\nimportlib.import_module('purenet.data.splits')\n",
     "purenet.data.splits (floor 2"),
    ("purenet/core/training.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from purenet.apps import bench\n",
     "purenet.apps (floor 6"),
    ("purenet/apps/serve.py", "from purenet.cli import app\n", "purenet.cli (floor 8"),
])
def test_the_checker_fails_on_an_upward_import(tmp_path, name, source, culprit):
    root = write_package(tmp_path, {"purenet/__init__.py": "", "purenet/base/words.py": "import math\n", name: source})
    found, _ = problems(root)
    assert len(found) == 1 and culprit in found[0] and "imports only point down" in found[0], found
    assert found[0].startswith(f"{Path(name)}:")


@pytest.mark.parametrize("source", ["import typer\n", "from rich.console import Console\n"])
def test_the_checker_keeps_typer_and_rich_in_the_command_line(tmp_path, source):
    root = write_package(tmp_path, {"purenet/apps/serve.py": source, "cli/app.py": source})
    found, _ = problems(root)
    assert len(found) == 1 and found[0].startswith(str(Path("purenet/apps/serve.py"))), found


def test_the_checker_lets_imports_down_and_across_a_floor_pass(tmp_path):
    root = write_package(tmp_path, {
        "purenet/__init__.py": "from purenet import _moved\nfrom purenet.runs.run import start\n",
        "purenet/_moved.py": "import importlib\nimportlib.import_module('purenet.core.network')\n",
        "purenet/core/training.py": "from purenet.core.records import Params\nfrom . import network\n"
                                    "from purenet.data import Split\n",
        "purenet/runs/run.py": "from purenet.base.words import counted\n",
        "cli/app.py": "import typer\nfrom purenet import RunConfig\nfrom purenet.cli import console\n",
    })
    assert problems(root) == ([], set())


def test_the_checker_refuses_a_module_on_no_floor_and_an_old_path(tmp_path):
    root = write_package(tmp_path, {"purenet/helpers.py": "", "purenet/runs/run.py": "from purenet.training import train\n"})
    found, _ = problems(root)
    assert [line.split(" ")[0] for line in found] == ["purenet/helpers.py:", "purenet/runs/run.py:1"], found


# --- what moved down to keep the floors is still where scripts found it -------------------------


def test_the_names_that_moved_down_keep_their_old_homes():
    import purenet.base.mnist
    import purenet.base.readonly
    import purenet.core.arrays
    import purenet.core.records
    import purenet.core.training
    import purenet.data

    assert purenet.core.training.Best is purenet.core.records.Best
    assert purenet.data.to_float is purenet.base.mnist.to_float
    assert purenet.core.arrays.readonly is purenet.core.records.readonly is purenet.base.readonly.readonly


def test_an_archive_read_without_an_error_class_raises_the_io_floors_own(tmp_path):
    from purenet.data import DataError
    from purenet.io.archive import ArchiveError, read_npz

    path = tmp_path / "not.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(ArchiveError, match="not an .npz file") as caught:
        read_npz(path)
    assert isinstance(caught.value, ValueError) and not isinstance(caught.value, DataError)
    with pytest.raises(DataError, match="not an .npz file"):
        read_npz(path, DataError)  # what the data readers pass
