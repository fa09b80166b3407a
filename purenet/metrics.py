"""Measuring a network on a data split: loss, accuracy, confusion matrix.

    logits(params, images)                  -> (N, K), converting uint8 a chunk at a time
    evaluate(params, split)                 -> (mean loss, accuracy)
    confusion_matrix(labels, predicted, K)  -> (K, K) counts, rows true, columns predicted
    per_class_accuracy(confusion)           -> (K,) recall of each class

Splits hold uint8 images; converting all 60,000 to float32 at once would cost
188 MB, so the conversion and the forward pass happen a chunk of rows at a time:
EVAL_CHUNK rows, or fewer when one chunk's activations would pass EVAL_BUDGET bytes
(a convolution keeps far more numbers per image than a dense layer).
"""

from __future__ import annotations

import numpy as np

from purenet.data import Split, to_float
from purenet.layers import elements_per_sample
from purenet.losses import get_loss
from purenet.network import forward
from purenet.records import Params

EVAL_CHUNK = 10_000
"""Rows converted to float at a time when evaluating, which bounds memory."""

EVAL_BUDGET = 64 * 2**20
"""Bytes of activations (and convolution scratch) one evaluation chunk may take."""


def chunk_rows(params: Params) -> int:
    """Rows per evaluation chunk: EVAL_CHUNK, or fewer to keep within EVAL_BUDGET."""
    per_row = elements_per_sample(params.arch.sizes) * params.dtype.itemsize
    return max(1, min(EVAL_CHUNK, EVAL_BUDGET // per_row))


def logits(params: Params, images: np.ndarray) -> np.ndarray:
    """The network's logits (N, K) for uint8 images (N, pixels)."""
    rows = chunk_rows(params)
    parts = [forward(params, to_float(images[i : i + rows], params.dtype)).logits for i in range(0, len(images), rows)]
    return np.concatenate(parts) if parts else np.zeros((0, params.arch.classes), params.dtype)


def evaluate(params: Params, split: Split) -> tuple[float, float]:
    """Mean loss and accuracy of ``params`` on ``split``."""
    z = logits(params, split.images)
    loss = get_loss(params.arch.loss).value(z, split.labels)
    return loss, float(np.mean(z.argmax(axis=1) == split.labels))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Counts (classes, classes): entry [t, p] is how many of class t were predicted as p."""
    return np.bincount(np.asarray(labels, np.int64) * classes + predicted, minlength=classes * classes).reshape(classes, classes)


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """The fraction of each true class predicted right (NaN for a class with no samples)."""
    totals = confusion.sum(axis=1)
    return np.where(totals > 0, np.diag(confusion) / np.maximum(totals, 1), np.nan)
