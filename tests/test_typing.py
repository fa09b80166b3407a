"""Static checkers see the installed package: mypy resolves ``purenet`` and its types.

The install maps the top-level cli/ folder to ``purenet.cli``; pyproject.toml makes the
editable install link the files (setuptools' strict mode) rather than serve them
through an import hook, which mypy, pyright and IDEs cannot follow. The script is
checked from an empty folder, so only the installed package can be found, never the
checkout's purenet/ folder beside it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # mypy takes seconds per run

mypy = pytest.importorskip("mypy", reason="mypy is not installed; it comes with the dev extra: pip install -e '.[dev]'")

SCRIPT = """\
import numpy as np
from purenet import backward, forward, init, predict_image, sgd

params = init([784, 32, 10], act="relu", rng=np.random.default_rng(0))
x = np.zeros((4, 784), np.float32)
params = sgd(params, backward(params, forward(params, x), np.arange(4)), lr=0.1)
reveal_type(params)
reveal_type(predict_image)
"""

MISTAKE = """\
from purenet import init

steps: int = init([784, 10], act="relu", rng=0)
"""


def check(tmp_path: Path, source: str) -> subprocess.CompletedProcess:
    (tmp_path / "script.py").write_text(source)
    return subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir", str(tmp_path / "cache"),
                           "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)


def test_mypy_resolves_the_installed_package_and_its_types(tmp_path):
    checked = check(tmp_path, SCRIPT)
    assert "Cannot find implementation or library stub" not in checked.stdout
    assert "error" not in checked.stdout, checked.stdout
    revealed = [line.split("Revealed type is ", 1)[1] for line in checked.stdout.splitlines() if "Revealed type" in line]
    assert revealed[0] == '"purenet.core.records.Params"'
    assert "purenet.photo.recognise.DigitPrediction" in revealed[1]


def test_mypy_reports_a_type_error_in_a_script(tmp_path):
    checked = check(tmp_path, MISTAKE)
    assert checked.returncode == 1
    assert len(checked.stdout.splitlines()) == 1, checked.stdout  # the deliberate mistake, and only it
    assert ('script.py:3: error: Incompatible types in assignment (expression has type "Params", variable has type "int")'
            in checked.stdout)


def test_the_package_says_it_is_typed():
    import purenet

    assert (Path(purenet.__file__).parent / "py.typed").is_file()
