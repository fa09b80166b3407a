"""Shared test setup: floating-point errors raise, and MNIST is loaded once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
MNIST_DIR = ROOT / "data" / "mnist"
SHARED_MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"


@pytest.fixture(autouse=True)
def _raise_on_float_errors():
    """Hidden overflows, divisions by zero and NaNs fail the test; underflow to 0 is fine."""
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        yield


@pytest.fixture(scope="session")
def mnist():
    """The committed MNIST (data/mnist), loaded once per test session."""
    from purenet.data import load

    return load(MNIST_DIR)
