"""Corpus cases of the second hostile review (issue 22): gzipped IDX bombs.

A .gz of a few hundred KB whose header promises a million blank images, or one image of
20000x20000 pixels, is refused in one line naming the file, from its headers alone
(tests/test_idx_bombs.py checks the memory this takes).
"""

from __future__ import annotations

from pathlib import Path

from bombs import gzipped_zeros
from corpus_cases import World, case, idx_folder, train


def _header(*shape: int) -> bytes:
    return bytes([0, 0, 8, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape)


def _gz_bomb(images: int, labels: int, side: int = 28):
    def build(w: World, here: Path) -> list[str]:
        idx_folder(w, here / "mnist", raw={
            "train_images": gzipped_zeros(_header(images, side, side), images * side * side),
            "train_labels": gzipped_zeros(_header(labels), labels)})
        return train("mnist")
    return build


case("review2-idx-gz-million-images-300-labels", _gz_bomb(1_000_000, 300), needle="train-images-idx3-ubyte.gz")
case("review2-idx-gz-one-20000x20000-image", _gz_bomb(1, 300, side=20_000), needle="train-images-idx3-ubyte.gz")
case("review2-idx-gz-million-images-and-labels", _gz_bomb(1_000_000, 1_000_000), needle="train-images-idx3-ubyte.gz")
