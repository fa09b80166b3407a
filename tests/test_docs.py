"""The documentation speaks to any user: no path of a particular machine, no folder
outside the repository, no name a newcomer cannot look up; and its code works.

Every ```python block of README.md and docs/*.md type-checks (one mypy run over all of
them, from an empty folder, so only the installed package is seen) and runs on its own in
a fresh interpreter, in a folder holding what the text says the reader has: data/mnist, a
model.npz that `purenet train` wrote, a photo of a digit, an exported model.onnx, and the
downloaded data sets docs/data.md reads (that run is slow: ``-m "not slow"`` keeps the
quick check that each block defines every name it uses). A block that is not meant to
run (an output sample, a sketch of a module) is fenced without ``python``.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import os
import re
import shutil
import subprocess
import symtable
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", ROOT / "data" / "README.md", *(ROOT / "docs").glob("*.md")])

MACHINE_PATHS = re.compile(r"/home/|/Users/|/root/|/work/|/tmp/|/mnt/|\.\./|[A-Z]:\\")
"""Absolute paths of some machine, and folders beside the checkout."""


@pytest.mark.parametrize("page", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_machine_paths(page):
    found = [f"{page.name}:{n}: {line.strip()}" for n, line in enumerate(page.read_text().splitlines(), 1)
             if MACHINE_PATHS.search(line)]
    assert found == []


@pytest.mark.parametrize("page", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_the_old_preset_name_appears_only_as_the_former_name(page):
    for n, line in enumerate(page.read_text().splitlines(), 1):
        if "seed-92.7" in line:
            assert "former name" in line or "before" in line or "still" in line, f"{page.name}:{n}: {line.strip()}"


# --- the code blocks ------------------------------------------------------------------------

PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", flags=re.S | re.M)


class Block(NamedTuple):
    page: Path
    line: int  # of the block's first line of code
    source: str

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def file_name(self) -> str:
        """A module name per block, so that mypy's messages say which page and line."""
        return re.sub(r"\W", "_", str(self.page.relative_to(ROOT))).lower() + f"_line_{self.line}.py"


def python_blocks() -> list[Block]:
    blocks = []
    for page in DOCS:
        text = page.read_text()
        for match in PYTHON_BLOCK.finditer(text):
            blocks.append(Block(page, text.count("\n", 0, match.start()) + 2, match.group(1)))
    return blocks


BLOCKS = python_blocks()


MYPY_CONFIG = """\
[mypy]
[mypy-onnxruntime,onnxruntime.*]
ignore_missing_imports = True
"""
"""onnxruntime ships no annotations; every other module a block imports must type-check."""


def test_the_pages_have_python_blocks():
    assert {block.page.name for block in BLOCKS} >= {"README.md", "api.md", "data.md"}


@pytest.mark.slow
def test_every_python_block_type_checks(tmp_path):
    pytest.importorskip("mypy", reason="mypy comes with the dev extra: pip install -e '.[dev]'")
    for block in BLOCKS:
        (tmp_path / block.file_name).write_text(block.source)
    (tmp_path / "mypy.ini").write_text(MYPY_CONFIG)
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--config-file", "mypy.ini", "--cache-dir",
         str(tmp_path / "cache"), *[block.file_name for block in BLOCKS]],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert checked.stdout == "" and checked.returncode == 0, checked.stdout + checked.stderr


