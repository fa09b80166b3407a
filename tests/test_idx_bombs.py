"""Gzipped IDX files that expand far beyond their size: refused on their headers, before
any of their data is decompressed into memory (the rule .npz archives follow)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from bombs import gzipped_zeros
from conftest import traced_peak

from purenet.data import load
from purenet.data.splits import DataError


def idx_header(*shape: int) -> bytes:
    return bytes([0, 0, 8, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape)


def folder_with(tmp_path: Path, images: int, labels: int, side: int = 28) -> Path:
    """Four gzipped IDX files: a training part of ``images`` blank images and ``labels`` labels
    (zeros, so a few KB of gzip each), and a real-looking small test part."""
    rng = np.random.default_rng(0)
    test_x, test_y = rng.integers(0, 256, (10, 28, 28), np.uint8), rng.integers(0, 10, 10, np.uint8)
    files = {
        "train-images-idx3-ubyte.gz": gzipped_zeros(idx_header(images, side, side), images * side * side),
        "train-labels-idx1-ubyte.gz": gzipped_zeros(idx_header(labels), labels),
        "t10k-images-idx3-ubyte.gz": gzip.compress(idx_header(10, 28, 28) + test_x.tobytes()),
        "t10k-labels-idx1-ubyte.gz": gzip.compress(idx_header(10) + test_y.tobytes()),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


def peak_of_loading(folder: Path) -> tuple[str, int]:
    """The error loading ``folder`` gives, and the peak of memory allocated meanwhile."""
    refused, peak = traced_peak(lambda: pytest.raises(DataError, load, folder))
    return str(refused.value), peak


@pytest.mark.parametrize("images, labels, side", [(1_000_000, 300, 28), (1, 300, 20_000)], ids=["a-million-images", "one-huge-image"])
def test_counts_that_disagree_are_refused_before_either_file_is_decompressed(tmp_path, images, labels, side):
    error, peak = peak_of_loading(folder_with(tmp_path, images, labels, side))
    assert "train-images-idx3-ubyte.gz" in error and f"has {labels} labels" in error, error
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MiB allocated to refuse it"


def test_a_gzip_declaring_over_200_times_its_size_is_refused_unread(tmp_path):
    error, peak = peak_of_loading(folder_with(tmp_path, 1_000_000, 1_000_000))
    assert "train-images-idx3-ubyte.gz" in error and "decompression bomb" in error, error
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MiB allocated to refuse it"
