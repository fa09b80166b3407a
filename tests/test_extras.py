"""The hints for a missing optional extra: one form, built by one helper, true in a checkout and installed.

``pip install "purenet[onnx]"`` needs purenet on a package index, ``pip install -e ".[onnx]"``
a checkout's root; ``pip install "onnx>=1.14" "onnxruntime>=1.16"`` works in both. Each
command's own message is checked in its test file (test_export.py, test_serve.py,
test_cli_evaluate.py); here: the helper agrees with pyproject.toml, and no other hint exists.
"""

from __future__ import annotations

import re

import pytest
import tomllib
from conftest import ROOT

from purenet.cli.extras import install_hint, needs_extra

EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
USER_EXTRAS = sorted(name for name in EXTRAS if name != "dev")


@pytest.mark.parametrize("extra", USER_EXTRAS)
def test_the_hint_installs_exactly_the_extras_packages_from_pyproject(extra):
    assert install_hint(extra) == "pip install " + " ".join(f'"{requirement}"' for requirement in EXTRAS[extra])
    assert needs_extra("purenet x", extra) == f"purenet x needs the {extra} extra: {install_hint(extra)}"


def test_no_other_install_hint_is_written_out_in_the_code():
    """Every `pip install` a user is told comes from purenet.cli.extras (PyTorch, never an extra, aside)."""
    library = [path for path in (ROOT / "purenet").rglob("*.py") if path.relative_to(ROOT / "purenet").parts[0] != "cli"]
    sources = [*(ROOT / "cli").glob("*.py"), *library]  # purenet/cli is a link to cli/
    written = [f"{path.relative_to(ROOT)}: {line.strip()}" for path in sources if path.name != "extras.py"
               for line in path.read_text().splitlines()
               if re.search(r"pip install(?! torch)", line)]
    assert written == []


def test_the_docs_give_each_commands_hint_as_it_prints_it():
    text = (ROOT / "docs" / "cli.md").read_text()
    for extra in USER_EXTRAS:
        assert f"`{install_hint(extra)}`" in text, extra
    assert '"purenet[' not in text and '".[plot]"' not in text
