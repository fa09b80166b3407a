"""Shared test setup: floating-point errors raise, and MNIST is loaded once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
MNIST_DIR = ROOT / "data" / "mnist"
SHARED_MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"


# Hidden overflows, divisions by zero and NaNs fail the suite; underflow to 0 is fine.
np.seterr(over="raise", divide="raise", invalid="raise", under="ignore")


@pytest.fixture(scope="session")
def mnist():
    """The committed MNIST (data/mnist), loaded once per test session."""
    from purenet.data import load

    return load(MNIST_DIR)