def imported_modules(source: str) -> set[str]:
    """The top-level modules a block imports."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.fixture(scope="module")
def readers_folder(tmp_path_factory, mnist, small_model) -> Path:
    """What the docs say the reader has, in a folder of its own (each block runs in a copy)."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("reader")
    (folder / "data").mkdir()
    (folder / "data" / "mnist").symlink_to(ROOT / "data" / "mnist")
    (folder / "mnist").symlink_to(ROOT / "data" / "mnist")  # ~/mnist: HOME is this folder
    shutil.copy(small_model, folder / "model.npz")
    digit = 255 - mnist.test.images[0].reshape(28, 28)  # a 7, dark ink on white paper like a photo
    Image.fromarray(np.kron(digit, np.ones((8, 8), np.uint8))).save(folder / "my-digit.jpg")
    Image.fromarray(digit).save(folder / "digit.png")
    if importlib.util.find_spec("onnx") is not None:
        from purenet.apps.export import save_onnx, to_onnx
        from purenet.runs.checkpoint import load as load_checkpoint

        save_onnx(folder / "model.onnx", to_onnx(load_checkpoint(small_model).model))
    write_downloads(folder, mnist.train.take(slice(0, 200)), mnist.test.take(slice(0, 50)))
    return folder


def write_downloads(folder: Path, train, test) -> None:
    """The data sets docs/data.md loads, small: a CSV folder, Kaggle's JPG folders, Keras' npz, a CSV."""
    from PIL import Image

    downloads = folder / "downloads"
    (downloads / "mnist-in-csv").mkdir(parents=True)
    write_csv(downloads / "mnist-in-csv" / "mnist_train.csv", train)
    write_csv(downloads / "mnist-in-csv" / "mnist_test.csv", test)
    write_csv(folder / "digits.csv", train)
    jpgs = downloads / "mnistasjpg"
    for i, (image, label) in enumerate(zip(train.images[:40], train.labels[:40])):
        (jpgs / "trainingSet" / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.reshape(28, 28)).save(jpgs / "trainingSet" / str(label) / f"img_{i}.jpg")
    (jpgs / "testSet").mkdir()
    for i, image in enumerate(test.images[:5]):
        Image.fromarray(image.reshape(28, 28)).save(jpgs / "testSet" / f"img_{i}.jpg")
    np.savez(downloads / "mnist.npz", x_train=train.images.reshape(-1, 28, 28), y_train=train.labels,
             x_test=test.images.reshape(-1, 28, 28), y_test=test.labels)


def write_csv(path: Path, split) -> None:
    rows = np.column_stack([split.labels, split.images]).astype(int)
    header = "label," + ",".join(f"pixel{i}" for i in range(split.images.shape[1]))
    np.savetxt(path, rows, fmt="%d", delimiter=",", header=header, comments="")


@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: block.name)
def test_every_python_block_defines_every_name_it_uses(block):
    """The quick variant of the next test: no NameError waits in any block (mypy says more, when installed)."""
    assert unbound_names(block.source) == set(), f"{block.name} uses names it never defines"


def unbound_names(source: str) -> set[str]:
    """Names a module reads (at its top level or as globals of its functions) that it never binds."""
    module = symtable.symtable(source, "block", "exec")
    bound = {symbol.get_name() for symbol in module.get_symbols() if symbol.is_assigned() or symbol.is_imported()}

    def read(table: symtable.SymbolTable) -> set[str]:
        names = {symbol.get_name() for symbol in table.get_symbols()
                 if symbol.is_referenced() and (table is module or symbol.is_global())}
        return names.union(*(read(child) for child in table.get_children()))

    return read(module) - bound - set(dir(builtins))


@pytest.mark.slow  # 20-30 s for all blocks: a fresh interpreter each, and a few train for an epoch or two
@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: block.name)
def test_every_python_block_runs_on_its_own(block, readers_folder, tmp_path):
    missing = sorted(name for name in imported_modules(block.source) if importlib.util.find_spec(name) is None)
    if missing:
        pytest.skip(f"{block.name} needs {', '.join(missing)}, not installed")
    work = tmp_path / "work"
    shutil.copytree(readers_folder, work, symlinks=True)
    (work / "block.py").write_text(block.source)
    env = {**os.environ, "HOME": str(work), "XDG_STATE_HOME": str(work / "state"), "MPLBACKEND": "Agg"}
    ran = subprocess.run([sys.executable, "block.py"], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, f"{block.name} failed on its own:\n{ran.stderr[-3000:]}"
