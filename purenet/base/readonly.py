"""``readonly``: the one way a record holds a NumPy array, on the bottom floor.

The data records (``purenet.data.Split``) and the core's records (``purenet.core.records``)
both hold their arrays through it, so reading MNIST needs nothing of the core.
``purenet.core.arrays`` builds the core's array fields on it.
"""

from __future__ import annotations

import numpy as np


def readonly(array: np.ndarray) -> np.ndarray:
    """``array`` itself if it is an ``np.ndarray`` that is already read-only, else a
    read-only view of ``np.asarray(array)`` (no copy of an array; the caller's flags
    are untouched).

    Returning a read-only array as it is spares the training step a view per array
    (see ``purenet.core.arrays.fresh``); nothing can be written through it either way.
    """
    if type(array) is np.ndarray and not array.flags.writeable:
        return array
    view = np.asarray(array).view()
    view.flags.writeable = False
    return view
