"""Drawing 28x28 digits in a terminal with half-block characters.

Each character cell shows two pixel rows: the upper half block's foreground is
the top pixel, its background the bottom one. Without colour the cell is one of
" ▀▄█" by thresholding, which still reads as a digit in a log file.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from rich.text import Text

SIDE = 28
GAP = "  "


def digit_rows(image: np.ndarray, color: bool) -> list[Text]:
    """One digit (784,) or (28, 28) uint8 -> 14 lines of 28 cells."""
    pixels = np.asarray(image, dtype=np.uint8).reshape(SIDE, SIDE)
    return [_row(pixels[r], pixels[r + 1], color) for r in range(0, SIDE, 2)]


def _row(top: np.ndarray, bottom: np.ndarray, color: bool) -> Text:
    line = Text()
    for t, b in zip(top.tolist(), bottom.tolist()):
        if color:
            line.append("▀", style=f"rgb({t},{t},{t}) on rgb({b},{b},{b})")
        else:
            line.append(" ▀▄█"[(t >= 128) + 2 * (b >= 128)])
    return line


def digit_grid(images: Sequence[np.ndarray], captions: Sequence[str], color: bool, width: int) -> list[Text]:
    """Digits side by side, as many per band as ``width`` allows, each captioned below."""
    per_band = max(1, (width + len(GAP)) // (SIDE + len(GAP)))
    lines: list[Text] = []
    for start in range(0, len(images), per_band):
        band = [digit_rows(image, color) for image in images[start : start + per_band]]
        for r in range(SIDE // 2):
            lines.append(Text(GAP).join(rows[r] for rows in band))
        lines.append(Text(GAP).join(Text(c[:SIDE].ljust(SIDE)) for c in captions[start : start + per_band]))
    return lines
