"""The README's promises: two set-up commands, and a composition example that runs."""

from __future__ import annotations

import re

import numpy as np
from conftest import ROOT

README = (ROOT / "README.md").read_text()


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_setup_section_has_exactly_the_two_commands():
    setup = README.split("## Set up and run")[1].split("\n## ")[0]
    commands = [line for block in re.findall(r"```bash\n(.*?)```", setup, flags=re.S) for line in block.splitlines()]
    assert commands == ['pip install -e ".[dev]" && purenet train', "pytest"]


def test_composition_example_runs_and_learns(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the example loads data/mnist relative to the checkout
    namespace: dict = {}
    for block in code_blocks("python"):
        exec(compile(block, "README.md", "exec"), namespace)
    probs, y = namespace["probs"], namespace["y"]
    assert probs.shape == (128, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    assert (probs.argmax(axis=1) == y).mean() > 0.8
    assert "training-batch accuracy" in capsys.readouterr().out
    assert namespace["state"].step == 1  # the optimizer example ran too
