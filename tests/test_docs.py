"""The documentation speaks to any user: no path of a particular machine, no folder
outside the repository, no name a newcomer cannot look up."""

from __future__ import annotations

import re
from pathlib import Path

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
