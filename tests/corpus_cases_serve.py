"""Corpus cases of issue 22's serving part: file mirrors, exports, models that are gone, images too large.

Registered into ``corpus_cases.CASES`` (corpus_cases.py imports every tests/corpus_cases_*.py).
"""

from __future__ import annotations

import functools
import shutil
import struct
import zlib
from pathlib import Path

from conftest import MNIST_DIR
from corpus_cases import World, _ck, case, class_folders, idx_folder, train

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
case("download-file-mirror-missing-folder",
     lambda w, here: ["download", "fetched", "--mirror", (here / "nowhere").as_uri() + "/"],
     needle="nowhere")


# --- images that declare more pixels than purenet decodes -------------------------------------------


@functools.cache
def blank_png(width: int, height: int) -> bytes:
    """A valid grey PNG of ``width`` x ``height`` black pixels: every row is there, compressed to
    almost nothing (13000 x 13000: 164 KB, which decoding would make 169 MB, and preparing 2 GB)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer, row = zlib.compressobj(9), bytes(width + 1)  # each row: filter byte 0, then the pixels
    rows = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def _declared(name: str, width: int, height: int):
    def build(w: World, here: Path) -> list[str]:
        (here / name).write_bytes(blank_png(width, height))
        return ["predict", "--model", _ck(w, here), name]
    return build


case("predict-13000x13000-png", _declared("huge.png", 13000, 13000), needle="huge.png: the image is 13000x13000 pixels")
case("predict-just-over-the-pixel-cap", _declared("wide.png", 40_001, 1000), needle="wide.png: the image is 40001x1000 pixels")



def _folder_with_a_huge_image(w: World, here: Path) -> list[str]:
    """Class folders for training, one of whose PNGs declares 13000x13000 pixels."""
    class_folders(w, here / "pics")
    (here / "pics" / "3" / "0.png").write_bytes(blank_png(13000, 13000))
    return train("pics")


case("data-folder-13000x13000-png", _folder_with_a_huge_image, needle="0.png: the image is 13000x13000 pixels")
