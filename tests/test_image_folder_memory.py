"""Reading a class-folder image of 16-bit or float pixels: its size in bytes, not several
float64 copies of it (a 250 KB float TIFF of 39 megapixels cost 1.4 GB to read)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import traced_peak
from PIL import Image

from purenet.data.folders import read_image


def peak_of_reading(path: Path) -> tuple[np.ndarray, int]:
    return traced_peak(lambda: read_image(path))


@pytest.mark.parametrize("mode", ["I;16", "F"])
def test_a_large_16_bit_or_float_image_is_read_a_band_at_a_time(tmp_path, mode):
    side = 4000  # 16 megapixels: float64 copies of it would be 128 MB each
    values = np.zeros((side, side), np.uint16 if mode == "I;16" else np.float32)
    values[1000:3000, 1500:2500] = 65535 if mode == "I;16" else 1.0  # a white bar on black
    path = tmp_path / ("big.png" if mode == "I;16" else "big.tif")
    Image.fromarray(values).save(path, **({} if mode == "I;16" else {"compression": "tiff_deflate"}))
    image, peak = peak_of_reading(path)
    assert peak < 48 * 2**20, f"{peak / 2**20:.0f} MiB of arrays to read it"
    assert image.shape == (28, 28) and image.max() == 255 and image[0, 0] == 0


@pytest.mark.parametrize("mode, values, expected", [
    ("F", [[0.0, 0.5], [1.0, np.nan]], [[0, 128], [255, 0]]),         # all in [0, 1]: times 255, NaN 0
    ("F", [[0.0, 100.0], [300.0, -5.0]], [[0, 100], [255, 0]]),       # else taken as 0-255, clipped
    ("I;16", [[0, 257], [65535, 32896]], [[0, 1], [255, 128]]),       # 16-bit: / 257
    ("I", [[0, 200], [255, 7]], [[0, 200], [255, 7]]),                # 32-bit within 0-255: as it is
    ("I", [[0, 257], [65535, 1000]], [[0, 1], [255, 4]]),             # 32-bit over 255: taken as 16-bit
])
def test_16_bit_and_float_pixels_are_scaled_as_before(tmp_path, mode, values, expected):
    dtype = {"F": np.float32, "I;16": np.uint16, "I": np.int32}[mode]
    path = tmp_path / "small.tif"
    Image.fromarray(np.array(values, dtype)).save(path)
    assert read_image(path, size=(2, 2)).tolist() == expected
