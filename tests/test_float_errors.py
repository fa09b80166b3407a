"""The suite runs with floating-point errors raising (set in conftest.py)."""

import numpy as np
import pytest

pytestmark = pytest.mark.core  # the core math: `pytest -m core` runs it alone, in seconds


def test_overflow_raises_in_the_suite():
    with pytest.raises(FloatingPointError):
        np.exp(np.float32(1e4))


def test_invalid_raises_in_the_suite():
    with pytest.raises(FloatingPointError):
        np.log(np.float64(-1.0))
