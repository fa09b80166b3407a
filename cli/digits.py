"""Drawing digits (28x28, or any height and width) in a terminal with half-block characters.

Each character cell shows two pixel rows: the upper half block's foreground is
the top pixel, its background the bottom one. Without colour the cell is one of
" ▀▄█" by thresholding, which still reads as a digit in a log file. Where the
output's encoding has no block characters (``LANG=C``, ``PYTHONIOENCODING=ascii``)
the cells are ASCII, `` '.#``, without colour: a digit drawn, never a crash.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from rich.text import Text

from purenet.base.mnist import SHAPE

GAP = "  "
BLOCKS = " ▀▄█"
ASCII = " '.#"
"""A cell by threshold: neither pixel, the top one, the bottom one, both."""


def digit_rows(image: np.ndarray, color: bool, shape: tuple[int, int] = SHAPE, ascii_only: bool = False) -> list[Text]:
    """One digit, flat (H*W,) or (H, W) uint8 -> ceil(H / 2) lines of W cells (MNIST: 14 of 28)."""
    pixels = np.asarray(image, dtype=np.uint8).reshape(shape)
    if len(pixels) % 2:  # an odd height: a blank row below, so every cell has two pixel rows
        pixels = np.vstack([pixels, np.zeros((1, pixels.shape[1]), np.uint8)])
    return [_row(pixels[r], pixels[r + 1], color and not ascii_only, ASCII if ascii_only else BLOCKS)
            for r in range(0, len(pixels), 2)]


def _row(top: np.ndarray, bottom: np.ndarray, color: bool, cells: str) -> Text:
    line = Text()
    for t, b in zip(top.tolist(), bottom.tolist()):
        if color:
            line.append("▀", style=f"rgb({t},{t},{t}) on rgb({b},{b},{b})")
        else:
            line.append(cells[(t >= 128) + 2 * (b >= 128)])
    return line


def digit_grid(images: Sequence[np.ndarray] | np.ndarray, captions: Sequence[str], color: bool, width: int,
               shape: tuple[int, int] = SHAPE, ascii_only: bool = False) -> list[Text]:
    """Digits of ``shape`` side by side, as many per band as ``width`` allows, each captioned below."""
    cell = max(shape[1], 1)
    per_band = max(1, (width + len(GAP)) // (cell + len(GAP)))
    lines: list[Text] = []
    for start in range(0, len(images), per_band):
        band = [digit_rows(image, color, shape, ascii_only) for image in images[start : start + per_band]]
        for r in range(len(band[0])):
            lines.append(Text(GAP).join(rows[r] for rows in band))
        lines.append(Text(GAP).join(Text(c[:cell].ljust(cell)) for c in captions[start : start + per_band]))
    return lines
