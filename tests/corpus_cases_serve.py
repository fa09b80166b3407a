"""Corpus cases of issue 22's serving part: file mirrors, exports, models that are gone, images too large.

Registered into ``corpus_cases.CASES`` (corpus_cases.py imports every tests/corpus_cases_*.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import MNIST_DIR
from corpus_cases import World, case, idx_folder

MNIST_GZ = sorted(path.name for path in MNIST_DIR.glob("*-ubyte.gz"))


# --- purenet download --mirror file:///folder/ ----------------------------------------------------


def _stick(here: Path, real: bool, w: World | None = None) -> str:
    """A folder of the four .gz files as a file:// URL: MNIST's own, or other IDX files under its names."""
    if real:
        (here / "stick").mkdir()
        for name in MNIST_GZ:
            shutil.copy(MNIST_DIR / name, here / "stick" / name)
    else:
        idx_folder(w, here / "stick")
    return (here / "stick").as_uri() + "/"


def _fetched_whole(here: Path, result, w: World) -> None:
    for name in MNIST_GZ:
        assert (here / "fetched" / name).read_bytes() == (MNIST_DIR / name).read_bytes(), name


case("download-file-mirror", lambda w, here: ["download", "fetched", "--mirror", _stick(here, True)],
     code=0, lines=None, after=_fetched_whole)
def _refused_the_stick(here: Path, result, w: World) -> None:
    progress, error = result.stderr.splitlines()  # the file was read (one progress line), then refused
    assert progress.startswith("downloading ") and error.startswith("purenet: error: ") and "stick" in error
    assert "does not match the MNIST checksum" in error


case("download-file-mirror-wrong-files", lambda w, here: ["download", "fetched", "--mirror", _stick(here, False, w)],
     lines=2, after=_refused_the_stick)
case("download-file-mirror-missing-folder", lambda w, here: ["download", "fetched", "--mirror", (here / "nowhere").as_uri() + "/"],
     needle="nowhere")
